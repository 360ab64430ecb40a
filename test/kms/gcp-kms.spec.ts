/**
 * GcpKmsKeyProvider: the real @google-cloud/kms client (REST fallback
 * transport) against a loopback Cloud KMS stand-in holding real RSA keys.
 */
import { verify as cryptoVerify } from 'node:crypto';
import { KeyManagementServiceClient } from '@google-cloud/kms';
import { OAuth2Client } from 'google-auth-library';
import { InvalidKeyError, SigningUnavailableError } from '../../lib/index.js';
import { GcpKmsKeyProvider, type GcpKmsClientOptions, type GcpKmsKeyProviderOptions } from '../../lib/kms/gcp-kms.js';
import { describeKeyProviderConformance } from '../support/kms-conformance.js';
import { expectStartupHidesKey, expectStartupHidesSecret, pastedCredentials, pastedPrivateKeyPem } from '../support/pasted-key.js';
import { crc32c } from '../../lib/kms/crc32c.js';
import { crc32cBitwise, GcpKmsStandin } from '../support/standins/gcp-kms.standin.js';
import { standinKey } from '../support/standins/standin-server.js';

let gcp: GcpKmsStandin;

beforeAll(async () => {
  gcp = await GcpKmsStandin.create();
});
afterAll(async () => {
  await gcp.stop();
});
afterEach(() => {
  gcp.reset();
  gcp.corruptSignatures = 0;
});

/** An OAuth2 client holding a fixed access token (typed as gax's copy of google-auth-library). */
function authClient(token = 'standin-access-token'): GcpKmsClientOptions['authClient'] {
  const c = new OAuth2Client();
  c.setCredentials({ access_token: token, expiry_date: Date.now() + 3.6e6 });
  return c as unknown as GcpKmsClientOptions['authClient'];
}

function provider(overrides: Partial<GcpKmsKeyProviderOptions> = {}, token?: string): GcpKmsKeyProvider {
  return new GcpKmsKeyProvider({
    keyVersionName: gcp.version(1),
    clientOptions: { fallback: true, apiEndpoint: '127.0.0.1', port: gcp.port, protocol: 'http', authClient: authClient(token) },
    backoffBaseMs: 5,
    backoffMaxMs: 50,
    ...overrides,
  });
}

describeKeyProviderConformance('GcpKmsKeyProvider (stand-in)', () => ({
  provider: () => provider(),
  refused: () => provider({}, 'ya29.refused-access-token-abcdef'),
  secrets: ['standin-access-token', 'ya29.refused-access-token-abcdef'],
  backendPublicKey: () => gcp.key.publicKey,
  mismatches: [
    { label: 'another key', provider: () => provider(), arm: () => void (gcp.signMode = 'other-key'), disarm: () => void (gcp.signMode = 'own') },
    { label: 'PSS', provider: () => provider(), arm: () => void (gcp.signMode = 'pss'), disarm: () => void (gcp.signMode = 'own') },
  ],
}));

describe('GcpKmsKeyProvider', () => {
  it('computes CRC32C (Castagnoli) like the reference vector', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    const random = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 37) & 0xff));
    expect(crc32c(random)).toBe(crc32cBitwise(random));
  });

  it('sends the SHA-256 digest with its CRC32C to the pinned version, with the routing header and token', async () => {
    const p = provider();
    await p.init();
    const input = Buffer.from('header.payload-with-pii@example.com');
    const sig = await p.sign(input);
    expect(cryptoVerify('sha256', input, gcp.key.publicKey, sig)).toBe(true);
    const req = gcp.requestsOf('asymmetricSign').at(-1);
    const body = JSON.parse(req?.body ?? '{}') as { digest: { sha256: string }; digestCrc32c: string };
    const digest = Buffer.from(body.digest.sha256, 'base64');
    expect(digest).toHaveLength(32);
    expect(Number(body.digestCrc32c)).toBe(crc32cBitwise(digest));
    expect(req?.body).not.toContain('pii@example.com');
    expect(new URL(req?.url ?? '', gcp.url).pathname).toBe(`/v1/${gcp.version(1)}:asymmetricSign`);
    expect(req?.headers.authorization).toBe('Bearer standin-access-token');
    expect(req?.headers['x-goog-request-params']).toBe(`name=${encodeURIComponent(gcp.version(1))}`);
    await p.close();
  });

  it('retries a signature that fails its CRC32C check', async () => {
    const p = provider();
    await p.init();
    gcp.corruptSignatures = 1;
    const before = gcp.requestsOf('asymmetricSign').length;
    const input = Buffer.from('crc');
    expect(cryptoVerify('sha256', input, gcp.key.publicKey, await p.sign(input))).toBe(true);
    expect(gcp.requestsOf('asymmetricSign').length - before).toBe(2);
    gcp.corruptSignatures = 10;
    await expect(p.sign(input)).rejects.toThrow(/signature failed its CRC32C check\) after 3 attempts/);
    await p.close();
  });

  it('signs with RSA_SIGN_RAW_PKCS1 versions through a local DigestInfo', async () => {
    const rawKey = await standinKey();
    gcp.versions.set(gcp.version(2), { key: rawKey, algorithm: 'RSA_SIGN_RAW_PKCS1_2048', state: 'ENABLED' });
    const p = provider({ keyVersionName: gcp.version(2) });
    await p.init();
    const input = Buffer.from('raw');
    expect(cryptoVerify('sha256', input, rawKey.publicKey, await p.sign(input))).toBe(true);
    const body = JSON.parse(gcp.requestsOf('asymmetricSign').at(-1)?.body ?? '{}') as Record<string, unknown>;
    expect(Buffer.from(body.data as string, 'base64')).toHaveLength(51);
    expect(body.digest).toBeUndefined();
    await p.close();
  });

  it('retries RESOURCE_EXHAUSTED and UNAVAILABLE, then succeeds', async () => {
    const p = provider();
    await p.init();
    gcp.inject('throttle', { op: 'asymmetricSign' }).inject('unavailable', { op: 'asymmetricSign' });
    const before = gcp.requestsOf('asymmetricSign').length;
    await expect(p.sign(Buffer.from('x'))).resolves.toHaveLength(256);
    expect(gcp.requestsOf('asymmetricSign').length - before).toBe(3);
    await p.close();
  });

  it('gives up with SigningUnavailableError on persistent 5xx and on hangs (cancelling the hung calls)', async () => {
    const p = provider({ maxAttempts: 2, timeoutMs: 150 });
    await p.init();
    gcp.inject('unavailable', { op: 'asymmetricSign', times: Infinity });
    const down = await p.sign(Buffer.from('x')).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(SigningUnavailableError);
    expect((down as Error).message).toMatch(/is unavailable \(HTTP 503 UNAVAILABLE\) after 2 attempts/);
    gcp.reset().inject('hang', { op: 'asymmetricSign', times: Infinity });
    const started = Date.now();
    const hung = await p.sign(Buffer.from('x')).catch((e: unknown) => e);
    expect(hung).toBeInstanceOf(SigningUnavailableError);
    expect((hung as Error).message).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(1200);
    await new Promise((r) => setTimeout(r, 50));
    const hangs = gcp.requestsOf('asymmetricSign').filter((r) => r.fault === 'hang');
    expect(hangs).toHaveLength(2);
    expect(hangs.every((r) => r.abortedByClient)).toBe(true);
    await p.close();
  });

  it('does not retry PERMISSION_DENIED, and reports a disabled version', async () => {
    const p = provider();
    await p.init();
    gcp.inject('denied', { op: 'asymmetricSign', times: Infinity });
    const before = gcp.requestsOf('asymmetricSign').length;
    const err = await p.sign(Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidKeyError);
    expect((err as Error).message).toMatch(/HTTP 403 PERMISSION_DENIED.*roles\/cloudkms.signerVerifier/);
    expect(gcp.requestsOf('asymmetricSign').length - before).toBe(1);
    gcp.reset();
    const v1 = gcp.versions.get(gcp.version(1));
    if (v1) v1.state = 'DISABLED';
    try {
      const disabled = await p.sign(Buffer.from('x')).catch((e: unknown) => e);
      expect(disabled).toBeInstanceOf(InvalidKeyError);
      expect((disabled as Error).message).toMatch(/HTTP 400 FAILED_PRECONDITION.*not ENABLED/);
    } finally {
      if (v1) v1.state = 'ENABLED';
      await p.close();
    }
  });

  it('does not retry gRPC CANCELLED or UNKNOWN (often an auth or client error), but retries UNAVAILABLE', async () => {
    const client = new KeyManagementServiceClient({ fallback: true, apiEndpoint: '127.0.0.1', port: gcp.port, protocol: 'http', authClient: authClient() });
    const p = new GcpKmsKeyProvider({ keyVersionName: gcp.version(1), client, maxAttempts: 3, backoffBaseMs: 5, backoffMaxMs: 20 });
    await p.init();
    const inner = (client as unknown as { innerApiCalls: Record<string, (...args: unknown[]) => Promise<unknown>> }).innerApiCalls;
    const real = inner.asymmetricSign;
    try {
      for (const [code, name, message] of [
        [1, 'CANCELLED', '1 CANCELLED: Call cancelled'],
        [2, 'UNKNOWN', '2 UNKNOWN: Getting metadata from plugin failed with error: invalid_grant'],
      ] as const) {
        let calls = 0;
        inner.asymmetricSign = async () => {
          calls++;
          throw Object.assign(new Error(message), { code });
        };
        const err = await p.sign(Buffer.from('x')).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SigningUnavailableError);
        expect((err as Error).message).toMatch(new RegExp(`Sign failed \\(${name}\\)`));
        expect((err as Error).message).not.toMatch(/after \d+ attempts/);
        expect(calls).toBe(1);
      }
      let calls = 0;
      inner.asymmetricSign = (...args: unknown[]) => {
        calls++;
        return calls < 3 ? Promise.reject(Object.assign(new Error('14 UNAVAILABLE: connection reset'), { code: 14 })) : real(...args);
      };
      const input = Buffer.from('after two UNAVAILABLE');
      expect(cryptoVerify('sha256', input, gcp.key.publicKey, await p.sign(input))).toBe(true);
      expect(calls).toBe(3);
    } finally {
      inner.asymmetricSign = real;
      await p.close();
      await client.close();
    }
  });

  it('validates the key version at startup', async () => {
    const ec = await standinKey();
    gcp.versions.set(gcp.version(3), { key: ec, algorithm: 'RSA_SIGN_PSS_2048_SHA256', state: 'ENABLED' });
    await expect(provider({ keyVersionName: gcp.version(3) }).init()).rejects.toThrow(/algorithm RSA_SIGN_PSS_2048_SHA256; iAdvize needs RS256/);
    await expect(provider({ keyVersionName: gcp.version(99) }).init()).rejects.toThrow(/HTTP 404.*check "keyVersionName"/);
    await expect(provider({ keyVersionName: gcp.keyName }).init()).rejects.toThrow(/option "keyVersionName" must be a full key version name/);
  });

  it('never repeats a private key pasted into "keyVersionName" in its errors', async () => {
    const pem = pastedPrivateKeyPem();
    for (const overrides of [{ keyVersionName: pem }, { keyVersionName: pem, maxAttempts: 0 }, { keyVersionName: pem, timeoutMs: pem as unknown as number }]) {
      await expectStartupHidesKey(provider(overrides), pem);
    }
  });

  it('never repeats a credential pasted into "keyVersionName" in its errors', async () => {
    for (const secret of pastedCredentials()) {
      for (const overrides of [{ keyVersionName: secret.value }, { keyVersionName: secret.value, maxAttempts: 0 }]) {
        await expectStartupHidesSecret(provider(overrides), secret, 'keyVersionName');
      }
    }
  });

  it('uses a pre-built client and leaves it open on close()', async () => {
    const client = new KeyManagementServiceClient({ fallback: true, apiEndpoint: '127.0.0.1', port: gcp.port, protocol: 'http', authClient: authClient() });
    const p = new GcpKmsKeyProvider({ keyVersionName: gcp.version(1), client });
    await p.init();
    await p.close();
    const again = new GcpKmsKeyProvider({ keyVersionName: gcp.version(1), client });
    const input = Buffer.from('shared');
    expect(cryptoVerify('sha256', input, gcp.key.publicKey, await again.sign(input))).toBe(true);
    await again.close();
    await client.close();
  });
});

const liveVersion = process.env.GCP_KMS_TEST_KEY_VERSION;
(liveVersion ? describe : describe.skip)('GcpKmsKeyProvider (live Google Cloud, GCP_KMS_TEST_KEY_VERSION)', () => {
  it('signs with the real key version and Application Default Credentials', async () => {
    const p = new GcpKmsKeyProvider({ keyVersionName: liveVersion as string });
    await p.init();
    const input = Buffer.from('live test');
    expect(cryptoVerify('sha256', input, await p.getPublicKey(), await p.sign(input))).toBe(true);
    await p.close();
  });
});
