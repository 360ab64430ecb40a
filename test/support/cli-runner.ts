import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built binary (`npm run build` first; `npm test` does it). */
export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** What a run of the binary produced. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout + stderr, for "never prints X" assertions. */
  all: string;
}

/** Fails the suite early, with the fix, when the binary has not been built. */
export function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" before these tests (npm test does it)`);
}

/**
 * Runs `node dist/cli/main.js ...args` (or `options.bin`, e.g. a copy installed
 * under a temporary node_modules) in a child process with a clean
 * environment: only PATH plus `env`, so the developer's own IADVIZE_*
 * variables (or jest's NODE_OPTIONS) never leak in.
 */
export function runCli(args: string[], options: { env?: Record<string, string>; cwd?: string; input?: string; bin?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.bin ?? CLI, ...args], {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, all: stdout + stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Runs openssl; resolves to its exit status and output. */
export function openssl(args: string[], env: Record<string, string> = {}): { status: number | null; output: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env } });
  if (r.error) throw new Error(`openssl is needed by this test and could not run: ${r.error.message}`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** A PEM private key block, in any of its forms. */
export const PRIVATE_PEM = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
