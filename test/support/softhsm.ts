/**
 * A private SoftHSM2 token store for the PKCS#11 tests: a temporary
 * `softhsm2.conf`, tokens initialised with `softhsm2-util`, and RSA keys
 * generated inside the token with OpenSC's `pkcs11-tool` (never extractable).
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHARE_ENV, Worker } from 'node:worker_threads';

/** Where the SoftHSM2 PKCS#11 module is, or why it cannot be used. */
export function findSoftHsm(): { module: string } | { missing: string } {
  for (const tool of ['softhsm2-util', 'pkcs11-tool']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'pipe' });
    } catch {
      return { missing: `${tool} is not installed (apt-get install softhsm2 opensc)` };
    }
  }
  let candidates: string[] = [];
  try {
    // The module belongs to libsofthsm2, a dependency of the softhsm2 package.
    candidates = execFileSync('dpkg', ['-L', 'libsofthsm2'], { stdio: 'pipe' })
      .toString()
      .split('\n')
      .filter((l) => /libsofthsm2\.so$/.test(l));
  } catch {
    candidates = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/local/lib/softhsm/libsofthsm2.so', '/opt/homebrew/lib/softhsm/libsofthsm2.so'];
  }
  const module = candidates.find((c) => existsSync(c));
  return module ? { module } : { missing: 'libsofthsm2.so was not found (apt-get install softhsm2)' };
}

/**
 * Sets a variable in the real process environment. Jest gives each test file
 * a copy of `process.env`; native libraries such as SoftHSM read the real one
 * with getenv(3). A worker thread sharing the environment (`SHARE_ENV`) writes
 * through to it.
 */
export async function setRealEnv(name: string, value: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const w = new Worker(`process.env[${JSON.stringify(name)}] = ${JSON.stringify(value)};`, { eval: true, env: SHARE_ENV });
    w.once('error', reject);
    w.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`env worker exited with ${code}`))));
  });
  process.env[name] = value;
}

/** A SoftHSM2 token store in a temporary directory. */
export class SoftHsmStore {
  readonly dir: string;
  readonly conf: string;

  constructor(readonly module: string) {
    this.dir = mkdtempSync(join(tmpdir(), 'iadvize-softhsm-'));
    this.conf = join(this.dir, 'softhsm2.conf');
    const tokens = join(this.dir, 'tokens');
    mkdirSync(tokens);
    writeFileSync(this.conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  }

  private run(cmd: string, args: string[]): string {
    return execFileSync(cmd, args, { env: { ...process.env, SOFTHSM2_CONF: this.conf }, stdio: 'pipe', timeout: 60_000 }).toString();
  }

  /** Points this process's SoftHSM at the store (before the module is initialised). */
  async activate(): Promise<void> {
    await setRealEnv('SOFTHSM2_CONF', this.conf);
  }

  /** Initialises a token in the next free slot. */
  initToken(label: string, pin: string, soPin: string): void {
    this.run('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin]);
  }

  private tool(label: string, pin: string, ...args: string[]): string {
    return this.run('pkcs11-tool', ['--module', this.module, '--token-label', label, '--login', '--pin', pin, ...args]);
  }

  /** Generates an RSA key pair inside the token. */
  generateRsaKey(token: string, pin: string, id: string, keyLabel: string, bits = 2048): void {
    this.tool(token, pin, '--keypairgen', '--key-type', `rsa:${bits}`, '--id', id, '--label', keyLabel);
  }

  /** Changes the CKA_ID of the public key object `id` (to pair objects that do not belong together). */
  setPublicKeyId(token: string, pin: string, id: string, newId: string): void {
    this.tool(token, pin, '--type', 'pubkey', '--id', id, '--set-id', newId);
  }

  /** Reads a public key object with pkcs11-tool (independently of the provider). */
  readPublicKey(token: string, pin: string, id: string): KeyObject {
    const out = join(this.dir, `pub-${id}.der`);
    this.tool(token, pin, '--read-object', '--type', 'pubkey', '--id', id, '--output-file', out);
    return createPublicKey({ key: readFileSync(out), format: 'der', type: 'spki' });
  }

  /** `pkcs11-tool --list-objects` output. */
  listObjects(token: string, pin: string): string {
    return this.tool(token, pin, '--list-objects');
  }

  /** Removes the store. */
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
