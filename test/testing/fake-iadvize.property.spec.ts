/**
 * Property-based tests of the recipient side (the testing kit plays iAdvize):
 * whatever arrives, `FakeIAdvize.open` either opens a genuine token to its own
 * identity or throws FakeIAdvizeError — never another error type, never a
 * different user. Random strings and bytes, JOSE-shaped garbage, mutated and
 * spliced real tokens.
 */
import fc from 'fast-check';
import { TokenService } from '../../lib/index.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import { FakeIAdvize, FakeIAdvizeError } from '../../lib/testing/index.js';
import { rsaKeyPair, type TestKeyPair } from '../support/keys.js';

const ISSUER = 'https://brand.example';
const JWE_HEADER = Buffer.from(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT' })).toString('base64url');
const B64URL = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'];

let brand: TestKeyPair;
let iadvize: FakeIAdvize;
let tokens: Array<{ userId: string; token: string }>;

beforeAll(async () => {
  brand = await rsaKeyPair('brand');
  iadvize = await FakeIAdvize.create();
  const service = new TokenService(await resolveIAdvizeAuthOptions({ issuer: ISSUER, signingKey: { pem: brand.privatePem }, iadvizePublicKey: iadvize.publicKeyPem }));
  tokens = [];
  for (const userId of ['alice', 'bob', 'carol', 'x'.repeat(255)]) {
    tokens.push({ userId, token: (await service.createToken({ userId, visitorData: { firstName: userId.slice(0, 10) } })).token });
  }
});

/** Opens `input`; returns the user id, or the FakeIAdvizeError reason; rethrows anything else. */
async function openOrReason(input: unknown): Promise<{ userId: string } | { reason: string }> {
  try {
    const opened = await iadvize.open(input as string, brand.publicPem, { issuer: ISSUER });
    return { userId: opened.userId };
  } catch (e) {
    if (e instanceof FakeIAdvizeError) return { reason: e.reason };
    throw new Error(`open() threw ${(e as Error)?.constructor?.name ?? typeof e} instead of FakeIAdvizeError: ${(e as Error)?.message}`);
  }
}

const b64urlString = (max: number) => fc.string({ unit: fc.constantFrom(...B64URL), maxLength: max });

const garbage: fc.Arbitrary<unknown> = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.uint8Array({ maxLength: 300 }),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.anything(),
  // Five parts of base64url: the right shape, random content.
  fc.array(b64urlString(80), { minLength: 5, maxLength: 5 }).map((p) => p.join('.')),
  // A correct JWE header followed by random parts.
  fc.array(b64urlString(400), { minLength: 4, maxLength: 4 }).map((p) => [JWE_HEADER, ...p].join('.')),
  // Hostile headers: other algorithms, zip, none, huge p2c, JSON junk.
  fc
    .tuple(
      fc.oneof(
        fc.record({ alg: fc.constantFrom('RSA1_5', 'RSA-OAEP', 'dir', 'none', 'PBES2-HS256+A128KW', 'ECDH-ES', 'A256KW'), enc: fc.constantFrom('A256GCM', 'A128CBC-HS256', 'A128GCM') }),
        fc.record({ alg: fc.constant('RSA-OAEP-256'), enc: fc.constant('A256GCM'), zip: fc.constant('DEF') }),
        fc.record({ alg: fc.constant('PBES2-HS512+A256KW'), enc: fc.constant('A256GCM'), p2c: fc.constant(1e9), p2s: fc.constant('AAAA') }),
        fc.object(),
      ),
      fc.array(b64urlString(200), { minLength: 4, maxLength: 4 }),
    )
    .map(([h, p]) => [Buffer.from(JSON.stringify(h)).toString('base64url'), ...p].join('.')),
);

describe('FakeIAdvize.open properties', () => {
  it('random strings, bytes and JOSE-shaped garbage only ever raise FakeIAdvizeError', async () => {
    await fc.assert(
      fc.asyncProperty(garbage, async (input) => {
        const result = await openOrReason(input);
        expect(result).toHaveProperty('reason');
      }),
      { numRuns: 400 },
    );
  });

  it('a mutated token is refused or, if the change is lost in base64url decoding, opens to the same user', async () => {
    const mutation = fc.record({
      which: fc.nat(),
      part: fc.integer({ min: 0, max: 4 }),
      at: fc.nat(),
      op: fc.constantFrom('replace', 'insert', 'delete', 'truncate', 'swap-case', 'pad'),
      char: fc.constantFrom(...B64URL, '=', '.', '+', '/', ' ', '\n'),
    });
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(mutation, async ({ which, part, at, op, char }) => {
        const original = tokens[which % tokens.length];
        const parts = original.token.split('.');
        const p = parts[part];
        const i = p.length === 0 ? 0 : at % p.length;
        const changed =
          op === 'replace' ? `${p.slice(0, i)}${char}${p.slice(i + 1)}`
          : op === 'insert' ? `${p.slice(0, i)}${char}${p.slice(i)}`
          : op === 'delete' ? `${p.slice(0, i)}${p.slice(i + 1)}`
          : op === 'truncate' ? p.slice(0, i)
          : op === 'swap-case' ? `${p.slice(0, i)}${p.charAt(i) === p.charAt(i).toUpperCase() ? p.charAt(i).toLowerCase() : p.charAt(i).toUpperCase()}${p.slice(i + 1)}`
          : `${p}==`;
        parts[part] = changed;
        const mutated = parts.join('.');
        fc.pre(mutated !== original.token);
        const result = await openOrReason(mutated);
        if ('userId' in result) expect(result.userId).toBe(original.userId);
        else refused++;
      }),
      { numRuns: 300 },
    );
    expect(refused).toBeGreaterThan(200);
  });

  it('splicing the parts of two users’ tokens never yields a third identity, nor the other user', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }), async (a, b, pick) => {
        const A = tokens[a % tokens.length];
        const B = tokens[b % tokens.length];
        fc.pre(A.userId !== B.userId);
        const pa = A.token.split('.');
        const pb = B.token.split('.');
        const spliced = pick.map((fromB, i) => (fromB ? pb[i] : pa[i])).join('.');
        const result = await openOrReason(spliced);
        if ('userId' in result) {
          // Only an unchanged token may open (the header part is identical in both).
          const source = spliced === A.token ? A : spliced === B.token ? B : undefined;
          expect(source).toBeDefined();
          expect(result.userId).toBe(source!.userId);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('sanity: the genuine tokens open to their own users', async () => {
    for (const t of tokens) expect(await openOrReason(t.token)).toEqual({ userId: t.userId });
  });
});
