import { createPublicKey } from 'node:crypto';
import { compactDecrypt, decodeProtectedHeader } from 'jose';
import { InvalidIdentityError, PemKeyProvider, TokenService } from '../../lib/index.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import { FakeIAdvize, FakeIAdvizeError, type FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestBrandKey, authTestSetup } from '../support/auth-module.js';
import { rsaKeyPair } from '../support/keys.js';

const ISSUER = 'https://brand.example';

let setup: FakeIAdvizeSetup;
beforeAll(async () => {
  setup = await authTestSetup(ISSUER);
});

async function makeService(overrides: Record<string, unknown> = {}) {
  const brand = authTestBrandKey(setup);
  const iadvize = setup.iadvize;
  const config = await resolveIAdvizeAuthOptions({
    issuer: ISSUER,
    signingKey: { pem: brand.privatePem },
    iadvizePublicKey: iadvize.publicKeyPem,
    ...overrides,
  });
  return { service: new TokenService(config), brand, iadvize, config };
}

describe('TokenService', () => {
  it('mints a token FakeIAdvize opens to the same user, with the documented headers and claims', async () => {
    const { service, brand, iadvize } = await makeService();
    const before = Math.floor(Date.now() / 1000);
    const { token, expiresAt } = await service.createToken({ userId: 'customer-42' });
    const opened = await iadvize.open(token, brand.publicPem, { issuer: ISSUER });
    expect(opened.userId).toBe('customer-42');
    expect(opened.visitorData).toBeUndefined();
    expect(opened.jweHeader).toEqual({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT' });
    expect(opened.jwsHeader).toEqual({ alg: 'RS256' });
    expect(Object.keys(opened.claims).sort()).toEqual(['exp', 'https://iadvize.com/userId', 'iat', 'iss'].sort());
    expect(opened.claims.iss).toBe(ISSUER);
    expect(opened.claims.exp).toBe(expiresAt);
    expect(expiresAt - (opened.claims.iat as number)).toBe(60);
    expect(opened.claims.iat).toBeGreaterThanOrEqual(before);
    expect(token.split('.')).toHaveLength(5);
    expect(token.length).toBeGreaterThan(900);
    expect(token.length).toBeLessThan(1400);
  });

  it('carries all eight visitor data fields', async () => {
    const { service, brand, iadvize } = await makeService();
    const visitorData = {
      firstName: 'Jane', lastName: 'Doe', email: 'jane.doe@email.com', phoneNumber: '+33651229856',
      address: '9 rue Nina Simone', city: 'Nantes', zipCode: '44000', country: 'France',
    };
    const { token } = await service.createToken({ userId: 'test_documentation', visitorData });
    const opened = await iadvize.open(token, brand.publicPem);
    expect(opened.userId).toBe('test_documentation');
    expect(opened.visitorData).toEqual(visitorData);
    expect(token.length).toBeLessThan(1900);
  });

  it('mints a fresh token on every call (new CEK, IV and ciphertext)', async () => {
    const { service } = await makeService();
    const a = await service.createToken({ userId: 'u' });
    const b = await service.createToken({ userId: 'u' });
    expect(a.token).not.toBe(b.token);
    const [, ekA, ivA] = a.token.split('.');
    const [, ekB, ivB] = b.token.split('.');
    expect(ekA).not.toBe(ekB);
    expect(ivA).not.toBe(ivB);
  });

  it('honours tokenTtlSeconds and refuses expired tokens on the iAdvize side', async () => {
    const { service, brand, iadvize } = await makeService({ tokenTtlSeconds: 10 });
    const { token, expiresAt } = await service.createToken({ userId: 'u' });
    await expect(iadvize.open(token, brand.publicPem, { currentDate: new Date((expiresAt + 1) * 1000) })).rejects.toMatchObject({ reason: 'EXPIRED' });
    await expect(iadvize.open(token, brand.publicPem, { currentDate: new Date((expiresAt - 1) * 1000) })).resolves.toMatchObject({ userId: 'u' });
  });

  it('is refused by the wrong recipient, the wrong signer, a wrong issuer and any tampering', async () => {
    const { service, brand, iadvize } = await makeService();
    const { token } = await service.createToken({ userId: 'u' });
    const otherIAdvize = await FakeIAdvize.create();
    const otherBrand = await rsaKeyPair('other-brand');
    await expect(otherIAdvize.open(token, brand.publicPem)).rejects.toMatchObject({ reason: 'DECRYPTION_FAILED' });
    await expect(iadvize.open(token, otherBrand.publicPem)).rejects.toMatchObject({ reason: 'BAD_SIGNATURE' });
    await expect(iadvize.open(token, brand.publicPem, { issuer: 'https://evil.example' })).rejects.toMatchObject({ reason: 'WRONG_ISSUER' });
    const parts = token.split('.');
    for (let i = 1; i < 5; i++) {
      const tampered = [...parts];
      const bytes = Buffer.from(tampered[i], 'base64url');
      bytes[Math.floor(bytes.length / 2)] ^= 0x01;
      tampered[i] = bytes.toString('base64url');
      await expect(iadvize.open(tampered.join('.'), brand.publicPem)).rejects.toBeInstanceOf(FakeIAdvizeError);
    }
    // A header change breaks the GCM tag (the header is the AAD).
    const header = Buffer.from(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'jwt' })).toString('base64url');
    await expect(iadvize.open([header, ...parts.slice(1)].join('.'), brand.publicPem)).rejects.toMatchObject({ reason: 'DECRYPTION_FAILED' });
  });

  it('detects a token signed by a different key than the one the brand registered (wrong signer)', async () => {
    const { brand, iadvize } = await makeService();
    const impostor = await rsaKeyPair('impostor');
    const config = await resolveIAdvizeAuthOptions({ issuer: ISSUER, signingKey: new PemKeyProvider({ pem: impostor.privatePem }), iadvizePublicKey: iadvize.publicKeyPem });
    const { token } = await new TokenService(config).createToken({ userId: 'victim' });
    await expect(iadvize.open(token, brand.publicPem)).rejects.toMatchObject({ reason: 'BAD_SIGNATURE' });
  });

  it('decrypts with jose and yields a JWS whose payload is the claims object', async () => {
    const { service, iadvize } = await makeService();
    const { token } = await service.createToken({ userId: 'x' });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT' });
    const { plaintext } = await compactDecrypt(token, iadvize.privateKey);
    const jws = new TextDecoder().decode(plaintext);
    const [h, p, s] = jws.split('.');
    expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toEqual({ alg: 'RS256' });
    expect(JSON.parse(Buffer.from(p, 'base64url').toString())['https://iadvize.com/userId']).toBe('x');
    expect(Buffer.from(s, 'base64url')).toHaveLength(256);
  });

  describe('identity rules', () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['missing userId', {}, /userId: must be a string, got a undefined/],
      ['empty userId', { userId: '' }, /userId: must not be empty/],
      ['whitespace userId', { userId: '   ' }, /whitespace/],
      ['256-character userId', { userId: 'a'.repeat(256) }, /at most 255 characters/],
      ['numeric userId', { userId: 42 }, /convert it with String\(\)/],
      ['not an object', 'user-1', /identity: must be an object/],
      ['null', null, /identity: must be an object/],
      ['unknown identity field', { userId: 'u', role: 'admin' }, /unknown field "role"/],
      ['unknown visitor field', { userId: 'u', visitorData: { age: '3' } }, /visitorData: unknown field "age"/],
      ['non-string visitor field', { userId: 'u', visitorData: { email: 5 } }, /visitorData.email: must be a string/],
      ['oversized visitor field', { userId: 'u', visitorData: { city: 'x'.repeat(513) } }, /visitorData.city: must be at most 512/],
      ['visitorData array', { userId: 'u', visitorData: [] }, /visitorData: must be an object, got an array/],
      ['__proto__ key', JSON.parse('{"userId":"u","visitorData":{"__proto__":{"x":"1"}}}'), /unknown field "__proto__"/],
      ['class instance', new (class User { userId = 'u'; })(), /identity: must be an object/],
    ];
    it.each(cases)('refuses %s with InvalidIdentityError', async (_name, identity, message) => {
      const { service } = await makeService();
      const error = await service.createToken(identity as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidIdentityError);
      expect((error as InvalidIdentityError).code).toBe('IADVIZE_INVALID_IDENTITY');
      expect((error as Error).message).toMatch(message);
    });

    it('accepts 255 characters counted as code points (emoji included)', async () => {
      const { service, brand, iadvize } = await makeService();
      const userId = '😀'.repeat(255);
      const { token } = await service.createToken({ userId });
      expect((await iadvize.open(token, brand.publicPem)).userId).toBe(userId);
    });

    it('drops undefined visitor fields and never echoes values in errors', async () => {
      const { service, brand, iadvize } = await makeService();
      const { token } = await service.createToken({ userId: 'u', visitorData: { email: undefined, city: 'Nantes' } });
      expect((await iadvize.open(token, brand.publicPem)).visitorData).toEqual({ city: 'Nantes' });
      const err = await service.createToken({ userId: 'u', visitorData: { email: 'secret@x'.repeat(100) } }).catch((e: Error) => e);
      expect((err as Error).message).not.toContain('secret@x');
    });
  });

  it('exposes thumbprints, not keys', async () => {
    const { service, brand, config } = await makeService();
    expect(service.signingKeyThumbprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(config.signingPublicKey.export({ format: 'jwk' }).n).toBe(createPublicKey(brand.privateKey).export({ format: 'jwk' }).n);
    expect(config.usesProductionIAdvizeKey).toBe(false);
  });
});
