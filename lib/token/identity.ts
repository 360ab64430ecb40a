import { InvalidIdentityError } from '../errors.js';
import { ownValue } from './own-property.js';
import { USER_ID_MAX_LENGTH, VISITOR_DATA_FIELDS, VISITOR_DATA_VALUE_MAX_LENGTH } from '../iadvize.constants.js';

/**
 * One of the visitor data fields iAdvize documents.
 * @public
 */
export type VisitorDataField = (typeof VISITOR_DATA_FIELDS)[number];

/**
 * Visitor data shown to the agent. Every field is optional and a string.
 * @public
 */
export type IAdvizeVisitorData = Partial<Record<VisitorDataField, string>>;

/**
 * Who the token is for: what a {@link UserResolver} returns, what
 * `@IAdvizeIdentity()` hands a controller and what `TokenService.createToken` takes.
 * @public
 */
export interface IAdvizeUser {
  /**
   * The user's stable, unique id (1..255 characters). Never reuse an id for
   * another person: iAdvize would merge both into one visitor and show each
   * the other's conversations. Must be identical on web and mobile.
   */
  userId: string;
  /** Optional visitor data (`firstName`, `lastName`, `email`, `phoneNumber`, `address`, `city`, `zipCode`, `country`). */
  visitorData?: IAdvizeVisitorData;
}

const ALLOWED_FIELDS: ReadonlySet<string> = new Set(VISITOR_DATA_FIELDS);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Length in Unicode code points (an emoji counts as one character). */
function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** Quotes a field name for a message, cut short so a hostile key cannot flood logs. */
function fieldName(name: string): string {
  return JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name);
}

/** A lone UTF-16 surrogate (not well-formed Unicode). */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Checks an identity against iAdvize's rules and returns a clean copy holding
 * only the documented fields. Throws {@link InvalidIdentityError} listing every
 * broken rule; never echoes values (they are personal data).
 *
 * Only own properties are read (of the identity and of `visitorData`): a field
 * inherited from a prototype, e.g. a polluted `Object.prototype`, is ignored.
 * A getter or Proxy that throws is an invalid identity, never another error.
 * @public
 */
export function validateIdentity(identity: unknown): IAdvizeUser {
  try {
    return checkIdentity(identity);
  } catch (e) {
    if (e instanceof InvalidIdentityError) throw e;
    throw new InvalidIdentityError(['identity: could not be read (a getter or proxy threw); pass plain data']);
  }
}

function checkIdentity(identity: unknown): IAdvizeUser {
  const problems: string[] = [];
  if (!isPlainObject(identity)) {
    throw new InvalidIdentityError([`identity: must be an object { userId, visitorData? }, got ${describeType(identity)}`]);
  }
  for (const key of Object.keys(identity)) {
    if (key !== 'userId' && key !== 'visitorData') problems.push(`identity: unknown field ${fieldName(key)}`);
  }
  // Own properties only: a `userId` or `visitorData` inherited from a polluted
  // `Object.prototype` must never reach a token.
  const userId = ownValue(identity, 'userId');
  const visitorData = ownValue(identity, 'visitorData');
  if (typeof userId !== 'string') {
    problems.push(`userId: must be a string, got ${describeType(userId)}${typeof userId === 'number' ? ' (convert it with String())' : ''}`);
  } else if (userId.length === 0) {
    problems.push('userId: must not be empty');
  } else if (codePoints(userId) > USER_ID_MAX_LENGTH) {
    problems.push(`userId: must be at most ${USER_ID_MAX_LENGTH} characters`);
  } else if (userId.trim().length === 0) {
    problems.push('userId: must not be only whitespace');
  } else if (LONE_SURROGATE.test(userId)) {
    problems.push('userId: must be well-formed Unicode (it holds a lone surrogate)');
  }
  let cleanVisitorData: IAdvizeVisitorData | undefined;
  if (visitorData !== undefined) {
    if (!isPlainObject(visitorData)) {
      problems.push(`visitorData: must be an object, got ${describeType(visitorData)}`);
    } else {
      cleanVisitorData = {};
      for (const key of Object.keys(visitorData)) {
        const value = ownValue(visitorData, key);
        if (!ALLOWED_FIELDS.has(key)) {
          problems.push(`visitorData: unknown field ${fieldName(key)} (allowed: ${VISITOR_DATA_FIELDS.join(', ')})`);
        } else if (value === undefined) {
          continue;
        } else if (typeof value !== 'string') {
          problems.push(`visitorData.${key}: must be a string, got ${describeType(value)}`);
        } else if (codePoints(value) > VISITOR_DATA_VALUE_MAX_LENGTH) {
          problems.push(`visitorData.${key}: must be at most ${VISITOR_DATA_VALUE_MAX_LENGTH} characters`);
        } else if (LONE_SURROGATE.test(value)) {
          problems.push(`visitorData.${key}: must be well-formed Unicode (it holds a lone surrogate)`);
        } else {
          cleanVisitorData[key as VisitorDataField] = value;
        }
      }
    }
  }
  if (problems.length > 0) throw new InvalidIdentityError(problems);
  const clean: IAdvizeUser = { userId: userId as string };
  if (cleanVisitorData && Object.keys(cleanVisitorData).length > 0) clean.visitorData = cleanVisitorData;
  return clean;
}

/**
 * One string per identity, the same whatever the order of its `visitorData`
 * fields: the key of every token cache (in-process and shared). Reads own
 * properties only (the identity was validated).
 * @internal
 */
export function canonicalIdentity(identity: IAdvizeUser): string {
  const vd = (Object.hasOwn(identity, 'visitorData') ? identity.visitorData : undefined) as Record<string, string> | undefined;
  const fields = vd ? Object.keys(vd).sort().map((k) => [k, vd[k]]) : [];
  return JSON.stringify([identity.userId, fields]);
}
