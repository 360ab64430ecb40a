/**
 * The short soak: runs bench/soak.mjs (the endpoint in a child process,
 * autocannon on loopback) with small numbers and checks its JSON summary, on
 * both adapters; then shows the memory bound is enforced by making it
 * impossible to meet. Needs the built package (`npm run build`).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describeLeaks, scanText } from '../support/leak-scanner.js';

const SOAK = fileURLToPath(new URL('../../bench/soak.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/testing/index.js', import.meta.url));

interface SoakSummary {
  ok: boolean;
  adapter: string;
  requests: number;
  connections: number;
  distinctUsers: number;
  completed: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  badBodies: number;
  statusCodes: Record<string, number>;
  samples: { every: number; taken: number; openedToOwnUser: number };
  memory: { rssGrowthMb: number; heapGrowthMb: number; bounds: { rssGrowthMb: number; heapGrowthMb: number } };
  serverOutputLeaks: string[];
  failures: string[];
}

function runSoak(args: string[]): Promise<{ code: number | null; summary: SoakSummary; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SOAK, ...args], { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve({ code, summary: JSON.parse(line) as SoakSummary, stdout, stderr });
      } catch {
        reject(new Error(`soak printed no JSON summary (exit ${code}):\n${stdout}\n${stderr}`));
      }
    });
  });
}

beforeAll(() => {
  if (!existsSync(DIST)) throw new Error('dist/ is missing: run `npm run build` before this spec (npm test does)');
});

describe('bench/soak.mjs, short run', () => {
  it.each(['fastify', 'express'])('2,000 requests on %s over 16 users: no error, every sampled token opens to its own user, bounded memory', async (adapter) => {
    const { code, summary, stdout, stderr } = await runSoak(['--requests', '2000', '--connections', '16', '--sample-every', '50', '--adapter', adapter, '--max-seconds', '90']);
    expect(summary.failures).toEqual([]);
    expect(summary.ok).toBe(true);
    expect(code).toBe(0);
    expect(summary.adapter).toBe(adapter);
    expect(summary.completed).toBeGreaterThanOrEqual(2000);
    expect(summary.distinctUsers).toBe(16);
    expect([summary.errors, summary.timeouts, summary.non2xx, summary.badBodies]).toEqual([0, 0, 0, 0]);
    expect(Object.keys(summary.statusCodes)).toEqual(['200']);
    expect(summary.samples.taken).toBe(40);
    expect(summary.samples.openedToOwnUser).toBe(40);
    expect(summary.memory.rssGrowthMb).toBeLessThanOrEqual(summary.memory.bounds.rssGrowthMb);
    expect(summary.memory.heapGrowthMb).toBeLessThanOrEqual(summary.memory.bounds.heapGrowthMb);
    expect(summary.serverOutputLeaks).toEqual([]);
    // The soak's own output carries no key and no token either.
    expect(describeLeaks(scanText('soak output', stdout + stderr))).toBe('');
  });

  it('fails (exit 1, ok: false) when a bound cannot be met: the memory check is real', async () => {
    const { code, summary } = await runSoak(['--requests', '500', '--connections', '8', '--sample-every', '100', '--max-rss-growth-mb', '-1000', '--max-heap-growth-mb', '-1000', '--max-seconds', '90']);
    expect(code).toBe(1);
    expect(summary.ok).toBe(false);
    expect(summary.failures.some((f) => f.startsWith('RSS grew'))).toBe(true);
    expect(summary.failures.some((f) => f.startsWith('heap grew'))).toBe(true);
    expect(summary.errors).toBe(0);
  });

  it('refuses bad arguments with a usage message', async () => {
    const child = spawn(process.execPath, [SOAK, '--requests', 'many'], { env: { ...process.env, NODE_OPTIONS: '' } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(2);
    expect(stderr).toContain('--requests needs a number');
  });
});
