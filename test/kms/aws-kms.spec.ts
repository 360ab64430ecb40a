/**
 * AwsKmsKeyProvider: the real @aws-sdk/client-kms against a loopback KMS
 * stand-in (awsJson1_1, SigV4 headers) holding real RSA keys.
 */
import { verify as cryptoVerify } from 'node:crypto';
import { KMSClient } from '@aws-sdk/client-kms';
import { InvalidKeyError, SigningUnavailableError, TokenService } from '../../lib/index.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import { AwsKmsKeyProvider, type AwsKmsKeyProviderOptions } from '../../lib/kms/aws-kms.js';
import { FakeIAdvize } from '../../lib/testing/index.js';
import { describeKeyProviderConformance } from '../support/kms-conformance.js';
import { expectStartupHidesKey, expectStartupHidesSecret, pastedCredentials, pastedPrivateKeyPem } from '../support/pasted-key.js';
import { AwsKmsStandin } from '../support/standins/aws-kms.standin.js';

const SECRET = 'standin-secret-access-key-9f8e7d6c5b4a';
let kms: AwsKmsStandin;

beforeAll(async () => {
  kms = await AwsKmsStandin.create();
});
afterAll(async () => {
  await kms.stop();
});
afterEach(() => {
  kms.reset();
});

function provider(overrides: Partial<AwsKmsKeyProviderOptions> = {}, accessKeyId = 'AKIDSTANDIN'): AwsKmsKeyProvider {
  return new AwsKmsKeyProvider({
    keyId: kms.alias,
    region: 'us-east-1',
    clientConfig: { endpoint: kms.url, credentials: { accessKeyId, secretAccessKey: SECRET } },
    backoffBaseMs: 5,
    backoffMaxMs: 50,
    ...overrides,
  });
}

describeKeyProviderConformance('AwsKmsKeyProvider (stand-in)', () => ({
  provider: () => provider(),
  refused: () => provider({}, 'AKIDREFUSED'),
  secrets: [SECRET],
  backendPublicKey: () => kms.key.publicKey,
  mismatches: [
    { label: 'another key', provider: () => provider(), arm: () => void (kms.signMode = 'other-key'), disarm: () => void (kms.signMode = 'own') },
    { label: 'PSS', provider: () => provider(), arm: () => void (kms.signMode = 'pss'), disarm: () => void (kms.signMode = 'own') },
  ],
}));

describe('AwsKmsKeyProvider', () => {
  it('sends only the SHA-256 digest (MessageType DIGEST, RSASSA_PKCS1_V1_5_SHA_256) to the pinned key ARN', async () => {
    const iadvize = await FakeIAdvize.create();
    const p = provider();
    const config = await resolveIAdvizeAuthOptions({ issuer: 'https://brand.example', signingKey: p, iadvizePublicKey: iadvize.publicKeyPem });
    const before = kms.requestsOf('Sign').length;
    await new TokenService(config).createToken({ userId: 'secret-user-id-123', visitorData: { email: 'pii@example.com' } });
    const signs = kms.requestsOf('Sign').slice(before);
    expect(signs).toHaveLength(1);
    const body = JSON.parse(signs[0].body) as Record<string, string>;
    expect(body.KeyId).toBe(kms.keyArn);
    expect(body.MessageType).toBe('DIGEST');
    expect(body.SigningAlgorithm).toBe('RSASSA_PKCS1_V1_5_SHA_256');
    expect(Buffer.from(body.Message, 'base64')).toHaveLength(32);
    expect(signs[0].body).not.toContain('secret-user-id-123');
    expect(signs[0].body).not.toContain('pii@example.com');
    expect(signs[0].headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDSTANDIN\//);
    expect(p.pinnedKeyArn).toBe(kms.keyArn);
    await p.close();
  });

  it('keeps signing with the key resolved at startup when the alias moves', async () => {
    const p = provider();
    await p.init();
    kms.aliasTarget = 'rotated';
    try {
      const input = Buffer.from('header.payload');
      const sig = await p.sign(input);
      expect(cryptoVerify('sha256', input, kms.key.publicKey, sig)).toBe(true);
      const fresh = provider();
      await fresh.init();
      expect(fresh.pinnedKeyArn).toBe(kms.rotatedKeyArn);
      await fresh.close();
    } finally {
      kms.aliasTarget = 'primary';
      await p.close();
    }
  });

  it('retries throttling and 5xx, then succeeds', async () => {
    const p = provider();
    await p.init();
    kms.inject('throttle', { op: 'Sign', times: 1 }).inject('unavailable', { op: 'Sign', times: 1 });
    const before = kms.requestsOf('Sign').length;
    const input = Buffer.from('retry me');
    const sig = await p.sign(input);
    expect(cryptoVerify('sha256', input, kms.key.publicKey, sig)).toBe(true);
    expect(kms.requestsOf('Sign').length - before).toBe(3);
    await p.close();
  });

  it('retries a reset connection', async () => {
    const p = provider();
    await p.init();
    kms.inject('reset', { op: 'Sign' });
    await expect(p.sign(Buffer.from('x'))).resolves.toHaveLength(256);
    await p.close();
  });

  it('gives up with SigningUnavailableError after maxAttempts on persistent 5xx', async () => {
    const p = provider({ maxAttempts: 3 });
    await p.init();
    kms.inject('unavailable', { op: 'Sign', times: Infinity });
    const before = kms.requestsOf('Sign').length;
    const err = await p.sign(Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SigningUnavailableError);
    expect((err as Error).message).toMatch(/KMSInternalException.*after 3 attempts/);
    expect(kms.requestsOf('Sign').length - before).toBe(3);
    await p.close();
  });

  it('times out a hung call per attempt and aborts the request', async () => {
    const p = provider({ timeoutMs: 150, maxAttempts: 2 });
    await p.init();
    kms.inject('hang', { op: 'Sign', times: Infinity });
    const started = Date.now();
    const err = await p.sign(Buffer.from('x')).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(err).toBeInstanceOf(SigningUnavailableError);
    expect((err as Error).message).toMatch(/timed out/);
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(1500);
    await new Promise((r) => setTimeout(r, 50));
    const hung = kms.requestsOf('Sign').filter((r) => r.fault === 'hang');
    expect(hung.length).toBeGreaterThanOrEqual(2);
    expect(hung.every((r) => r.abortedByClient)).toBe(true);
    await p.close();
  });

  it('honours the library signing deadline (signingTimeoutMs) through the AbortSignal', async () => {
    const iadvize = await FakeIAdvize.create();
    const p = provider({ timeoutMs: 10_000 });
    const config = await resolveIAdvizeAuthOptions({
      issuer: 'https://brand.example',
      signingKey: p,
      iadvizePublicKey: iadvize.publicKeyPem,
      signingTimeoutMs: 300,
    });
    kms.inject('hang', { op: 'Sign', times: Infinity });
    const started = Date.now();
    await expect(new TokenService(config).createToken({ userId: 'u' })).rejects.toBeInstanceOf(SigningUnavailableError);
    expect(Date.now() - started).toBeLessThan(1500);
    await new Promise((r) => setTimeout(r, 50));
    expect(kms.requestsOf('Sign').filter((r) => r.fault === 'hang').every((r) => r.abortedByClient)).toBe(true);
    await p.close();
  });

  it('does not retry an access denied error and reports it as a configuration problem', async () => {
    const p = provider();
    await p.init();
    kms.inject('denied', { op: 'Sign', times: Infinity });
    const before = kms.requestsOf('Sign').length;
    const err = await p.sign(Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidKeyError);
    expect((err as Error).message).toMatch(/AccessDeniedException.*kms:Sign/);
    expect(kms.requestsOf('Sign').length - before).toBe(1);
    await p.close();
  });

  it('does not retry refused credentials at startup', async () => {
    const p = provider({}, 'AKIDREFUSED');
    const before = kms.requestsOf('GetPublicKey').length;
    await expect(p.init()).rejects.toThrow(/UnrecognizedClientException/);
    expect(kms.requestsOf('GetPublicKey').length - before).toBe(1);
  });

  it('validates the key at startup: usage, spec, algorithms, existence', async () => {
    const cases: Array<[() => void, RegExp]> = [
      [() => (kms.spec.keyUsage = 'ENCRYPT_DECRYPT'), /key usage ENCRYPT_DECRYPT/],
      [() => (kms.spec.keySpec = 'ECC_NIST_P256'), /key spec ECC_NIST_P256/],
      [() => (kms.spec.signingAlgorithms = ['RSASSA_PSS_SHA_256']), /does not allow RSASSA_PKCS1_V1_5_SHA_256/],
    ];
    const saved = { ...kms.spec, signingAlgorithms: [...kms.spec.signingAlgorithms] };
    for (const [arm, message] of cases) {
      arm();
      try {
        const err = await provider().init().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InvalidKeyError);
        expect((err as Error).message).toMatch(message);
      } finally {
        Object.assign(kms.spec, saved);
      }
    }
    const missing = await provider({ keyId: 'alias/nope' }).init().catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(InvalidKeyError);
    expect((missing as Error).message).toMatch(/AWS KMS key "alias\/nope".*NotFoundException.*check "keyId"/);
    await expect(provider({ keyId: '' }).init()).rejects.toThrow(/option "keyId" is required/);
    await expect(provider({ maxAttempts: 0 }).init()).rejects.toThrow(/option "maxAttempts" must be a whole number from 1 to 10/);
  });

  it('never repeats a private key pasted into "keyId" in its errors', async () => {
    const pem = pastedPrivateKeyPem();
    for (const overrides of [{ keyId: pem }, { keyId: pem, maxAttempts: 0 }, { keyId: Buffer.from(pem).toString('base64') }]) {
      const message = await expectStartupHidesKey(provider(overrides), pem);
      expect(message).toMatch(/^AWS KMS key <redacted: looks like (?:a PEM private key|base64 key material or a credential), \d+ chars>/);
    }
  });

  it('never repeats a credential pasted into "keyId" (an AWS secret access key, a Vault token…) in its errors', async () => {
    for (const secret of pastedCredentials()) {
      for (const overrides of [{ keyId: secret.value }, { keyId: secret.value, maxAttempts: 0 }]) await expectStartupHidesSecret(provider(overrides), secret, 'keyId');
    }
  });

  it('uses a pre-built KMSClient and leaves it open on close()', async () => {
    const client = new KMSClient({
      region: 'us-east-1',
      endpoint: kms.url,
      credentials: { accessKeyId: 'AKIDSTANDIN', secretAccessKey: SECRET },
      maxAttempts: 1,
    });
    const p = new AwsKmsKeyProvider({ keyId: kms.keyArn, client });
    await p.init();
    await p.close();
    const again = new AwsKmsKeyProvider({ keyId: kms.keyArn, client });
    await again.init();
    const input = Buffer.from('same client');
    expect(cryptoVerify('sha256', input, kms.key.publicKey, await again.sign(input))).toBe(true);
    await again.close();
    client.destroy();
  });
});

const liveKey = process.env.AWS_KMS_TEST_KEY_ARN;
(liveKey ? describe : describe.skip)('AwsKmsKeyProvider (live AWS, AWS_KMS_TEST_KEY_ARN)', () => {
  it('signs with the real key and the default credential chain', async () => {
    const p = new AwsKmsKeyProvider({ keyId: liveKey as string, region: process.env.AWS_KMS_TEST_REGION });
    await p.init();
    const input = Buffer.from('live test');
    expect(cryptoVerify('sha256', input, await p.getPublicKey(), await p.sign(input))).toBe(true);
    await p.close();
  });
});
