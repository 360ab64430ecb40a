/**
 * FakeIAdvize refuses, with a precise reason, every token iAdvize would
 * refuse. The tokens are built here with jose directly (not with the
 * library), so each one breaks exactly one rule.
 */
import { createPublicKey } from 'node:crypto';
import { CompactEncrypt, SignJWT, importPKCS8, type JWTPayload } from 'jose';
import { FakeIAdvize, FakeIAdvizeError } from '../../lib/testing/index.js';
import { rsaKeyPair, type TestKeyPair } from '../support/keys.js';

const ISSUER = 'https://brand.example';
let brand: TestKeyPair;
let iadvize: FakeIAdvize;

beforeAll(async () => {
  brand = await rsaKeyPair('brand');
  iadvize = await FakeIAdvize.create();
});

async function make(payload: JWTPayload, { enc = 'A256GCM', withExp = true } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT(payload).setProtectedHeader({ alg: 'RS256' }).setIssuer(ISSUER).setIssuedAt(now);
  if (withExp) jwt = jwt.setExpirationTime(now + 60);
  const jws = await jwt.sign(await importPKCS8(brand.privatePem, 'RS256'));
  return new CompactEncrypt(new TextEncoder().encode(jws))
    .setProtectedHeader({ alg: 'RSA-OAEP-256', enc, cty: 'JWT' })
    .encrypt(createPublicKey(iadvize.publicKeyPem));
}

async function reason(token: string): Promise<string> {
  const e = await iadvize.open(token, brand.publicPem, { issuer: ISSUER }).then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(FakeIAdvizeError);
  return (e as FakeIAdvizeError).reason;
}

describe('FakeIAdvize.open refusals', () => {
  it('a well-formed token opens (the builder itself is sound)', async () => {
    const opened = await iadvize.open(await make({ 'https://iadvize.com/userId': 'u-1' }), brand.publicPem, { issuer: ISSUER });
    expect(opened.userId).toBe('u-1');
  });

  it('MISSING_CLAIM: no user id, or no exp', async () => {
    expect(await reason(await make({ sub: 'u-1' }))).toBe('MISSING_CLAIM');
    expect(await reason(await make({ 'https://iadvize.com/userId': 'u-1' }, { withExp: false }))).toBe('MISSING_CLAIM');
  });

  it('WRONG_HEADER: another content encryption than A256GCM', async () => {
    expect(await reason(await make({ 'https://iadvize.com/userId': 'u-1' }, { enc: 'A128GCM' }))).toBe('WRONG_HEADER');
  });

  it('INVALID_CLAIM: a non-string or oversized user id, non-string or unknown visitor data', async () => {
    expect(await reason(await make({ 'https://iadvize.com/userId': 42 }))).toBe('INVALID_CLAIM');
    expect(await reason(await make({ 'https://iadvize.com/userId': 'x'.repeat(256) }))).toBe('INVALID_CLAIM');
    expect(await reason(await make({ 'https://iadvize.com/userId': 'u-1', 'https://iadvize.com/visitorData': { zipCode: 44000 } }))).toBe('INVALID_CLAIM');
    expect(await reason(await make({ 'https://iadvize.com/userId': 'u-1', 'https://iadvize.com/visitorData': { shoeSize: '42' } }))).toBe('INVALID_CLAIM');
    expect(await reason(await make({ 'https://iadvize.com/userId': 'u-1', 'https://iadvize.com/visitorData': ['a'] }))).toBe('INVALID_CLAIM');
  });

  it('MALFORMED: not five parts, or a header that is not JSON', async () => {
    const good = await make({ 'https://iadvize.com/userId': 'u-1' });
    expect(await reason(good.split('.').slice(0, 4).join('.'))).toBe('MALFORMED');
    expect(await reason(['bm90IGpzb24', ...good.split('.').slice(1)].join('.'))).toBe('MALFORMED');
  });
});
