/**
 * The signing threads of the local key providers (lib/keys/signing-thread.pool.ts):
 * correct signatures from a pool shared by several keys, recovery from a dead
 * thread, and a clean stop. RFC 7515/7520 byte-exact vectors run through the
 * same path in test/vectors/rfc7515.spec.ts (the default `signingThreads`).
 */
import { spawn } from 'node:child_process';
import { verify as cryptoVerify } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { IAdvizeErrorCode, SigningUnavailableError } from '../../lib/errors.js';
import { PemKeyProvider } from '../../lib/keys/local-key.provider.js';
import { SigningPool } from '../../lib/keys/signing-thread.pool.js';
import { rsaKeyPair, type TestKeyPair } from '../support/keys.js';

let alice: TestKeyPair;
let bob: TestKeyPair;

beforeAll(async () => {
  [alice, bob] = await Promise.all([rsaKeyPair('alice'), rsaKeyPair('bob')]);
});

const inputs = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`${prefix}.${i}.${'x'.repeat(i)}`));

describe('signing threads', () => {
  it('two providers sharing the threads each sign with their own key (every signature verifies, none with the other key)', async () => {
    const a = new PemKeyProvider({ pem: alice.privatePem, signingThreads: 2 });
    const b = new PemKeyProvider({ pem: bob.privatePem, signingThreads: 2 });
    await Promise.all([a.init(), b.init()]);
    try {
      const ia = inputs('a', 40);
      const ib = inputs('b', 40);
      const [sa, sb] = await Promise.all([Promise.all(ia.map((x) => a.sign(x))), Promise.all(ib.map((x) => b.sign(x)))]);
      expect(SigningPool.shared(2).workers()).toHaveLength(2);
      ia.forEach((x, i) => {
        expect(cryptoVerify('sha256', x, alice.publicKey, sa[i])).toBe(true);
        expect(cryptoVerify('sha256', x, bob.publicKey, sa[i])).toBe(false);
      });
      ib.forEach((x, i) => expect(cryptoVerify('sha256', x, bob.publicKey, sb[i])).toBe(true));
      // Closing one provider leaves the other signing on the same threads.
      await a.close();
      expect(SigningPool.shared(2).workers()).toHaveLength(2);
      expect(cryptoVerify('sha256', ib[0], bob.publicKey, await b.sign(ib[0]))).toBe(true);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    // The last key gone, the threads are stopped.
    expect(SigningPool.shared(2).workers()).toHaveLength(0);
  });

  it('signatures are byte-identical to crypto.sign on libuv\'s pool (signingThreads: 0)', async () => {
    const pooled = new PemKeyProvider({ pem: alice.privatePem, signingThreads: 1 });
    const libuv = new PemKeyProvider({ pem: alice.privatePem, signingThreads: 0 });
    try {
      for (const x of inputs('same', 5)) expect(Buffer.from(await pooled.sign(x)).equals(Buffer.from(await libuv.sign(x)))).toBe(true);
      expect(pooled.signingThreads).toBe(1);
      expect(libuv.signingThreads).toBe(0);
    } finally {
      await pooled.close();
    }
  });

  it('a thread answers a long queue as it goes, not all of it at the end (the main thread keeps encrypting while it signs)', async () => {
    // 4096-bit signatures take milliseconds each on any machine, well past the thread's ~1 ms answer cadence.
    const big = await rsaKeyPair('slow', 4096);
    const pool = new SigningPool(1);
    const keyId = pool.addKey(big.privateKey);
    try {
      await pool.ready();
      const [worker] = pool.workers();
      let answers = 0;
      worker.on('message', () => answers++);
      const order: number[] = [];
      const jobs = inputs('q', 6);
      // Queued in one microtask: the thread receives all six in one message.
      const signatures = await Promise.all(jobs.map((x, i) => pool.sign(keyId, x, 'test key').then((s) => (order.push(i), s))));
      jobs.forEach((x, i) => expect(cryptoVerify('sha256', x, big.publicKey, signatures[i])).toBe(true));
      expect(answers).toBeGreaterThanOrEqual(3);
      expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    } finally {
      await pool.removeKey(keyId);
    }
  });

  it('a thread that dies rejects the signatures it owed as SigningUnavailableError; the next signature starts a new thread', async () => {
    const provider = new PemKeyProvider({ pem: alice.privatePem, signingThreads: 1 });
    await provider.init();
    try {
      const pool = SigningPool.shared(1);
      const [worker] = pool.workers();
      expect(worker).toBeDefined();
      const owed = inputs('owed', 20).map((x) => provider.sign(x));
      void worker.terminate(); // dies with all 20 jobs owed (they are posted after this call)
      const results = await Promise.allSettled(owed);
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(rejected.length).toBeGreaterThan(0);
      for (const r of rejected) {
        expect(r.reason).toBeInstanceOf(SigningUnavailableError);
        expect((r.reason as SigningUnavailableError).code).toBe(IAdvizeErrorCode.SigningUnavailable);
        expect((r.reason as Error).message).toMatch(/^inline pem: a signing thread stopped/);
      }
      const x = Buffer.from('after the crash');
      expect(cryptoVerify('sha256', x, alice.publicKey, await provider.sign(x))).toBe(true);
      expect(pool.workers()).toHaveLength(1);
      expect(pool.workers()[0]).not.toBe(worker);
    } finally {
      await provider.close();
    }
  });

  it('closing settles what it still owed (a signature or SigningUnavailableError), stops the threads, and the provider signs again when asked', async () => {
    const provider = new PemKeyProvider({ pem: bob.privatePem, signingThreads: 1 });
    await provider.init();
    const owed = provider.sign(Buffer.from('owed'));
    await provider.close();
    const [settled] = await Promise.allSettled([owed]);
    if (settled.status === 'rejected') expect(settled.reason).toBeInstanceOf(SigningUnavailableError);
    else expect(cryptoVerify('sha256', Buffer.from('owed'), bob.publicKey, settled.value)).toBe(true);
    expect(SigningPool.shared(1).workers()).toHaveLength(0);
    const x = Buffer.from('again');
    try {
      expect(cryptoVerify('sha256', x, bob.publicKey, await provider.sign(x))).toBe(true);
    } finally {
      await provider.close();
    }
  });
});

describe('idle signing threads never keep a process alive', () => {
  it('a script that signs and never closes its provider exits by itself', async () => {
    const dist = new URL('../../dist/index.js', import.meta.url).href;
    const script = `
      import { generateKeyPairSync, verify } from 'node:crypto';
      const { PemKeyProvider } = await import(${JSON.stringify(dist)});
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const provider = new PemKeyProvider({ pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
      await provider.init();
      const sig = await provider.sign(Buffer.from('x'));
      console.log(verify('sha256', Buffer.from('x'), publicKey, sig) ? 'signed' : 'bad');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    // Generous bound, only so a hanging child fails the test instead of the suite.
    const kill = setTimeout(() => child.kill('SIGKILL'), 25_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    clearTimeout(kill);
    expect({ code, signal, out: out.trim() }).toEqual({ code: 0, signal: null, out: 'signed' });
  }, 30_000);
});
