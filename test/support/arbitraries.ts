/**
 * fast-check arbitraries shared by the property specs: valid and hostile
 * iAdvize identities, and garbage for every option.
 */
import fc from 'fast-check';
import { VISITOR_DATA_FIELDS } from '../../lib/index.js';

/** Code points that stress JSON encoding: quotes, backslash, controls, line separators. */
export const JSON_SPECIAL = ['"', '\\', '/', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u001f', '\u007f', '\u2028', '\u2029', '\ufeff', '<', '>', '&', "'", '`', '$', '{', '}'];
/** Right-to-left text and bidi controls. */
export const RTL = ['א', 'ש', 'ל', 'ו', 'م', 'ر', 'ح', 'ب', 'ا', '\u200f', '\u202e', '\u202b', '\u2067', '\u061c'];
/** Single-code-point emoji and symbols outside the BMP (surrogate pairs in UTF-16). */
export const ASTRAL = ['😀', '🔐', '🇫', '🇷', '𝒳', '𐍈', '🀄', '\u{10ffff}', '\u{1f9d1}', '\u{e0001}'];
/** Combining marks and joiners: one visible glyph, several code points. */
export const COMBINING = ['\u0301', '\u0308', '\u200d', '\ufe0f', '\u20e3'];

/** Any Unicode scalar value (never a lone surrogate). */
const anyScalar = fc
  .integer({ min: 0, max: 0x10ffff - 0x800 })
  .map((n) => String.fromCodePoint(n >= 0xd800 ? n + 0x800 : n));

/** One code point, biased towards the hard cases above. */
export const codePointUnit = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...'abcXYZ019-_.@+:|'.split('')) },
  { weight: 2, arbitrary: fc.constantFrom(...JSON_SPECIAL) },
  { weight: 2, arbitrary: fc.constantFrom(...RTL) },
  { weight: 2, arbitrary: fc.constantFrom(...ASTRAL) },
  { weight: 1, arbitrary: fc.constantFrom(...COMBINING) },
  { weight: 3, arbitrary: anyScalar },
);

/** Length in code points, as the library and iAdvize count it. */
export function codePointLength(s: string): number {
  return [...s].length;
}

/** A string of `min..max` code points (well-formed UTF-16). */
export function unicodeString(min: number, max: number): fc.Arbitrary<string> {
  return fc.string({ unit: codePointUnit, minLength: min, maxLength: max });
}

/** A valid user id: 1..255 code points, not only whitespace. */
export const validUserId = fc
  .oneof(
    { weight: 6, arbitrary: unicodeString(1, 40) },
    { weight: 2, arbitrary: unicodeString(200, 255) },
    { weight: 1, arbitrary: fc.constantFrom('😀'.repeat(255), 'a'.repeat(255), 'x', '0', '"', '\\', ' a ', '\u200f') },
  )
  .filter((s) => s.trim().length > 0);

/** A valid visitor data value: 0..512 code points. */
export const validVisitorValue = fc.oneof(
  { weight: 5, arbitrary: unicodeString(0, 30) },
  { weight: 1, arbitrary: unicodeString(480, 512) },
);

/** Valid visitor data: any subset of the eight documented fields; values may be `undefined` (dropped). */
export const validVisitorData = fc.record(
  Object.fromEntries(VISITOR_DATA_FIELDS.map((f) => [f, fc.option(validVisitorValue, { nil: undefined, freq: 3 })])) as Record<
    (typeof VISITOR_DATA_FIELDS)[number],
    fc.Arbitrary<string | undefined>
  >,
  { requiredKeys: [] },
);

/** A valid identity, sometimes with an explicit `visitorData: undefined`. */
export const validIdentity = fc.record(
  { userId: validUserId, visitorData: fc.option(validVisitorData, { nil: undefined, freq: 4 }) },
  { requiredKeys: ['userId'] },
);

/** The identity iAdvize must read back: undefined visitor fields dropped, empty visitor data omitted. */
export function expectedIdentity(identity: { userId: string; visitorData?: Record<string, string | undefined> }): {
  userId: string;
  visitorData?: Record<string, string>;
} {
  const visitorData = Object.fromEntries(Object.entries(identity.visitorData ?? {}).filter(([, v]) => v !== undefined)) as Record<string, string>;
  return Object.keys(visitorData).length > 0 ? { userId: identity.userId, visitorData } : { userId: identity.userId };
}

/** Values that are not strings, including look-alikes (boxed strings, String-like objects). */
export const nonString = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.bigInt(),
  fc.boolean(),
  fc.constantFrom(null, undefined, NaN, Infinity, Symbol('userId')),
  fc.string().map((s) => new String(s)),
  fc.string().map((s) => ({ toString: () => s, valueOf: () => s })),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.date(),
  fc.func(fc.string()),
  fc.object({ maxDepth: 2 }),
);

/** Keys that attack prototypes or are simply unknown. */
export const hostileKeys = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', 'isAdmin', 'userid', 'UserId', 'user_id', 'sub', 'https://iadvize.com/userId', ''),
  fc.string({ minLength: 1, maxLength: 60 }),
);

/** A deeply nested object (`depth` levels of `{ a: { a: … } }`). */
export function deepObject(depth: number): Record<string, unknown> {
  let o: Record<string, unknown> = { a: 'leaf' };
  for (let i = 0; i < depth; i++) o = { a: o };
  return o;
}
