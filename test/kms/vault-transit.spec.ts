/**
 * VaultTransitKeyProvider: plain fetch against a loopback Vault transit
 * stand-in holding real RSA keys (with Vault's PSS default for RSA).
 */
import { spawnSync } from 'node:child_process';
import { constants, createHash, verify as cryptoVerify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidKeyError, SigningUnavailableError } from '../../lib/index.js';
import { VaultTransitKeyProvider, type VaultTransitKeyProviderOptions } from '../../lib/kms/vault-transit.js';
import { describeKeyProviderConformance } from '../support/kms-conformance.js';
import { expectStartupHidesKey, expectStartupHidesSecret, pastedCredentials, pastedPrivateKeyPem } from '../support/pasted-key.js';
import { VaultTransitStandin } from '../support/standins/vault-transit.standin.js';

const TOKEN = 'hvs.standin-token-4d3c2b1a0f9e8d7c';
const KEY = 'iadvize-jwt';
let vault: VaultTransitStandin;

beforeAll(async () => {
  vault = await VaultTransitStandin.create(KEY, TOKEN);
});
afterAll(async () => {
  await vault.stop();
});
afterEach(() => {
  vault.reset();
  vault.retryAfter = '0';
});

function provider(overrides: Partial<VaultTransitKeyProviderOptions> = {}): VaultTransitKeyProvider {
  return new VaultTransitKeyProvider({ address: vault.url, keyName: KEY, token: TOKEN, backoffBaseMs: 5, backoffMaxMs: 2000, ...overrides });
}

function lastBody(op: string): Record<string, unknown> {
  const reqs = vault.requestsOf(op);
  return JSON.parse(reqs[reqs.length - 1].body) as Record<string, unknown>;
}

describeKeyProviderConformance('VaultTransitKeyProvider (stand-in)', () => ({
  provider: () => provider(),
  refused: () => provider({ token: 'hvs.refused-token-0a1b2c3d4e5f' }),
  secrets: [TOKEN, 'hvs.refused-token-0a1b2c3d4e5f'],
  backendPublicKey: () => vault.key.publicKey,
  mismatches: [
    { label: 'another key', provider: () => provider(), arm: () => void (vault.signMode = 'other-key'), disarm: () => void (vault.signMode = 'own') },
    { label: 'PSS', provider: () => provider(), arm: () => void (vault.signMode = 'pss'), disarm: () => void (vault.signMode = 'own') },
  ],
}));

describe('VaultTransitKeyProvider', () => {
  it('sends the digest with prehashed, sha2-256, pkcs1v15 and the pinned key_version, with the token and namespace headers', async () => {
    const p = provider({ namespace: 'brand/team' });
    await p.init();
    const input = Buffer.from('header.payload-with-pii@example.com');
    const sig = await p.sign(input);
    expect(cryptoVerify('sha256', input, vault.key.publicKey, sig)).toBe(true);
    const body = lastBody('sign');
    expect(body).toEqual({
      input: expect.any(String),
      prehashed: true,
      hash_algorithm: 'sha2-256',
      signature_algorithm: 'pkcs1v15',
      key_version: 1,
    });
    expect(Buffer.from(body.input as string, 'base64')).toHaveLength(32);
    const req = vault.requestsOf('sign').at(-1);
    expect(req?.body).not.toContain('pii@example.com');
    expect(req?.headers['x-vault-token']).toBe(TOKEN);
    expect(req?.headers['x-vault-namespace']).toBe('brand/team');
    expect(req?.url).toBe(`/v1/transit/sign/${KEY}`);
    await p.close();
  });

  it('the stand-in signs PSS when signature_algorithm is left out, like Vault (which RS256 verifiers refuse)', async () => {
    const message = Buffer.from('header.payload signed on the PSS default');
    const digest = createHash('sha256').update(message).digest();
    const res = await fetch(`${vault.url}/v1/transit/sign/${KEY}`, {
      method: 'POST',
      headers: { 'X-Vault-Token': TOKEN },
      body: JSON.stringify({ input: digest.toString('base64'), prehashed: true }),
    });
    const { data } = (await res.json()) as { data: { signature: string } };
    const sig = Buffer.from(data.signature.replace(/^vault:v1:/, ''), 'base64');
    const verifyWith = (padding: number) =>
      cryptoVerify('sha256', message, { key: vault.key.publicKey, padding, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig);
    // A real RSASSA-PSS (SHA-256, MGF1-SHA-256) signature of the message, so not RS256:
    expect(verifyWith(constants.RSA_PKCS1_PSS_PADDING)).toBe(true);
    expect(verifyWith(constants.RSA_PKCS1_PADDING)).toBe(false);
  });

  it('pins the version at startup: a rotation does not change the signing key until restart', async () => {
    const p = provider();
    await p.init();
    expect(p.pinnedVersion).toBe(1);
    const v2 = await vault.rotate(KEY);
    try {
      const input = Buffer.from('after rotation');
      expect(cryptoVerify('sha256', input, vault.key.publicKey, await p.sign(input))).toBe(true);
      expect(lastBody('sign').key_version).toBe(1);
      const fresh = provider();
      await fresh.init();
      expect(fresh.pinnedVersion).toBe(2);
      expect(cryptoVerify('sha256', input, v2.publicKey, await fresh.sign(input))).toBe(true);
      expect(lastBody('sign').key_version).toBe(2);
      const old = provider({ keyVersion: 1 });
      await old.init();
      expect((await old.getPublicKey()).export({ format: 'jwk' })).toEqual(vault.key.publicKey.export({ format: 'jwk' }));
      await Promise.all([fresh.close(), old.close()]);
    } finally {
      vault.keys.get(KEY)?.versions.pop();
      await p.close();
    }
  });

  it('refuses at startup a pinned keyVersion below min_encryption_version, which Vault would refuse to sign with', async () => {
    await vault.rotate(KEY);
    const key = vault.keys.get(KEY);
    try {
      if (key) key.minEncryptionVersion = 2;
      // The stand-in enforces Vault's rule on the wire, as Vault does (HTTP 400).
      const res = await fetch(`${vault.url}/v1/transit/sign/${KEY}`, {
        method: 'POST',
        headers: { 'X-Vault-Token': TOKEN },
        body: JSON.stringify({ input: Buffer.alloc(32, 1).toString('base64'), prehashed: true, signature_algorithm: 'pkcs1v15', key_version: 1 }),
      });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('less than the minimum encryption key version');
      const before = vault.requestsOf('sign').length;
      const err = await provider({ keyVersion: 1 }).init().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidKeyError);
      expect((err as Error).message).toMatch(/option "keyVersion" \(1\) is below the key's min_encryption_version \(2\)/);
      expect((err as Error).message).not.toContain(TOKEN);
      expect(vault.requestsOf('sign').length - before).toBe(0);
      const latest = provider();
      await latest.init();
      expect(latest.pinnedVersion).toBe(2);
      await latest.sign(Buffer.from('x'));
      await latest.close();
    } finally {
      if (key) key.minEncryptionVersion = 0;
      key?.versions.pop();
    }
  });

  it('refuses a signature from another version than the pinned one', async () => {
    const rewriting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const text = (await res.text()).replace('vault:v1:', 'vault:v2:');
      return new Response(text, { status: res.status, headers: res.headers });
    };
    const p = provider({ fetch: rewriting });
    await p.init();
    await expect(p.sign(Buffer.from('x'))).rejects.toThrow(/signed with version 2, not the pinned version 1/);
    await p.close();
  });

  it('retries a 429 (honouring Retry-After) and a sealed 503, then succeeds', async () => {
    const p = provider();
    await p.init();
    vault.retryAfter = '1';
    vault.inject('throttle', { op: 'sign' }).inject('unavailable', { op: 'sign' });
    const before = vault.requestsOf('sign').length;
    const started = Date.now();
    const input = Buffer.from('retry');
    expect(cryptoVerify('sha256', input, vault.key.publicKey, await p.sign(input))).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(vault.requestsOf('sign').length - before).toBe(3);
    await p.close();
  });

  it('stops retrying when Retry-After exceeds backoffMaxMs, and passes it on', async () => {
    const p = provider({ backoffMaxMs: 500 });
    await p.init();
    vault.retryAfter = '7';
    vault.inject('throttle', { op: 'sign', times: Infinity });
    const before = vault.requestsOf('sign').length;
    const err = await p.sign(Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SigningUnavailableError);
    expect((err as SigningUnavailableError).retryAfterSeconds).toBe(7);
    expect((err as Error).message).toMatch(/was throttled \(HTTP 429: .*rate limit quota exceeded\)/);
    expect(vault.requestsOf('sign').length - before).toBe(1);
    await p.close();
  });

  it('gives up after maxAttempts on a persistent 503 and on hangs, within the deadline', async () => {
    const p = provider({ maxAttempts: 2, timeoutMs: 150, backoffMaxMs: 20 });
    await p.init();
    vault.inject('unavailable', { op: 'sign', times: Infinity });
    const sealed = await p.sign(Buffer.from('x')).catch((e: unknown) => e);
    expect(sealed).toBeInstanceOf(SigningUnavailableError);
    expect((sealed as Error).message).toMatch(/HTTP 503: Vault is sealed\) after 2 attempts/);
    vault.reset().inject('hang', { op: 'sign', times: Infinity });
    const started = Date.now();
    const hung = await p.sign(Buffer.from('x')).catch((e: unknown) => e);
    expect(hung).toBeInstanceOf(SigningUnavailableError);
    expect(Date.now() - started).toBeLessThan(1200);
    await new Promise((r) => setTimeout(r, 50));
    expect(vault.requestsOf('sign').filter((r) => r.fault === 'hang').every((r) => r.abortedByClient)).toBe(true);
    await p.close();
  });

  it('does not retry a permission error, and names the policy to grant', async () => {
    const p = provider();
    await p.init();
    vault.inject('denied', { op: 'sign', times: Infinity });
    const before = vault.requestsOf('sign').length;
    const err = await p.sign(Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidKeyError);
    expect((err as Error).message).toMatch(/HTTP 403: permission denied.*"update" on transit\/sign\/iadvize-jwt/);
    expect((err as Error).message).not.toContain(TOKEN);
    expect(vault.requestsOf('sign').length - before).toBe(1);
    await p.close();
  });

  it('reads the token from an environment variable or a function', async () => {
    process.env.IADVIZE_TEST_VAULT_TOKEN = TOKEN;
    try {
      const fromEnv = provider({ token: undefined, tokenEnv: 'IADVIZE_TEST_VAULT_TOKEN' });
      await fromEnv.init();
      await fromEnv.close();
    } finally {
      delete process.env.IADVIZE_TEST_VAULT_TOKEN;
    }
    let calls = 0;
    const fromFn = provider({ token: async () => (calls++, TOKEN) });
    await fromFn.init();
    await fromFn.sign(Buffer.from('x'));
    expect(calls).toBe(2);
    await fromFn.close();
    await expect(provider({ token: undefined, tokenEnv: 'IADVIZE_TEST_VAULT_TOKEN' }).init()).rejects.toThrow(
      /no Vault token; set option "token" or the environment variable "IADVIZE_TEST_VAULT_TOKEN"/,
    );
  });

  it('never repeats a private key pasted into "keyName" or "mount" in its errors', async () => {
    const pem = pastedPrivateKeyPem();
    const oneLine = pem.replace(/-----[A-Z ]+-----|\s+/g, '');
    for (const overrides of [{ keyName: pem }, { keyName: pem, maxAttempts: 0 }, { keyName: oneLine }, { mount: pem }, { mount: oneLine, maxAttempts: 0 }]) {
      await expectStartupHidesKey(provider(overrides), pem);
    }
  });

  it('never repeats a credential pasted into "keyName", "mount", "address" or "tokenEnv" in its errors', async () => {
    for (const secret of pastedCredentials()) {
      const cases: Array<[string, Partial<VaultTransitKeyProviderOptions>]> = [
        ['keyName', { keyName: secret.value }],
        ['mount', { mount: secret.value, maxAttempts: 0 }],
        ['address', { address: secret.value }],
        ['tokenEnv', { token: undefined, tokenEnv: secret.value }],
      ];
      for (const [where, overrides] of cases) await expectStartupHidesSecret(provider(overrides), secret, where);
    }
  });

  it('validates the key and the options at startup', async () => {
    vault.keys.set('aes', { type: 'aes256-gcm96', versions: [vault.key], minDecryptionVersion: 1 });
    await expect(provider({ keyName: 'aes' }).init()).rejects.toThrow(/is of type "aes256-gcm96"; iAdvize needs RS256/);
    await expect(provider({ keyName: 'missing' }).init()).rejects.toThrow(/HTTP 404.*check "keyName" and "mount"/);
    await expect(provider({ keyVersion: 9 }).init()).rejects.toThrow(/version 9 does not exist/);
    await expect(provider({ address: 'not a url' }).init()).rejects.toThrow(/option "address" is not a URL/);
    await expect(provider({ keyName: '' }).init()).rejects.toThrow(/option "keyName" is required/);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const down = provider({ address: `http://127.0.0.1:${port}`, maxAttempts: 2, backoffMaxMs: 10 });
    await expect(down.init()).rejects.toThrow(/is unavailable \(network error ECONNREFUSED\) after 2 attempts/);
  });
});

/** `fetch` that always throws `TypeError: fetch failed` with the given cause, as undici does. */
function failingFetch(cause: unknown, calls: { n: number }): typeof fetch {
  return async () => {
    calls.n++;
    throw new TypeError('fetch failed', { cause });
  };
}

describe('VaultTransitKeyProvider: fetch failures', () => {
  it('retries network errors (ECONNRESET, UND_ERR_SOCKET) but not TLS certificate errors, naming the cause code', async () => {
    for (const code of ['ECONNRESET', 'UND_ERR_SOCKET', 'ETIMEDOUT']) {
      const calls = { n: 0 };
      const err = await provider({ fetch: failingFetch(Object.assign(new Error('other side closed'), { code }), calls), maxAttempts: 3, backoffMaxMs: 5 })
        .init()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SigningUnavailableError);
      expect((err as Error).message).toContain(`network error ${code}) after 3 attempts`);
      expect(calls.n).toBe(3);
    }
    for (const code of ['CERT_HAS_EXPIRED', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'ERR_TLS_CERT_ALTNAME_INVALID', 'SOME_FUTURE_CODE']) {
      const calls = { n: 0 };
      const cause = Object.assign(new Error(`certificate problem talking to vault with ${TOKEN}`), { code });
      const err = await provider({ fetch: failingFetch(cause, calls), maxAttempts: 3, backoffMaxMs: 5 })
        .init()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SigningUnavailableError);
      expect((err as Error).message).toContain(`fetch failed: ${code === 'SOME_FUTURE_CODE' ? '' : 'TLS error '}${code}`);
      expect((err as Error).message).not.toContain(TOKEN);
      expect((err as Error).message).not.toMatch(/after \d+ attempts/);
      expect(calls.n).toBe(1);
    }
  });

  it('does not retry a refused redirect, and says why', async () => {
    let hits = 0;
    const redirecting = createServer((req, res) => {
      hits++;
      res.writeHead(307, { location: 'http://127.0.0.1:1/elsewhere' }).end();
    });
    await new Promise<void>((r) => redirecting.listen(0, '127.0.0.1', r));
    try {
      const p = provider({ address: `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}`, maxAttempts: 3, backoffMaxMs: 5 });
      const err = await p.init().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SigningUnavailableError);
      expect((err as Error).message).toMatch(/fetch failed: Vault answered with a redirect, which is refused/);
      expect((err as Error).message).not.toContain(TOKEN);
      expect(hits).toBe(1);
    } finally {
      await new Promise((r) => redirecting.close(r));
    }
  });

  const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  const hasOpenssl = !openssl.error && openssl.status === 0;
  (hasOpenssl ? it : it.skip)(
    `does not retry a real TLS failure (self-signed certificate from openssl req -x509)${hasOpenssl ? '' : ' [skipped: openssl is not on PATH]'}`,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vault-tls-'));
      try {
        const made = spawnSync(
          'openssl',
          ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
            '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
          { encoding: 'utf8' },
        );
        expect(made.status).toBe(0);
        let connections = 0;
        const tls = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => res.end('{}'));
        tls.on('connection', () => connections++);
        await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
        try {
          const p = provider({ address: `https://127.0.0.1:${(tls.address() as AddressInfo).port}`, maxAttempts: 3, backoffMaxMs: 5 });
          const err = await p.init().catch((e: unknown) => e);
          expect(err).toBeInstanceOf(SigningUnavailableError);
          expect((err as Error).message).toMatch(/read key failed \(fetch failed: TLS error (DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)/);
          expect((err as Error).message).not.toContain(TOKEN);
          expect(connections).toBe(1);
        } finally {
          tls.closeAllConnections();
          await new Promise((r) => tls.close(r));
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

const liveAddr = process.env.VAULT_TRANSIT_TEST_KEY ? process.env.VAULT_ADDR : undefined;
(liveAddr ? describe : describe.skip)('VaultTransitKeyProvider (live Vault, VAULT_ADDR + VAULT_TOKEN + VAULT_TRANSIT_TEST_KEY)', () => {
  it('signs with the real key', async () => {
    const p = new VaultTransitKeyProvider({ address: liveAddr, keyName: process.env.VAULT_TRANSIT_TEST_KEY as string });
    await p.init();
    const input = Buffer.from('live test');
    expect(cryptoVerify('sha256', input, await p.getPublicKey(), await p.sign(input))).toBe(true);
    await p.close();
  });
});
