import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root, where `bench/` lives. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Generous: a quick bench run takes about a minute on a quiet 2-core machine; never a timing assertion. */
export const BENCH_RUN_TIMEOUT_MS = 170_000;

/** What a bench script printed and how it ended. */
export interface BenchRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node <script> ...args` from the repository root, without Jest's
 * NODE_OPTIONS (`--experimental-vm-modules` stays away from the benchmark), and
 * collects its output; the process is killed after {@link BENCH_RUN_TIMEOUT_MS}.
 */
export function runBenchScript(script: string, args: string[]): Promise<BenchRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-20_000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), BENCH_RUN_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
