/**
 * A real `redis-server` for the fleet tests: started on a free loopback port
 * with no persistence, stopped and restarted on the same port to play an
 * outage. Under CI (`CI` set) a missing redis-server fails the suite; locally
 * it is skipped (the pattern of test/support/softhsm.ts).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** The redis-server binary, or why it cannot be used. */
export function findRedisServer(): { bin: string; version: string } | { missing: string } {
  try {
    const out = execFileSync('redis-server', ['--version'], { stdio: 'pipe' }).toString();
    return { bin: 'redis-server', version: /v=(\S+)/.exec(out)?.[1] ?? 'unknown' };
  } catch {
    return { missing: 'redis-server is not installed (apt-get install redis-server)' };
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** One redis-server process on 127.0.0.1, no RDB, no AOF. */
export class RedisServer {
  private child?: ChildProcess;

  private constructor(readonly port: number) {}

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts a server on a free port. */
  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.restart();
    return server;
  }

  /** (Re)starts the server on its port and waits until it accepts connections. */
  async restart(): Promise<void> {
    if (this.child) throw new Error('redis-server is already running');
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (d: Buffer) => {
        out = (out + d.toString()).slice(-4000);
        if (out.includes('Ready to accept connections')) {
          child.stdout?.off('data', onData);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code} before it was ready: ${out.slice(-500)}`)));
      child.once('error', reject);
    });
    child.stdout?.resume();
    child.stderr?.resume();
  }

  /** Stops the server (SIGKILL: an abrupt outage) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}

/**
 * `describe` for a spec that needs redis-server: without the binary, under CI
 * one test fails and says why; locally the suite is skipped.
 */
export function describeWithRedis(title: string, body: () => void): void {
  const found = findRedisServer();
  if ('missing' in found) {
    (process.env.CI ? describe : describe.skip)(`${title} (${found.missing})`, () => {
      it('needs redis-server in CI', () => {
        throw new Error(`${found.missing}; .ci/run installs it`);
      });
    });
    return;
  }
  describe(title, body);
}
