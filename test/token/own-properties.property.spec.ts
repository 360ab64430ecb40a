/**
 * Own-property rule of `validateIdentity`, property-based: whatever fields a
 * polluted `Object.prototype` carries (every field the function reads), a
 * valid identity comes back exactly as given (no inherited `userId`,
 * `visitorData` or visitor field), an identity without an own `userId` is
 * refused, and an identity whose getter or Proxy throws is an
 * `InvalidIdentityError`, never another error. Pollution is removed after
 * every run, before anything is compared.
 */
import fc from 'fast-check';
import { InvalidIdentityError, validateIdentity, VISITOR_DATA_FIELDS } from '../../lib/index.js';
import { expectedIdentity, validIdentity, validUserId, validVisitorData } from '../support/arbitraries.js';

/** Every field validateIdentity reads, plus the descriptor fields an own-property read must not trust. */
const READ_FIELDS = ['userId', 'visitorData', ...VISITOR_DATA_FIELDS, 'value', 'get'] as const;

const pollutionValue = fc.oneof(validUserId, validVisitorData, fc.constant(() => 'mallory'));
const pollution = fc.dictionary(fc.constantFrom(...READ_FIELDS), pollutionValue, { minKeys: 1 });

function withPollution<T>(fields: Record<string, unknown>, run: () => T): T {
  const proto = Object.prototype as Record<string, unknown>;
  try {
    for (const [k, v] of Object.entries(fields)) proto[k] = v;
    return run();
  } finally {
    for (const k of Object.keys(fields)) delete proto[k];
  }
}

function attempt(run: () => unknown): { ok: true; value: unknown } | { ok: false; error: unknown } {
  try {
    return { ok: true, value: run() };
  } catch (error) {
    return { ok: false, error };
  }
}

afterEach(() => {
  for (const k of READ_FIELDS) delete (Object.prototype as Record<string, unknown>)[k];
});

describe('validateIdentity reads own properties only', () => {
  it('returns exactly the identity given, whatever Object.prototype carries', () => {
    fc.assert(
      fc.property(validIdentity, pollution, (identity, fields) => {
        const outcome = withPollution(fields, () => attempt(() => validateIdentity(identity)));
        expect(outcome.ok).toBe(true);
        const result = (outcome as { value: object }).value;
        const expected = expectedIdentity(identity);
        expect(Object.keys(result).sort()).toEqual(Object.keys(expected).sort());
        expect(JSON.stringify(result)).toBe(JSON.stringify(expected));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses an identity whose userId is only inherited', () => {
    fc.assert(
      fc.property(validUserId, (userId) => {
        const outcome = withPollution({ userId }, () => attempt(() => validateIdentity({})));
        expect(outcome.ok).toBe(false);
        expect((outcome as { error: unknown }).error).toBeInstanceOf(InvalidIdentityError);
      }),
      { numRuns: 50 },
    );
  });

  it('turns every throwing getter or Proxy trap into InvalidIdentityError', () => {
    const boom = (): never => {
      throw new Error('hostile');
    };
    const hostile: Array<[string, () => unknown]> = [
      ['userId getter', () => Object.defineProperty({}, 'userId', { get: boom, enumerable: true })],
      ['visitorData getter', () => Object.defineProperty({ userId: 'a' }, 'visitorData', { get: boom, enumerable: true })],
      ['visitor field getter', () => ({ userId: 'a', visitorData: Object.defineProperty({}, 'firstName', { get: boom, enumerable: true }) })],
      ['identity proxy', () => new Proxy({ userId: 'a' }, { getOwnPropertyDescriptor: boom, get: boom, ownKeys: boom })],
      ['visitorData proxy', () => ({ userId: 'a', visitorData: new Proxy({ firstName: 'x' }, { getOwnPropertyDescriptor: boom, get: boom }) })],
    ];
    for (const [, make] of hostile) {
      expect(() => validateIdentity(make())).toThrow(InvalidIdentityError);
    }
  });
});
