/**
 * The Redis deployments users run, each on REAL redis-server processes on
 * free loopback ports (no persistence): a 3-master Cluster, a master watched
 * by a Sentinel, a TLS-only server (CA and server certificate generated now
 * with the `openssl` CLI, in a temporary folder) and plain servers. Every
 * process and folder belongs to one {@link RedisDeployments}; `stopAll()`
 * (call it in `afterAll`) kills and removes them, also after a failed start.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './redis-server.js';

const run = promisify(execFile);

/** Longest wait for a process or a cluster to come up, in ms (a loaded CI machine is slow, never this slow). */
const START_DEADLINE_MS = 30_000;

/** No RDB, no AOF: nothing is written but cluster node files and sentinel configs, in the group's folder. */
const NO_PERSISTENCE = ['--save', '', '--appendonly', 'no'];

/** Every process any group started and has not seen exit: killed if the test process exits first. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `count` distinct free TCP ports on 127.0.0.1 (all held open at once while they are picked). */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/** A TLS-only server and the CA that signed its certificate (PEM). */
export interface TlsRedis {
  port: number;
  ca: string;
}

/** A group of redis-server processes (and their temporary folders), stopped together. */
export class RedisDeployments {
  private readonly children = new Set<ChildProcess>();
  private readonly dirs: string[] = [];

  /** A new temporary folder, removed by {@link stopAll}. */
  tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'redis-deployments-'));
    this.dirs.push(dir);
    return dir;
  }

  /**
   * Spawns `redis-server args` (stdio piped) and waits until its log matches `ready`,
   * bounded; a process that exits or stays silent is killed and the start rejects.
   */
  async spawn(args: string[], ready: RegExp = /Ready to accept connections/): Promise<ChildProcess> {
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    running.add(child);
    child.once('exit', () => {
      this.children.delete(child);
      running.delete(child);
    });
    let out = '';
    const onData = (d: Buffer) => {
      out = (out + d.toString()).slice(-4000);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`redis-server did not start within ${START_DEADLINE_MS} ms: ${out.slice(-500)}`)), START_DEADLINE_MS);
        const check = () => {
          if (ready.test(out)) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout?.on('data', check);
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`redis-server exited with ${code} before it was ready: ${out.slice(-500)}`));
        });
        child.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        check();
      });
    } catch (e) {
      child.kill('SIGKILL');
      throw e;
    }
    return child;
  }

  /** A plain server on a free port; returns its port. */
  async startServer(extra: string[] = []): Promise<number> {
    const port = await freePort();
    await this.spawn(['--port', String(port), '--bind', '127.0.0.1', ...NO_PERSISTENCE, ...extra]);
    return port;
  }

  /**
   * A Redis Cluster of `masters` masters and no replicas, created with
   * `redis-cli --cluster create`; resolves once every node reports
   * `cluster_state:ok` and knows every other node. Returns the masters' ports.
   */
  async startCluster(masters = 3): Promise<number[]> {
    const dir = this.tempDir();
    // The bus port defaults to port + 10000, which may be taken or past 65535: pick free ones too.
    const free = await freePorts(2 * masters);
    const ports = free.slice(0, masters);
    for (const [i, port] of ports.entries()) {
      const busPort = free[masters + i];
      await this.spawn([
        '--port', String(port), '--bind', '127.0.0.1', ...NO_PERSISTENCE, '--dir', dir,
        '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-port', String(busPort),
      ]);
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: START_DEADLINE_MS });
    const deadline = Date.now() + START_DEADLINE_MS;
    for (const port of ports) {
      for (;;) {
        const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'cluster', 'info'], { timeout: 5000 });
        if (stdout.includes('cluster_state:ok') && stdout.includes(`cluster_known_nodes:${masters}`) && stdout.includes('cluster_slots_ok:16384')) break;
        if (Date.now() > deadline) throw new Error(`the cluster never reached cluster_state:ok on port ${port} within ${START_DEADLINE_MS} ms: ${stdout}`);
        await sleep(100);
      }
    }
    return ports;
  }

  /**
   * A Sentinel watching the master on `masterPort` as `name` (quorum 1);
   * resolves once it names that master. Returns the Sentinel's port.
   */
  async startSentinel(masterPort: number, name = 'mymaster'): Promise<number> {
    const dir = this.tempDir();
    const port = await freePort();
    const config = join(dir, 'sentinel.conf');
    writeFileSync(config, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`, 'sentinel resolve-hostnames no', ''].join('\n'));
    await this.spawn([config, '--sentinel'], new RegExp(`\\+monitor master ${name} 127\\.0\\.0\\.1 ${masterPort}`));
    const deadline = Date.now() + START_DEADLINE_MS;
    for (;;) {
      const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'sentinel', 'get-master-addr-by-name', name], { timeout: 5000 });
      if (stdout.split('\n').includes(String(masterPort))) return port;
      if (Date.now() > deadline) throw new Error(`the sentinel never named its master within ${START_DEADLINE_MS} ms: ${stdout}`);
      await sleep(100);
    }
  }

  /**
   * A TLS-only server (`--port 0`, clients need no certificate) whose certificate,
   * for 127.0.0.1 and localhost, is signed by a CA made now; returns its port and the CA.
   */
  async startTls(): Promise<TlsRedis> {
    const dir = this.tempDir();
    const f = (name: string) => join(dir, name);
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await run('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=nestjs-iadvize-auth test CA']);
    await run('openssl', ['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
    writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
    await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('server.ext')]);
    const port = await freePort();
    await this.spawn([
      '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', ...NO_PERSISTENCE, '--dir', dir,
      '--tls-cert-file', f('server.crt'), '--tls-key-file', f('server.key'), '--tls-ca-cert-file', f('ca.crt'), '--tls-auth-clients', 'no',
    ]);
    return { port, ca: readFileSync(f('ca.crt'), 'utf8') };
  }

  /** Kills every process of the group (SIGKILL), waits for them to exit, removes the folders. */
  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.children].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    this.children.clear();
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}
