import { spawn, type ChildProcess } from 'node:child_process';

/** A server started as a child Node process that prints one JSON line `{ "url": ... }` when ready. */
export interface ChildApp {
  url: string;
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** Starts `node <script> ...args` and waits for its ready line (or fails with its output). */
export function startChildApp(script: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<ChildApp> {
  const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, NODE_OPTIONS: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { void stop(); reject(new Error(`child app did not start in ${timeoutMs} ms:\n${out}`)); }, timeoutMs);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`child app exited with ${code}:\n${out}`)); });
    child.stdout!.on('data', () => {
      const line = out.split('\n').find((l) => l.startsWith('{"url"'));
      if (line) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ url: JSON.parse(line).url, child, output: () => out, stop });
      }
    });
  });
}
