/**
 * AzureKeyVaultKeyProvider: the real @azure/keyvault-keys clients against a
 * loopback Key Vault stand-in (challenge auth, keys API) holding real RSA keys.
 */
import { verify as cryptoVerify } from 'node:crypto';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { InvalidKeyError, SigningUnavailableError } from '../../lib/index.js';
import { AzureKeyVaultKeyProvider, type AzureKeyVaultKeyProviderOptions, type AzureTokenCredential } from '../../lib/kms/azure-key-vault.js';
import { describeKeyProviderConformance } from '../support/kms-conformance.js';
import { expectStartupHidesKey, expectStartupHidesSecret, pastedCredentials, pastedPrivateKeyPem } from '../support/pasted-key.js';
import { AzureKeyVaultStandin } from '../support/standins/azure-key-vault.standin.js';

const NAME = 'iadvize-jwt';
const VERSION = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';
let vault: AzureKeyVaultStandin;
const scopes: string[] = [];

beforeAll(async () => {
  vault = await AzureKeyVaultStandin.create(NAME, VERSION);
});
afterAll(async () => {
  await vault.stop();
});
afterEach(() => {
  vault.reset();
  vault.retryAfter = '0';
});

/** A TokenCredential handing out a fixed token, recording the scopes asked for. */
function credential(token = 'standin-azure-token'): AzureTokenCredential {
  return {
    getToken: async (scope: string | string[]) => {
      scopes.push(...(Array.isArray(scope) ? scope : [scope]));
      return { token, expiresOnTimestamp: Date.now() + 3.6e6 };
    },
  };
}

const testClientOptions = { allowInsecureConnection: true, disableChallengeResourceVerification: true };

function provider(overrides: Partial<AzureKeyVaultKeyProviderOptions> = {}, token?: string): AzureKeyVaultKeyProvider {
  return new AzureKeyVaultKeyProvider({
    keyId: `${vault.url}/keys/${NAME}`,
    credential: credential(token),
    clientOptions: testClientOptions,
    backoffBaseMs: 5,
    backoffMaxMs: 2000,
    ...overrides,
  });
}

describeKeyProviderConformance('AzureKeyVaultKeyProvider (stand-in)', () => ({
  provider: () => provider(),
  refused: () => provider({}, 'refused-azure-token-5e6f7a8b'),
  secrets: ['standin-azure-token', 'refused-azure-token-5e6f7a8b'],
  backendPublicKey: () => vault.key.publicKey,
  mismatches: [
    { label: 'another key', provider: () => provider(), arm: () => void (vault.signMode = 'other-key'), disarm: () => void (vault.signMode = 'own') },
    { label: 'PSS', provider: () => provider(), arm: () => void (vault.signMode = 'pss'), disarm: () => void (vault.signMode = 'own') },
  ],
}));

describe('AzureKeyVaultKeyProvider', () => {
  it('goes through the auth challenge, pins the versioned key id and signs the digest with RS256', async () => {
    scopes.length = 0;
    const before = vault.requests.length;
    const p = provider();
    await p.init();
    expect(p.pinnedKeyId).toBe(vault.kid(NAME, VERSION));
    const input = Buffer.from('header.payload-with-pii@example.com');
    expect(cryptoVerify('sha256', input, vault.key.publicKey, await p.sign(input))).toBe(true);
    const reqs = vault.requests.slice(before);
    expect(reqs[0].headers.authorization).toBeUndefined(); // the challenge round
    expect(reqs.some((r) => r.op === 'getKey' && r.headers.authorization === 'Bearer standin-azure-token')).toBe(true);
    expect(scopes).toContain('https://vault.azure.net/.default');
    const sign = reqs.filter((r) => r.op === 'sign' && r.headers.authorization).at(-1);
    expect(new URL(sign?.url ?? '', vault.url).pathname).toBe(`/keys/${NAME}/${VERSION}/sign`);
    const body = JSON.parse(sign?.body ?? '{}') as { alg: string; value: string };
    expect(body.alg).toBe('RS256');
    expect(Buffer.from(body.value, 'base64url')).toHaveLength(32);
    expect(sign?.body).not.toContain('pii@example.com');
    expect([...vault.apiVersions].every((v) => /^\d{4}-\d{2}-\d{2}/.test(v))).toBe(true);
    await p.close();
  });

  it('keeps the version pinned at startup when a new version becomes current', async () => {
    const p = provider();
    await p.init();
    const next = await vault.addVersion(NAME, 'a1b2c3d4e5f60718293a4b5c6d7e8f90');
    try {
      const input = Buffer.from('rotation');
      expect(cryptoVerify('sha256', input, vault.key.publicKey, await p.sign(input))).toBe(true);
      const fresh = provider();
      await fresh.init();
      expect(fresh.pinnedKeyId).toBe(vault.kid(NAME, 'a1b2c3d4e5f60718293a4b5c6d7e8f90'));
      expect(cryptoVerify('sha256', input, next.key.publicKey, await fresh.sign(input))).toBe(true);
      const pinned = provider({ keyId: vault.kid(NAME, VERSION) });
      await pinned.init();
      expect(pinned.pinnedKeyId).toBe(vault.kid(NAME, VERSION));
      await Promise.all([fresh.close(), pinned.close()]);
    } finally {
      vault.keys.get(NAME)?.delete('a1b2c3d4e5f60718293a4b5c6d7e8f90');
      await p.close();
    }
  });

  it('retries 429 (Retry-After) and 503, then succeeds', async () => {
    const p = provider();
    await p.init();
    await p.sign(Buffer.from('warm-up')); // the client's first call goes through the auth challenge
    vault.inject('throttle', { op: 'sign' }).inject('unavailable', { op: 'sign' });
    const before = vault.requestsOf('sign').length;
    await expect(p.sign(Buffer.from('x'))).resolves.toHaveLength(256);
    expect(vault.requestsOf('sign').length - before).toBe(3);
    vault.retryAfter = '30';
    vault.inject('throttle', { op: 'sign', times: Infinity });
    const err = await p.sign(Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SigningUnavailableError);
    expect((err as SigningUnavailableError).retryAfterSeconds).toBe(30);
    await p.close();
  });

  it('gives up with SigningUnavailableError on persistent 503 and hangs, aborting the hung requests', async () => {
    const p = provider({ maxAttempts: 2, timeoutMs: 150, backoffMaxMs: 20 });
    await p.init();
    vault.inject('unavailable', { op: 'sign', times: Infinity });
    await expect(p.sign(Buffer.from('x'))).rejects.toThrow(/is unavailable \(HTTP 503 ServiceUnavailable\) after 2 attempts/);
    vault.reset().inject('hang', { op: 'sign', times: Infinity });
    const started = Date.now();
    const err = await p.sign(Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SigningUnavailableError);
    expect(Date.now() - started).toBeLessThan(1200);
    await new Promise((r) => setTimeout(r, 50));
    const hangs = vault.requestsOf('sign').filter((r) => r.fault === 'hang');
    expect(hangs).toHaveLength(2);
    expect(hangs.every((r) => r.abortedByClient)).toBe(true);
    await p.close();
  });

  it('does not retry 403 Forbidden and names the permission to grant', async () => {
    const p = provider();
    await p.init();
    vault.inject('denied', { op: 'sign', times: Infinity });
    const before = vault.requestsOf('sign').length;
    const err = await p.sign(Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidKeyError);
    expect((err as Error).message).toMatch(/HTTP 403 Forbidden.*keys\/sign/);
    expect(vault.requestsOf('sign').length - before).toBe(1);
    await p.close();
  });

  it('validates the key at startup: type, operations, enabled, expiry, id', async () => {
    vault.keys.set('ec-key', new Map([['v1', { key: vault.key, kty: 'EC', ops: ['sign'], enabled: true }]]));
    await expect(provider({ keyId: `${vault.url}/keys/ec-key` }).init()).rejects.toThrow(/is of type EC/);
    vault.keys.set('enc-only', new Map([['v1', { key: vault.key, kty: 'RSA', ops: ['encrypt', 'decrypt'], enabled: true }]]));
    await expect(provider({ keyId: `${vault.url}/keys/enc-only` }).init()).rejects.toThrow(/does not allow the "sign" operation/);
    vault.keys.set('off', new Map([['v1', { key: vault.key, kty: 'RSA', ops: ['sign'], enabled: false }]]));
    await expect(provider({ keyId: `${vault.url}/keys/off` }).init()).rejects.toThrow(/is disabled/);
    vault.keys.set('old', new Map([['v1', { key: vault.key, kty: 'RSA', ops: ['sign'], enabled: true, exp: 1_600_000_000 }]]));
    await expect(provider({ keyId: `${vault.url}/keys/old` }).init()).rejects.toThrow(/expired on 2020-09-13/);
    await expect(provider({ keyId: `${vault.url}/keys/none` }).init()).rejects.toThrow(/HTTP 404 KeyNotFound.*check "keyId"/);
    await expect(provider({ keyId: `${vault.url}/secrets/x` }).init()).rejects.toThrow(/option "keyId" must be a key identifier/);
    await expect(provider({ credential: undefined as never }).init()).rejects.toThrow(/option "credential" must be a TokenCredential/);
  });

  it('never repeats a private key pasted into "keyId" in its errors', async () => {
    const pem = pastedPrivateKeyPem();
    for (const overrides of [{ keyId: pem }, { keyId: pem, maxAttempts: 0 }, { keyId: `${vault.url}/keys/${encodeURIComponent(pem)}` }]) {
      await expectStartupHidesKey(provider(overrides), pem);
    }
  });

  it('never repeats a credential pasted into "keyId" in its errors', async () => {
    for (const secret of pastedCredentials()) {
      for (const keyId of [secret.value, `${vault.url}/keys/${encodeURIComponent(secret.value)}`]) {
        await expectStartupHidesSecret(provider({ keyId }), secret, 'keyId');
      }
    }
  });

  it('uses a pre-built KeyClient', async () => {
    const client = new KeyClient(vault.url, credential(), { ...testClientOptions, retryOptions: { maxRetries: 0 } });
    const p = new AzureKeyVaultKeyProvider({ keyId: `${vault.url}/keys/${NAME}`, credential: credential(), client, clientOptions: testClientOptions });
    await p.init();
    const input = Buffer.from('prebuilt');
    expect(cryptoVerify('sha256', input, vault.key.publicKey, await p.sign(input))).toBe(true);
    await p.close();
  });
});

describe('AzureKeyVaultKeyProvider with a pre-built CryptographyClient', () => {
  const sdkOptions = { ...testClientOptions, retryOptions: { maxRetries: 0 } };

  it('signs with the caller\'s KeyClient and CryptographyClient, no "credential" option needed', async () => {
    scopes.length = 0;
    const appCredential = credential();
    const client = new KeyClient(vault.url, appCredential, sdkOptions);
    const cryptographyClient = new CryptographyClient(vault.kid(NAME, VERSION), appCredential, sdkOptions);
    const p = new AzureKeyVaultKeyProvider({ keyId: `${vault.url}/keys/${NAME}`, client, cryptographyClient, backoffBaseMs: 5 });
    await p.init();
    expect(p.pinnedKeyId).toBe(vault.kid(NAME, VERSION));
    const input = Buffer.from('prebuilt crypto client');
    expect(cryptoVerify('sha256', input, vault.key.publicKey, await p.sign(input))).toBe(true);
    expect(scopes.length).toBeGreaterThan(0); // every token came from the app's own credential
    await p.close();
  });

  it('pins the CryptographyClient\'s version even when a newer one is current', async () => {
    const next = await vault.addVersion(NAME, 'b2c3d4e5f60718293a4b5c6d7e8f90a1');
    try {
      const client = new KeyClient(vault.url, credential(), sdkOptions);
      const cryptographyClient = new CryptographyClient(vault.kid(NAME, VERSION), credential(), sdkOptions);
      const p = new AzureKeyVaultKeyProvider({ keyId: `${vault.url}/keys/${NAME}`, client, cryptographyClient });
      await p.init();
      expect(p.pinnedKeyId).toBe(vault.kid(NAME, VERSION));
      expect((await p.getPublicKey()).export({ format: 'jwk' })).toEqual(vault.key.publicKey.export({ format: 'jwk' }));
      expect((await p.getPublicKey()).export({ format: 'jwk' })).not.toEqual(next.key.publicKey.export({ format: 'jwk' }));
      await p.close();
    } finally {
      vault.keys.get(NAME)?.delete('b2c3d4e5f60718293a4b5c6d7e8f90a1');
    }
  });

  it('refuses a versionless, foreign or mismatched CryptographyClient, and a missing credential without one', async () => {
    const client = new KeyClient(vault.url, credential(), sdkOptions);
    const cc = (id: string) => new CryptographyClient(id, credential(), sdkOptions);
    const keyId = `${vault.url}/keys/${NAME}`;
    await expect(new AzureKeyVaultKeyProvider({ keyId, client, cryptographyClient: cc(`${vault.url}/keys/${NAME}`) }).init()).rejects.toThrow(
      /option "cryptographyClient" is built on a key id without a version/,
    );
    await expect(new AzureKeyVaultKeyProvider({ keyId, client, cryptographyClient: cc(vault.kid('other-key', VERSION)) }).init()).rejects.toThrow(
      /option "cryptographyClient" is built on another key than option "keyId"/,
    );
    await expect(
      new AzureKeyVaultKeyProvider({ keyId: vault.kid(NAME, 'ffffffffffffffffffffffffffffffff'), client, cryptographyClient: cc(vault.kid(NAME, VERSION)) }).init(),
    ).rejects.toThrow(/option "cryptographyClient" is built on another version than option "keyId"/);
    await expect(new AzureKeyVaultKeyProvider({ keyId, client, cryptographyClient: {} as CryptographyClient }).init()).rejects.toThrow(
      /option "cryptographyClient" must be a CryptographyClient/,
    );
    await expect(new AzureKeyVaultKeyProvider({ keyId, client }).init()).rejects.toThrow(
      /option "credential" must be a TokenCredential.*left out only when you pass both "client" and "cryptographyClient"/,
    );
    await expect(new AzureKeyVaultKeyProvider({ keyId, cryptographyClient: cc(vault.kid(NAME, VERSION)) }).init()).rejects.toThrow(/option "credential"/);
  });
});

const liveKey = process.env.AZURE_KEY_VAULT_TEST_KEY_ID;
(liveKey ? describe : describe.skip)('AzureKeyVaultKeyProvider (live Azure, AZURE_KEY_VAULT_TEST_KEY_ID)', () => {
  it('signs with the real key and DefaultAzureCredential', async () => {
    // @azure/identity is not a dependency of this repository: install it to run this test.
    const identity = (await import('@azure/identity' as string)) as { DefaultAzureCredential: new () => AzureTokenCredential };
    const p = new AzureKeyVaultKeyProvider({ keyId: liveKey as string, credential: new identity.DefaultAzureCredential() });
    await p.init();
    const input = Buffer.from('live test');
    expect(cryptoVerify('sha256', input, await p.getPublicKey(), await p.sign(input))).toBe(true);
    await p.close();
  });
});
