/**
 * Pkcs11KeyProvider against a REAL SoftHSM2 token created by the test, with
 * RSA keys generated inside the token (never extractable).
 *
 * Needs `softhsm2` and `opensc` (apt-get install softhsm2 opensc). Without
 * them the suite fails when `CI` is set, and is skipped otherwise.
 */
import { verify as cryptoVerify } from 'node:crypto';
import { IAdvizeAuthError, InvalidKeyError, SigningUnavailableError } from '../../lib/index.js';
import { Pkcs11KeyProvider, type Pkcs11KeyProviderOptions } from '../../lib/kms/pkcs11.js';
import { describeKeyProviderConformance } from '../support/kms-conformance.js';
import { expectStartupHidesKey, expectStartupHidesSecret, pastedCredentials, pastedPrivateKeyPem } from '../support/pasted-key.js';
import { DEFAULT_SIGNING_TIMEOUT_MS, worstCaseMs } from '../support/retry-budget.js';
import type { RetryPolicy } from '../../lib/kms/remote-key.provider.js';
import { findSoftHsm, SoftHsmStore } from '../support/softhsm.js';

const TOKEN = 'iadvize-test';
const PIN = 'hsm-pin-7f3a9c21';
const SO_PIN = 'so-pin-5d8e44';
const PIN_ENV = 'IADVIZE_TEST_HSM_PIN';
const found = findSoftHsm();

if ('missing' in found) {
  if (process.env.CI) {
    describe('Pkcs11KeyProvider (SoftHSM2)', () => {
      it('needs SoftHSM2 and OpenSC in CI', () => {
        throw new Error(`${found.missing}; .ci/run installs softhsm2 and opensc`);
      });
    });
  } else {
    describe.skip(`Pkcs11KeyProvider (SoftHSM2): skipped, ${found.missing}`, () => {
      it('signs with a token key', () => undefined);
    });
  }
} else {
  const store = new SoftHsmStore(found.module);

  beforeAll(async () => {
    process.env[PIN_ENV] = PIN;
    store.initToken(TOKEN, PIN, SO_PIN);
    store.initToken('other-token', PIN, SO_PIN);
    store.generateRsaKey(TOKEN, PIN, '01', 'jwt-key');
    // 02's public key object is replaced by 03's: a pair that does not match.
    store.generateRsaKey(TOKEN, PIN, '02', 'mismatched');
    store.generateRsaKey(TOKEN, PIN, '03', 'no-public-object');
    store.setPublicKeyId(TOKEN, PIN, '02', 'f2');
    store.setPublicKeyId(TOKEN, PIN, '03', '02');
    store.generateRsaKey(TOKEN, PIN, '04', 'too-small', 1024);
    store.generateRsaKey(TOKEN, PIN, '05', 'twin');
    store.generateRsaKey(TOKEN, PIN, '06', 'twin');
    await store.activate();
  }, 120_000);

  afterAll(() => {
    store.cleanup();
  });

  const provider = (overrides: Partial<Pkcs11KeyProviderOptions> = {}) =>
    new Pkcs11KeyProvider({ module: found.module, tokenLabel: TOKEN, keyId: '01', pinEnv: PIN_ENV, backoffBaseMs: 5, ...overrides });

  describeKeyProviderConformance('Pkcs11KeyProvider (SoftHSM2)', () => ({
    provider: () => provider(),
    refused: () => provider({ pinEnv: undefined, pin: 'wrong-pin-0c9b8a' }),
    secrets: [PIN, SO_PIN, 'wrong-pin-0c9b8a'],
    backendPublicKey: () => store.readPublicKey(TOKEN, PIN, '01'),
    mismatches: [{ label: 'public key object of another key pair', provider: () => provider({ keyId: '02' }) }],
  }));

  describe('Pkcs11KeyProvider (SoftHSM2)', () => {
    it('uses a key generated inside the token, which the token marks never extractable', () => {
      const listing = store.listObjects(TOKEN, PIN);
      const privateKey01 = listing.split(/\n(?=\S)/).find((block) => block.startsWith('Private Key Object') && /ID:\s+01\b/.test(block));
      expect(privateKey01).toMatch(/never extractable/);
      expect(privateKey01).toMatch(/sensitive/);
    });

    it('finds the key by label, by id and label, or from the private key when no public key object exists', async () => {
      const input = Buffer.from('lookup');
      const byLabel = provider({ keyId: undefined, keyLabel: 'jwt-key' });
      const both = provider({ keyLabel: 'jwt-key' });
      const noPublic = provider({ keyId: '03' });
      try {
        for (const p of [byLabel, both]) {
          expect(cryptoVerify('sha256', input, store.readPublicKey(TOKEN, PIN, '01'), await p.sign(input))).toBe(true);
        }
        const sig = await noPublic.sign(input);
        expect(cryptoVerify('sha256', input, await noPublic.getPublicKey(), sig)).toBe(true);
      } finally {
        await Promise.all([byLabel.close(), both.close(), noPublic.close()]);
      }
    });

    it('CKM_RSA_PKCS over a local DigestInfo gives the same signature as CKM_SHA256_RSA_PKCS', async () => {
      const a = provider();
      const b = provider({ mechanism: 'CKM_RSA_PKCS' });
      try {
        const input = Buffer.alloc(6000, 'z');
        const [sa, sb] = await Promise.all([a.sign(input), b.sign(input)]);
        expect(Buffer.from(sa).equals(Buffer.from(sb))).toBe(true);
        expect(cryptoVerify('sha256', input, await a.getPublicKey(), sa)).toBe(true);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('never opens more sessions than configured, whatever the concurrency', async () => {
      const p = provider({ sessions: 3 });
      try {
        await p.init();
        const pub = await p.getPublicKey();
        const inputs = Array.from({ length: 64 }, (_, i) => Buffer.from(`input-${i}`));
        let maxOpen = 0;
        const sigs = await Promise.all(
          inputs.map(async (input) => {
            const sig = await p.sign(input);
            maxOpen = Math.max(maxOpen, p.openSessions);
            return sig;
          }),
        );
        sigs.forEach((sig, i) => expect(cryptoVerify('sha256', inputs[i], pub, sig)).toBe(true));
        expect(maxOpen).toBeLessThanOrEqual(3);
        expect(p.openSessions).toBeLessThanOrEqual(3);
      } finally {
        await p.close();
      }
    });

    it('opens every session at startup, so signing never calls C_OpenSession; a broken session is reopened lazily', async () => {
      const p = provider({ sessions: 3, maxAttempts: 3 });
      const internals = p as unknown as {
        lib: { p11: { C_OpenSession: (...a: unknown[]) => Buffer; C_CloseSession: (s: Buffer) => void; C_Login: (...a: unknown[]) => void } };
        pool: { idle: Buffer[] };
      };
      let opened = 0;
      let logins = 0;
      let real: ((...a: unknown[]) => Buffer) | undefined;
      let realLogin: ((...a: unknown[]) => void) | undefined;
      try {
        await p.init();
        expect(p.openSessions).toBe(3);
        const p11 = internals.lib.p11;
        real = p11.C_OpenSession;
        const original = real;
        p11.C_OpenSession = (...a: unknown[]) => {
          opened++;
          return original.call(p11, ...a);
        };
        realLogin = p11.C_Login;
        const originalLogin = realLogin;
        p11.C_Login = (...a: unknown[]) => {
          logins++;
          return originalLogin.call(p11, ...a);
        };
        const pub = await p.getPublicKey();
        const inputs = Array.from({ length: 32 }, (_, i) => Buffer.from(`no-open-${i}`));
        const sigs = await Promise.all(inputs.map((input) => p.sign(input)));
        sigs.forEach((sig, i) => expect(cryptoVerify('sha256', inputs[i], pub, sig)).toBe(true));
        expect(opened).toBe(0);
        expect(p.openSessions).toBe(3);
        // The next session handed out is closed behind the pool's back: that attempt fails, is retried on another session.
        p11.C_CloseSession(internals.pool.idle[internals.pool.idle.length - 1]);
        const input = Buffer.from('after a broken session');
        expect(cryptoVerify('sha256', input, pub, await p.sign(input))).toBe(true);
        expect(opened).toBe(0); // the broken session is closed, not replaced on the spot
        expect(p.openSessions).toBe(2);
        const burst = await Promise.all(inputs.slice(0, 8).map((i) => p.sign(i)));
        burst.forEach((sig, i) => expect(cryptoVerify('sha256', inputs[i], pub, sig)).toBe(true));
        expect(opened).toBe(1); // replaced lazily, once a request needed a third session
        expect(logins).toBe(0); // the process is still logged in: no needless C_Login
        expect(p.openSessions).toBe(3);
      } finally {
        if (real) internals.lib.p11.C_OpenSession = real;
        if (realLogin) internals.lib.p11.C_Login = realLogin;
        await p.close();
      }
    });

    it('recovers on the first request when every session died at once (a token reset), without waiting for more attempts', async () => {
      const p = provider({ sessions: 3, maxAttempts: 2 });
      const internals = p as unknown as { lib: { p11: { C_CloseSession: (s: Buffer) => void } }; pool: { idle: Buffer[] } };
      try {
        await p.init();
        for (const s of [...internals.pool.idle]) internals.lib.p11.C_CloseSession(s);
        const input = Buffer.from('after a token reset');
        expect(cryptoVerify('sha256', input, await p.getPublicKey(), await p.sign(input))).toBe(true);
        expect(p.openSessions).toBe(1); // the dead ones were dropped; one fresh session, logged in again
      } finally {
        await p.close();
      }
    });

    it('reopens and logs in again when the token closed its only session (which logs the process out)', async () => {
      const p = provider({ sessions: 1 });
      const internals = p as unknown as { lib: { p11: { C_CloseSession: (s: Buffer) => void } }; pool: { idle: Buffer[] } };
      try {
        await p.init();
        internals.lib.p11.C_CloseSession(internals.pool.idle[0]);
        const input = Buffer.from('after the logout');
        expect(cryptoVerify('sha256', input, await p.getPublicKey(), await p.sign(input))).toBe(true);
        expect(p.openSessions).toBe(1);
      } finally {
        await p.close();
      }
    });

    it('gives up waiting for a session in beforeRetry when the caller\'s signal aborts', async () => {
      const p = provider({ sessions: 1 });
      await p.init();
      const internals = p as unknown as {
        pool: { acquire(signal?: AbortSignal): Promise<Buffer>; release(s: Buffer): void };
        beforeRetry(failure: { kind: 'unavailable'; detail: string }, signal?: AbortSignal): Promise<void>;
      };
      const held = await internals.pool.acquire(); // every session busy
      try {
        const controller = new AbortController();
        setTimeout(() => controller.abort(new Error('signing deadline')), 100);
        const started = Date.now();
        const outcome = await Promise.race([
          internals.beforeRetry({ kind: 'unavailable', detail: 'CKR_KEY_HANDLE_INVALID' }, controller.signal).then(
            () => 'found the key',
            () => 'gave up',
          ),
          new Promise((r) => setTimeout(() => r('still waiting'), 2000)),
        ]);
        expect(outcome).toBe('gave up');
        expect(Date.now() - started).toBeLessThan(1000);
      } finally {
        internals.pool.release(held);
      }
      const input = Buffer.from('still usable');
      expect(cryptoVerify('sha256', input, await p.getPublicKey(), await p.sign(input))).toBe(true);
      await p.close();
    });

    it('turns a queue longer than the per-call timeout into SigningUnavailableError, and stays usable', async () => {
      const p = provider({ sessions: 1, timeoutMs: 10, maxAttempts: 1 });
      try {
        await p.init();
        const pub = await p.getPublicKey();
        const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => p.sign(Buffer.from(`q-${i}`))));
        const failures = results.filter((r) => r.status === 'rejected');
        expect(failures.length).toBeGreaterThan(0);
        for (const f of failures) expect((f as PromiseRejectedResult).reason).toBeInstanceOf(SigningUnavailableError);
        results.forEach((r, i) => {
          if (r.status === 'fulfilled') expect(cryptoVerify('sha256', Buffer.from(`q-${i}`), pub, r.value)).toBe(true);
        });
        await new Promise((r) => setTimeout(r, 100));
        const input = Buffer.from('after the storm');
        expect(cryptoVerify('sha256', input, pub, await p.sign(input))).toBe(true);
        expect(p.openSessions).toBe(1);
      } finally {
        await p.close();
      }
    });

    it('initialises the library once per process: providers share it, and it re-initialises after the last close', async () => {
      const a = provider();
      const b = provider({ keyId: undefined, keyLabel: 'jwt-key' });
      await Promise.all([a.init(), b.init()]);
      await a.close();
      const input = Buffer.from('still here');
      expect(cryptoVerify('sha256', input, await b.getPublicKey(), await b.sign(input))).toBe(true);
      await b.close();
      const c = provider();
      expect(cryptoVerify('sha256', input, await c.getPublicKey(), await c.sign(input))).toBe(true);
      await c.close();
    });

    it('waits for running operations before closing', async () => {
      const p = provider({ sessions: 2 });
      await p.init();
      const signs = Array.from({ length: 64 }, (_, i) => p.sign(Buffer.from(`c-${i}`)));
      await Promise.race(signs); // operations are running on the token
      await p.close(); // returns once the token is done with every session, then finalises
      const settled = await Promise.allSettled(signs);
      for (const r of settled) {
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(IAdvizeAuthError);
      }
      expect(settled.filter((r) => r.status === 'fulfilled').length).toBeGreaterThan(0);
      await expect(p.sign(Buffer.from('late'))).rejects.toThrow(/closed/);
    });

    it('never repeats a private key pasted into "keyId", "keyLabel", "tokenLabel" or "module" in its errors', async () => {
      const pem = pastedPrivateKeyPem();
      const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s+/g, ''), 'base64');
      const cases: Array<Partial<Pkcs11KeyProviderOptions>> = [
        { keyId: pem },
        { keyId: undefined, keyLabel: pem },
        { keyId: der },
        { tokenLabel: pem },
        { module: pem },
        { keyId: undefined, keyLabel: pem, maxAttempts: 0 },
      ];
      for (const overrides of cases) {
        const message = await expectStartupHidesKey(provider(overrides), pem);
        expect(message).not.toContain(der.toString('hex').slice(0, 48));
        expect(message).not.toContain(PIN);
      }
    });

    it('never repeats a credential pasted into "keyLabel", "tokenLabel", "module" or "pinEnv" in its errors', async () => {
      for (const secret of pastedCredentials()) {
        const cases: Array<[string, Partial<Pkcs11KeyProviderOptions>]> = [
          ['keyLabel', { keyId: undefined, keyLabel: secret.value }],
          ['tokenLabel', { tokenLabel: secret.value }],
          ['module', { module: secret.value }],
          ['pinEnv', { pin: undefined, pinEnv: secret.value }],
        ];
        for (const [where, overrides] of cases) {
          const message = await expectStartupHidesSecret(provider(overrides), secret, where);
          expect(message).not.toContain(PIN);
        }
      }
    });

    it('reports configuration problems precisely, without the PIN', async () => {
      const cases: Array<[Partial<Pkcs11KeyProviderOptions>, RegExp]> = [
        [{ keyId: '04' }, /RSA-1024 key; at least 2048 bits/],
        [{ keyId: undefined, keyLabel: 'twin' }, /2 private keys match/],
        [{ keyId: '7e' }, /no such private key on the token; check "keyId" \/ "keyLabel"/],
        [{ tokenLabel: 'nope' }, /no token labelled "nope" \(tokens present: (?=.*"iadvize-test")(?=.*"other-token")/],
        [{ pinEnv: 'IADVIZE_TEST_UNSET_PIN' }, /environment variable "IADVIZE_TEST_UNSET_PIN" \(the token PIN\) is not set/],
        [{ pin: PIN }, /give "pinEnv" or "pin", not both/],
        [{ keyId: 'xyz' }, /option "keyId" must be hex/],
        [{ keyId: undefined }, /give "keyId" \(CKA_ID, hex\) or "keyLabel"/],
        [{ module: '/nonexistent/libpkcs11.so' }, /option "module": file "\/nonexistent\/libpkcs11.so" does not exist/],
        [{ sessions: 0 }, /option "sessions" must be a whole number from 1 to 64/],
        [{ tokenLabel: 'other-token' }, /no such private key/],
      ];
      for (const [overrides, message] of cases) {
        const p = provider(overrides);
        const err = await p.init().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InvalidKeyError);
        expect((err as Error).message).toMatch(message);
        expect((err as Error).message).not.toContain(PIN);
        await p.close();
      }
      process.env.IADVIZE_TEST_WRONG_PIN = 'wrong-pin-1d2e3f';
      try {
        const wrong = provider({ pinEnv: 'IADVIZE_TEST_WRONG_PIN' });
        const err = await wrong.init().catch((e: unknown) => e);
        expect((err as Error).message).toMatch(/CKR_PIN_INCORRECT.*check the PIN in environment variable "IADVIZE_TEST_WRONG_PIN"/);
        expect((err as Error).message).not.toContain('wrong-pin-1d2e3f');
        await wrong.close();
      } finally {
        delete process.env.IADVIZE_TEST_WRONG_PIN;
      }
    });
  });
}

describe('Pkcs11KeyProvider defaults', () => {
  it('retries within the default signingTimeoutMs: 2 attempts of 2000 ms (an abandoned attempt keeps its session)', async () => {
    const p = new Pkcs11KeyProvider({ module: '/nonexistent/libpkcs11.so', tokenLabel: 't', keyId: '01', pin: '1234' });
    await expect(p.init()).rejects.toThrow(/does not exist/);
    const policy = (p as unknown as { policy: RetryPolicy }).policy;
    expect(policy).toMatchObject({ timeoutMs: 2000, maxAttempts: 2 });
    expect(worstCaseMs(policy)).toBeLessThanOrEqual(DEFAULT_SIGNING_TIMEOUT_MS);
  });
});

const liveModule = process.env.PKCS11_TEST_MODULE;
(liveModule ? describe : describe.skip)('Pkcs11KeyProvider (live HSM, PKCS11_TEST_MODULE + PKCS11_TEST_TOKEN + PKCS11_TEST_KEY_LABEL + PKCS11_TEST_PIN)', () => {
  it('signs with the HSM key', async () => {
    const p = new Pkcs11KeyProvider({
      module: liveModule as string,
      tokenLabel: process.env.PKCS11_TEST_TOKEN as string,
      keyLabel: process.env.PKCS11_TEST_KEY_LABEL as string,
      pinEnv: 'PKCS11_TEST_PIN',
    });
    const input = Buffer.from('live test');
    expect(cryptoVerify('sha256', input, await p.getPublicKey(), await p.sign(input))).toBe(true);
    await p.close();
  });
});
