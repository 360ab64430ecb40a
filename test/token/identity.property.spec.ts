/**
 * Property-based tests of the identity → token path.
 *
 * - Every valid identity (any Unicode scalar values incl. emoji, RTL text,
 *   bidi controls, JSON-special characters, 1..255 code points; any subset of
 *   the eight visitor fields up to 512 code points each) yields a token that
 *   FakeIAdvize opens to exactly that identity.
 * - Every invalid one is refused with InvalidIdentityError: never a token,
 *   never a signature, never another error type, never an echo of a value.
 *
 * Lone surrogates (`'\uD800'`): JSON.stringify escapes them (`"\ud800"`), so
 * they round-trip through FakeIAdvize, but a recipient that decodes to UTF-8
 * with replacement would map `"a\uD800"` and `"a\uDBFF"` to the same id and
 * merge two users. So they must be refused, and are (tested below).
 */
import fc from 'fast-check';
import {
  InvalidIdentityError,
  TokenService,
  validateIdentity,
  VISITOR_DATA_FIELDS,
} from '../../lib/index.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import { type FakeIAdvize, FakeKeyProvider } from '../../lib/testing/index.js';
import { authTestBrandKey, authTestSetup } from '../support/auth-module.js';
import type { TestKeyPair } from '../support/keys.js';
import {
  codePointLength,
  deepObject,
  expectedIdentity,
  hostileKeys,
  nonString,
  unicodeString,
  validIdentity,
  validUserId,
} from '../support/arbitraries.js';

const ISSUER = 'https://brand.example';
const USER_ID_CLAIM = 'https://iadvize.com/userId';
const VISITOR_DATA_CLAIM = 'https://iadvize.com/visitorData';

let brand: TestKeyPair;
let iadvize: FakeIAdvize;
/** Counts signatures, so a refused identity provably never reached the signer. */
let signer: FakeKeyProvider;
let service: TokenService;

beforeAll(async () => {
  const setup = await authTestSetup();
  brand = authTestBrandKey(setup);
  iadvize = setup.iadvize;
  signer = new FakeKeyProvider({ privateKeyPem: brand.privatePem, kind: 'counting' });
  service = new TokenService(
    await resolveIAdvizeAuthOptions({ issuer: ISSUER, signingKey: signer, iadvizePublicKey: iadvize.publicKeyPem, selfCheck: false }),
  );
});

/** Creates an own, enumerable property even for `__proto__` (as JSON.parse does). */
function withOwn(target: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  return target;
}

/**
 * Every string value ≥ 8 characters anywhere in `value` (personal data that
 * must never be echoed). Field names are not values: the library may name an
 * unknown field, so a value equal to some key is skipped.
 */
function longStrings(value: unknown, out: string[] = [], keys = new Set<string>(), depth = 0): string[] {
  if (depth > 6) return out;
  if (typeof value === 'string') {
    if (value.length >= 8) out.push(value);
  } else if (value && typeof value === 'object') {
    for (const k of Object.keys(value)) keys.add(k);
    for (const v of Object.values(value)) longStrings(v, out, keys, depth + 1);
  }
  return depth === 0 ? out.filter((s) => ![...keys].some((k) => k.includes(s))) : out;
}

const oversizedUserId = fc.oneof(
  unicodeString(256, 300),
  fc.integer({ min: 256, max: 5000 }).map((n) => 'u'.repeat(n)),
  fc.integer({ min: 256, max: 400 }).map((n) => '😀'.repeat(n)),
);
const blankUserId = fc.constantFrom('', ' ', '\t\n', '\u00a0', '\u3000', '\ufeff', '\u2028', ' '.repeat(255));
const fieldName = fc.constantFrom(...VISITOR_DATA_FIELDS);
const nonStringValue = nonString.filter((v) => v !== undefined);

/** Identities that break a rule, each tagged with the rule. */
const invalidIdentity: fc.Arbitrary<[string, unknown]> = fc.oneof(
  nonString.map((v) => ['not a plain object', v] as [string, unknown]),
  fc.constantFrom<[string, unknown]>(
    ['class instance', new (class User { userId = 'u'; })()],
    ['Map', new Map([['userId', 'u']])],
    ['array', [{ userId: 'u' }]],
    ['object with a prototype', Object.create({ userId: 'u' })],
    ['Object.create(proto) with own userId', Object.assign(Object.create({ isAdmin: true }), { userId: 'u' })],
    ['boxed identity', Object(Symbol('x'))],
    ['empty object', {}],
    ['__proto__ via JSON.parse', JSON.parse('{"userId":"u","__proto__":{"userId":"admin"}}')],
    ['constructor.prototype via JSON.parse', JSON.parse('{"userId":"u","constructor":{"prototype":{"userId":"admin"}}}')],
    ['visitor __proto__ via JSON.parse', JSON.parse('{"userId":"u","visitorData":{"__proto__":{"email":"x@y.z"}}}')],
    ['visitor constructor via JSON.parse', JSON.parse('{"userId":"u","visitorData":{"constructor":"x"}}')],
    ['visitor prototype key', { userId: 'u', visitorData: { prototype: 'x' } }],
    ['visitorData with a prototype', { userId: 'u', visitorData: Object.create({ email: 'x@y.z' }) }],
    ['deep visitorData', { userId: 'u', visitorData: deepObject(200) }],
    ['deep visitor value', { userId: 'u', visitorData: { email: deepObject(200) } }],
  ),
  fc.record({ userId: oversizedUserId }).map((v) => ['userId longer than 255 code points', v] as [string, unknown]),
  fc.record({ userId: blankUserId }).map((v) => ['userId empty or blank', v] as [string, unknown]),
  nonString.map((userId) => ['userId not a string', { userId }] as [string, unknown]),
  fc
    .tuple(validUserId, hostileKeys.filter((k) => k !== 'userId' && k !== 'visitorData'), fc.anything())
    .map(([userId, key, value]) => ['unknown identity field', withOwn({ userId }, key, value)] as [string, unknown]),
  fc
    .tuple(validUserId, fc.oneof(nonStringValue, fc.string(), fc.constant(null), fc.constant([])))
    .filter(([, v]) => !(v !== null && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype))
    .map(([userId, visitorData]) => ['visitorData not a plain object', { userId, visitorData }] as [string, unknown]),
  fc
    .tuple(validUserId, hostileKeys.filter((k) => !(VISITOR_DATA_FIELDS as readonly string[]).includes(k)), fc.string())
    .map(([userId, key, value]) => ['unknown visitor field', { userId, visitorData: withOwn({}, key, value) }] as [string, unknown]),
  fc
    .tuple(validUserId, fieldName, nonStringValue)
    .map(([userId, field, value]) => ['non-string visitor value', { userId, visitorData: { [field]: value } }] as [string, unknown]),
  fc
    .tuple(validUserId, fieldName, fc.oneof(unicodeString(513, 600), fc.integer({ min: 513, max: 100_000 }).map((n) => 'v'.repeat(n))))
    .map(([userId, field, value]) => ['visitor value longer than 512 code points', { userId, visitorData: { [field]: value } }] as [string, unknown]),
);

describe('identity properties', () => {
  it('every valid identity yields a token FakeIAdvize opens to exactly that identity', async () => {
    await fc.assert(
      fc.asyncProperty(validIdentity, async (identity) => {
        const before = signer.calls;
        const { token, expiresAt } = await service.createToken(identity);
        expect(signer.calls).toBe(before + 1);
        const opened = await iadvize.open(token, brand.publicPem, { issuer: ISSUER });
        const expected = expectedIdentity(identity);
        // Exact UTF-16 equality, not normalised, not trimmed.
        expect(opened.userId).toBe(identity.userId);
        expect(codePointLength(opened.userId)).toBeLessThanOrEqual(255);
        expect(opened.claims[USER_ID_CLAIM]).toBe(expected.userId);
        expect(opened.claims[VISITOR_DATA_CLAIM]).toEqual(expected.visitorData);
        expect(Object.keys(opened.claims).sort()).toEqual(
          ['exp', 'iat', 'iss', USER_ID_CLAIM, ...(expected.visitorData ? [VISITOR_DATA_CLAIM] : [])].sort(),
        );
        expect(opened.claims.exp).toBe(expiresAt);
      }),
      {
        numRuns: 120,
        examples: [
          [{ userId: 'x' }],
          [{ userId: '😀'.repeat(255) }],
          [{ userId: 'שלום-مرحبا\u202e', visitorData: { firstName: '"}],\\', city: '\u2028\u2029', country: '' } }],
          [{ userId: '{"https://iadvize.com/userId":"admin"}', visitorData: { email: undefined } }],
        ],
      },
    );
  });

  it('every invalid identity is refused with InvalidIdentityError: no token, no signature, no value echoed', async () => {
    await fc.assert(
      fc.asyncProperty(invalidIdentity, async ([rule, identity]) => {
        const before = signer.calls;
        let sync: unknown;
        try {
          validateIdentity(identity);
        } catch (e) {
          sync = e;
        }
        expect(sync).toBeInstanceOf(InvalidIdentityError);
        const outcome = await service.createToken(identity as never).then(
          (t) => ({ token: t }),
          (e: unknown) => ({ error: e }),
        );
        expect(outcome).not.toHaveProperty('token');
        const error = (outcome as { error: unknown }).error;
        expect(error).toBeInstanceOf(InvalidIdentityError);
        const e = error as InvalidIdentityError;
        expect(e.code).toBe('IADVIZE_INVALID_IDENTITY');
        expect(e.problems.length).toBeGreaterThan(0);
        expect(e.message.length).toBeLessThan(4000);
        for (const value of longStrings(identity)) {
          expect({ rule, echoed: e.message.includes(value) }).toEqual({ rule, echoed: false });
        }
        expect(signer.calls).toBe(before);
      }),
      { numRuns: 400 },
    );
  });

  it('the boundaries are exact: 255 code points pass, 256 fail, for any mix of BMP and astral characters', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom('a', 'é', 'ש', '😀', '𝒳', '"'), { minLength: 256, maxLength: 256 }), async (chars) => {
        const ok = chars.slice(0, 255).join('');
        expect(validateIdentity({ userId: ok }).userId).toBe(ok);
        expect(() => validateIdentity({ userId: chars.join('') })).toThrow(InvalidIdentityError);
        const value512 = [...chars, ...chars].slice(0, 512).join('');
        expect(validateIdentity({ userId: 'u', visitorData: { address: value512 } }).visitorData?.address).toBe(value512);
        expect(() => validateIdentity({ userId: 'u', visitorData: { address: `${value512}a` } })).toThrow(InvalidIdentityError);
      }),
      { numRuns: 50 },
    );
  });

  it('the returned identity is a clean copy: later changes to the input do not reach the token', async () => {
    const input = { userId: 'alice', visitorData: { firstName: 'Alice' } };
    const clean = validateIdentity(input);
    input.userId = 'bob';
    input.visitorData.firstName = 'Bob';
    expect(clean).toEqual({ userId: 'alice', visitorData: { firstName: 'Alice' } });
    expect(Object.getPrototypeOf(clean)).toBe(Object.prototype);
  });

  // Identities must be well-formed Unicode: a lone surrogate would let two
  // distinct ids collapse into one at a recipient that replaces invalid UTF-16.
  it('refuses lone surrogates in userId and visitor values (two ids must never collapse into one)', () => {
    for (const identity of [{ userId: 'a\ud800' }, { userId: '\udc00' }, { userId: 'u', visitorData: { email: 'x\udbff' } }]) {
      expect(() => validateIdentity(identity)).toThrow(InvalidIdentityError);
    }
  });

  // A getter or Proxy trap that throws must not escape as a raw Error.
  it('an identity whose getters or proxy traps throw is refused with InvalidIdentityError, not a raw error', () => {
    const getter = Object.defineProperty({}, 'userId', { enumerable: true, get: () => { throw new Error('boom'); } });
    const proxy = new Proxy({ userId: 'u' }, { getPrototypeOf: () => { throw new Error('trap'); } });
    for (const identity of [getter, proxy]) {
      expect(() => validateIdentity(identity)).toThrow(InvalidIdentityError);
    }
  });
});
