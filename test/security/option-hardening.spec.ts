/**
 * Startup refuses options that would make tokens unsafe or malformed, and
 * says so without echoing the value:
 * - an RSA public exponent that is not odd and >= 3 (e = 1 makes RSA-OAEP the
 *   identity: the "encrypted" CEK is the CEK), for iAdvize's key in every
 *   input form and for the brand's key (signingPublicKey, a provider's
 *   public key);
 * - a `clock` that returns anything but a finite number of milliseconds (or
 *   throws); a clock that goes bad later fails the token with a 503 on both
 *   adapters, never a token with `"iat": null`;
 * - an `issuer` that is not a reasonable StringOrURI (RFC 7519), or is key
 *   material pasted in the wrong option.
 */
import { createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import request from 'supertest';
import {
  InvalidOptionsError,
  PemKeyProvider,
  SigningUnavailableError,
  TokenService,
  type KeyProvider,
} from '../../lib/index.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import type { FakeIAdvize, FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestBrandKey, authTestModule, authTestSetup } from '../support/auth-module.js';
import { rsaKeyPair, type TestKeyPair } from '../support/keys.js';
import { PLATFORMS, startApp } from '../support/platforms.js';

const ISSUER = 'https://brand.example';

let setup: FakeIAdvizeSetup;
let brand: TestKeyPair;
let iadvize: FakeIAdvize;
let modulus: string;

beforeAll(async () => {
  setup = await authTestSetup(ISSUER);
  brand = authTestBrandKey(setup);
  iadvize = setup.iadvize;
  modulus = (await rsaKeyPair('other')).publicKey.export({ format: 'jwk' }).n as string;
});

function base(): Record<string, unknown> {
  return { issuer: ISSUER, signingKey: { pem: brand.privatePem }, iadvizePublicKey: iadvize.publicKeyPem };
}

async function problemsOf(raw: Record<string, unknown>): Promise<string[]> {
  const error = await resolveIAdvizeAuthOptions(raw).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidOptionsError);
  return [...(error as InvalidOptionsError).problems];
}

async function resolves(raw: Record<string, unknown>): Promise<void> {
  await expect(resolveIAdvizeAuthOptions(raw)).resolves.toBeDefined();
}

describe('RSA public exponent', () => {
  /** Exponents no RSA key should have: 0 and 1 (identity), even ones. */
  const BAD_EXPONENTS: Array<[string, string]> = [
    ['1', 'AQ'],
    ['2', 'Ag'],
    ['4', 'BA'],
    ['65536', 'AQAA'],
  ];
  const publicKeyWith = (e: string): KeyObject => createPublicKey({ key: { kty: 'RSA', n: modulus, e }, format: 'jwk' });

  /** Every way a public key reaches the options. */
  const FORMS: Array<[string, (key: KeyObject) => Record<string, unknown>]> = [
    ['iadvizePublicKey { jwk }', (k) => ({ iadvizePublicKey: { jwk: k.export({ format: 'jwk' }) as JsonWebKey } })],
    ['iadvizePublicKey PEM', (k) => ({ iadvizePublicKey: k.export({ type: 'spki', format: 'pem' }) })],
    ['iadvizePublicKey { pem } PKCS#1', (k) => ({ iadvizePublicKey: { pem: k.export({ type: 'pkcs1', format: 'pem' }) } })],
    ['iadvizePublicKey base64 SPKI body', (k) => ({ iadvizePublicKey: k.export({ type: 'spki', format: 'der' }).toString('base64') })],
    ['iadvizePublicKey KeyObject', (k) => ({ iadvizePublicKey: k })],
    ['signingPublicKey', (k) => ({ signingPublicKey: k.export({ type: 'spki', format: 'pem' }) })],
    [
      "a key provider's public key",
      (k) => {
        const inner = new PemKeyProvider({ pem: brand.privatePem });
        const provider: KeyProvider = { alg: 'RS256', kind: 'remote-like', sign: (i) => inner.sign(i), getPublicKey: async () => k };
        return { signingKey: provider, selfCheck: false };
      },
    ],
  ];

  it.each(BAD_EXPONENTS)('e = %s is refused in every form, naming the option, not the key', async (_e, e) => {
    const key = publicKeyWith(e);
    for (const [form, make] of FORMS) {
      const problems = await problemsOf({ ...base(), ...make(key) });
      expect({ form, problems: problems.filter((p) => /unsafe RSA public exponent/.test(p)).length }).toEqual({ form, problems: 1 });
      expect(problems.join('\n')).not.toContain(modulus.slice(0, 40));
    }
  });

  it('accepts 65537 and 3 (odd, >= 3) for both keys', async () => {
    const three = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 });
    await resolves({ ...base(), iadvizePublicKey: three.publicKey });
    await resolves({ ...base(), signingKey: { pem: three.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() } });
  });
});

describe('clock', () => {
  const BAD_READINGS: Array<[string, () => unknown]> = [
    ['NaN', () => NaN],
    ['undefined', () => undefined],
    ['null', () => null],
    ['Infinity', () => Infinity],
    ['-Infinity', () => -Infinity],
    ['a numeric string', () => '1700000000000'],
    ['a Date', () => new Date()],
    ['a bigint', () => 1700000000000n],
    ['a negative number', () => -1],
    ['beyond the last Date', () => 9e15],
    ['a throw', () => {
      throw new Error('clock broke');
    }],
  ];

  it.each(BAD_READINGS)('a clock returning %s is refused at startup', async (_what, clock) => {
    const problems = await problemsOf({ ...base(), clock });
    expect(problems).toEqual([expect.stringMatching(/^clock: returned .*finite number of milliseconds/)]);
  });

  describe.each(PLATFORMS)('a clock that goes bad after startup, on %s', (_name, platform) => {
    it.each(BAD_READINGS)('returning %s: 503 IADVIZE_SIGNING_UNAVAILABLE, never a token', async (_what, bad) => {
      let reading: () => unknown = Date.now;
      const { moduleRef } = await authTestModule(setup, {
        options: { clock: () => reading() as number },
        controller: { guards: [{ canActivate: (ctx) => ((ctx.switchToHttp().getRequest().user = { id: 'alice' }), true) }] },
      });
      const app = await startApp(moduleRef, platform);
      try {
        reading = bad;
        const res = await request(app.getHttpServer()).post('/iadvize/token');
        expect([res.status, res.body.code, res.body.token]).toEqual([503, 'IADVIZE_SIGNING_UNAVAILABLE', undefined]);
        await expect(moduleRef.get(TokenService).createToken({ userId: 'alice' })).rejects.toBeInstanceOf(SigningUnavailableError);
      } finally {
        await app.close();
      }
    });
  });
});

describe('issuer', () => {
  const pem = (): string => brand.privatePem;
  /** Values that are no reasonable StringOrURI; each must be refused without being echoed. */
  const BAD: Array<[string, () => string]> = [
    ['a private key PEM', pem],
    ['a PEM with escaped newlines', () => pem().replace(/\n/g, '\\n')],
    ['a public key PEM', () => brand.publicPem],
    ['a base64 DER key', () => brand.privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64')],
    ['a base64 SPKI body', () => brand.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')],
    ['a JWK', () => JSON.stringify(brand.publicKey.export({ format: 'jwk' }))],
    ['a trailing space', () => 'https://brand.example '],
    ['an inner space', () => 'brand example'],
    ['a tab', () => 'brand\texample'],
    ['a newline', () => 'https://brand.example\nX-Injected: 1'],
    ['a NUL', () => 'brand\u0000example'],
    ['a DEL', () => 'brand\u007fexample'],
    ['a zero-width space', () => 'brand\u200bexample'],
    ['a bidi override', () => 'brand\u202eelpmaxe'],
    ['a no-break space', () => 'brand\u00a0example'],
    ['a lone surrogate', () => 'brand\ud800example'],
    ['a colon but no URI', () => 'brand:: not/a uri'],
    ['a colon first', () => ':brand'],
    ['161 characters', () => `https://brand.example/${'a.'.repeat(69)}a`],
  ];
  const GOOD = [
    'https://brand.example',
    'https://www.example.com',
    'https://www.example.com/chat',
    'brand',
    'acme-chat',
    'urn:example:brand',
    'https://例え.jp/😀',
    `https://brand.example/${'a.'.repeat(69)}`,
    // Public ids that look random to the redaction rule: accepted in a URL (and a UUID anywhere).
    'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0',
    'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6',
    'https://example.okta.com/oauth2/aus1a2b3c4d5e6f7g8h9',
    'https://brand-7c9e6679.example.com',
    'https://xn--r8jz45g.jp/%F0%9F%98%80',
    'https://example.com/#frag',
    'https://brand.example/?site=fr',
  ];
  /** Credentials of a known shape: the redaction rule names them credentials, so they are refused as key material, like a PEM. */
  const CREDENTIALS: Array<[string, string]> = [
    ['an AWS access key id', 'AKIAIOSFODNN7EXAMPLE'],
    ['a JWT', ['eyJhbGciOiJIUzI1NiJ9', 'eyJzdWIiOiJhbGljZSJ9', 'c2lnbmF0dXJlLW5vdC1yZWFs'].join('.')],
    ['a Vault token', 'hvs.CAESIGq3ZxT0kNw8rJb2Lm5Yp'],
    ['a GitHub token', 'ghp_R2d2C3poK7x9QwErTyUiOpAsDfGhJkLz'],
  ];
  const KEY_MATERIAL =
    'issuer: looks like key material (a PEM, a JWK or a base64 key), not an issuer; keep keys in signingKey and set it to your site\'s URL, e.g. "https://www.example.com"';

  it.each(CREDENTIALS)('refuses %s with the key material message (the redaction rule would hide it), without echoing it', async (_what, issuer) => {
    const problems = await problemsOf({ ...base(), issuer });
    expect(problems).toEqual([KEY_MATERIAL]);
  });

  it('refuses a URL with credentials, and a bare string the redaction rule would hide, saying what it looks like', async () => {
    // An AWS secret access key has no fixed shape: it is refused as random-looking, like a passphrase.
    const awsSecret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    for (const issuer of ['https://user@brand.example', 'https://user:pa55@brand.example/chat', 'brand!chat', 'Tr0ub4dor7x9', 'urn:brand:a8f3c9e1d2b7f4e6', awsSecret]) {
      const problems = await problemsOf({ ...base(), issuer });
      expect(problems).toEqual([expect.stringMatching(/^issuer: (is|holds|looks) [^"]+, which the redaction rule hides/)]);
      expect(problems.join('\n')).not.toContain(issuer);
    }
  });

  it.each(BAD)('refuses %s, without echoing it', async (_what, make) => {
    const issuer = make();
    const problems = await problemsOf({ ...base(), issuer });
    expect(problems).toEqual([expect.stringMatching(/^issuer: /)]);
    const text = problems.join('\n');
    expect(text).not.toContain(issuer);
    expect(text).not.toMatch(/-----BEGIN|MII|"kty"|brand.?example|elpmaxe/);
  });

  it.each(GOOD.map((g) => [g.length > 60 ? `${g.slice(0, 30)}… (${g.length} characters)` : g, g]))('accepts %s', async (_label, issuer) => {
    expect(issuer.length).toBeLessThanOrEqual(160);
    await resolves({ ...base(), issuer });
  });
});
