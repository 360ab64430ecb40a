import { constants, createDecipheriv, generateKeyPair, privateDecrypt, verify, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import {
  IADVIZE_USER_ID_CLAIM,
  IADVIZE_VISITOR_DATA_CLAIM,
  USER_ID_MAX_LENGTH,
  VISITOR_DATA_FIELDS,
} from '../iadvize.constants.js';
import { loadPublicKeyInput, type PublicKeyInput } from '../keys/public-key-input.js';
import type { IAdvizeVisitorData } from '../token/identity.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * Why {@link FakeIAdvize.open} refused a token.
 * @public
 */
export type FakeIAdvizeErrorReason =
  | 'MALFORMED'
  | 'WRONG_HEADER'
  | 'DECRYPTION_FAILED'
  | 'BAD_SIGNATURE'
  | 'EXPIRED'
  | 'WRONG_ISSUER'
  | 'MISSING_CLAIM'
  | 'INVALID_CLAIM';

/**
 * A token {@link FakeIAdvize} refused, with a precise reason.
 * @public
 */
export class FakeIAdvizeError extends Error {
  constructor(
    readonly reason: FakeIAdvizeErrorReason,
    message: string,
  ) {
    super(`${reason}: ${message}`);
    this.name = 'FakeIAdvizeError';
  }
}

/**
 * Options of {@link FakeIAdvize.open}.
 * @public
 */
export interface OpenOptions {
  /** Expected `iss`. Default: not checked. */
  issuer?: string;
  /** The time to check `exp` against. Default: now. */
  currentDate?: Date;
  /** Tolerated clock skew, in seconds. Default: 0. */
  clockToleranceSeconds?: number;
}

/**
 * The claims of an opened token: the registered JWT claims plus any other
 * (the same shape as jose's `JWTPayload`).
 * @public
 */
export interface OpenedTokenClaims {
  /** Issuer. */
  iss?: string;
  /** Subject. */
  sub?: string;
  /** Audience. */
  aud?: string | string[];
  /** JWT ID. */
  jti?: string;
  /** Not before (seconds since the epoch). */
  nbf?: number;
  /** Expiry (seconds since the epoch). */
  exp?: number;
  /** Issued at (seconds since the epoch). */
  iat?: number;
  /** Any other claim. */
  [propName: string]: unknown;
}

/**
 * What iAdvize reads from an accepted token.
 * @public
 */
export interface OpenedToken {
  userId: string;
  visitorData?: IAdvizeVisitorData;
  /** Every claim of the inner JWT. */
  claims: OpenedTokenClaims;
  /** The outer JWE protected header. */
  jweHeader: Record<string, unknown>;
  /** The inner JWS protected header. */
  jwsHeader: Record<string, unknown>;
}

/**
 * Plays iAdvize in tests: holds a throwaway iAdvize key pair and opens tokens
 * the way iAdvize does (decrypt RSA-OAEP-256/A256GCM, verify RS256 with the
 * brand's public key, check `exp`, `iss` and the iAdvize claims).
 *
 * ```ts
 * const iadvize = await FakeIAdvize.create();
 * IAdvizeAuthModule.forRoot({ issuer, signingKey, iadvizePublicKey: iadvize.publicKeyPem });
 * const { userId } = await iadvize.open(token, brandPublicKeyPem);
 * ```
 *
 * Never use its key pair outside tests and local demos.
 * @public
 */
export class FakeIAdvize {
  private constructor(
    /** The throwaway iAdvize private key (tests only). */
    readonly privateKey: KeyObject,
    /** The throwaway iAdvize public key. */
    readonly publicKey: KeyObject,
  ) {}

  /** Creates a fake iAdvize with a fresh RSA key pair (2048 bits by default). */
  static async create(options: { modulusLength?: number } = {}): Promise<FakeIAdvize> {
    const { privateKey, publicKey } = await generateKeyPairAsync('rsa', { modulusLength: options.modulusLength ?? 2048 });
    return new FakeIAdvize(privateKey, publicKey);
  }

  /** Wraps an existing iAdvize key pair (e.g. a demo key kept across restarts). */
  static fromKeyPair(privateKey: KeyObject, publicKey: KeyObject): FakeIAdvize {
    return new FakeIAdvize(privateKey, publicKey);
  }

  /** The public key as SPKI PEM: pass it as the module's `iadvizePublicKey`. */
  get publicKeyPem(): string {
    return this.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  /** The public key as iAdvize publishes its own: base64 of the DER SPKI. */
  get publicKeyBase64(): string {
    return this.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  }

  /**
   * Opens a token as iAdvize would. Throws {@link FakeIAdvizeError} with a
   * precise reason when iAdvize would refuse it.
   *
   * @param token the compact JWE
   * @param brandPublicKey the brand's public key (what the brand registered with iAdvize)
   */
  async open(token: string, brandPublicKey: PublicKeyInput, options: OpenOptions = {}): Promise<OpenedToken> {
    if (typeof token !== 'string' || token.split('.').length !== 5) {
      throw new FakeIAdvizeError('MALFORMED', 'not a compact JWE (five dot-separated parts expected)');
    }
    let jweHeader: Record<string, unknown>;
    try {
      jweHeader = parseHeader(token.split('.')[0]);
    } catch {
      throw new FakeIAdvizeError('MALFORMED', 'the JWE protected header is not valid base64url JSON');
    }
    if (jweHeader.alg !== 'RSA-OAEP-256' || jweHeader.enc !== 'A256GCM') {
      throw new FakeIAdvizeError('WRONG_HEADER', `expected alg RSA-OAEP-256 and enc A256GCM, got ${String(jweHeader.alg)} / ${String(jweHeader.enc)}`);
    }
    if (jweHeader.zip !== undefined) throw new FakeIAdvizeError('WRONG_HEADER', 'compressed tokens are refused');
    let jws: string;
    try {
      jws = strictUtf8.decode(decryptCompactJwe(token, jweHeader, this.privateKey));
    } catch {
      throw new FakeIAdvizeError('DECRYPTION_FAILED', 'the token was not encrypted to this iAdvize key, or it was altered');
    }
    const brandKey = loadPublicKeyInput(brandPublicKey, 'brandPublicKey');
    const { payload, protectedHeader: jwsHeader } = verifyJwt(jws, brandKey, options);
    const userId = payload[IADVIZE_USER_ID_CLAIM];
    if (userId === undefined) throw new FakeIAdvizeError('MISSING_CLAIM', `missing "${IADVIZE_USER_ID_CLAIM}"`);
    if (typeof userId !== 'string' || userId.length === 0 || [...userId].length > USER_ID_MAX_LENGTH) {
      throw new FakeIAdvizeError('INVALID_CLAIM', `"${IADVIZE_USER_ID_CLAIM}" must be a string of 1..${USER_ID_MAX_LENGTH} characters`);
    }
    const visitorData = payload[IADVIZE_VISITOR_DATA_CLAIM];
    if (visitorData !== undefined) {
      if (visitorData === null || typeof visitorData !== 'object' || Array.isArray(visitorData)) {
        throw new FakeIAdvizeError('INVALID_CLAIM', `"${IADVIZE_VISITOR_DATA_CLAIM}" must be an object`);
      }
      for (const [k, v] of Object.entries(visitorData)) {
        if (!(VISITOR_DATA_FIELDS as readonly string[]).includes(k) || typeof v !== 'string') {
          throw new FakeIAdvizeError('INVALID_CLAIM', `"${IADVIZE_VISITOR_DATA_CLAIM}" has an unknown or non-string field`);
        }
      }
    }
    return {
      userId,
      ...(visitorData !== undefined ? { visitorData: visitorData as IAdvizeVisitorData } : {}),
      claims: payload,
      jweHeader,
      jwsHeader,
    };
  }
}

// Opening a token with node:crypto alone (no jose: it is ESM-only, and this
// entry also ships as CommonJS). The checks and their order follow jose 6's
// compactDecrypt + jwtVerify with the options this class used to pass them
// (test/testing/fake-iadvize.spec.ts and the property tests compare with jose and
// node-jose): every refusal maps to the same FakeIAdvizeError reason.

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A failed structural check of the inner JWS (reported as MALFORMED). */
class Malformed extends Error {}

/** base64url decoding as strict as jose's: `+`, `/` and stray characters are refused (whitespace and padding are tolerated, as by `atob`). */
function b64url(input: string): Buffer {
  const fromBase64 = (Uint8Array as unknown as { fromBase64?: (s: string, o: { alphabet: string }) => Uint8Array }).fromBase64;
  if (fromBase64) return Buffer.from(fromBase64(input, { alphabet: 'base64url' }));
  if (input.includes('+') || input.includes('/')) throw new Malformed('invalid base64url');
  return Buffer.from(atob(input.replace(/-/g, '+').replace(/_/g, '/')), 'latin1');
}

/** A plain JSON object (what jose accepts as a header or claims set). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Object.prototype.toString.call(value) !== '[object Object]') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/** A protected header: base64url of UTF-8 JSON of an object. */
function parseHeader(encoded: string | undefined): Record<string, unknown> {
  if (typeof encoded !== 'string' || encoded === '') throw new Malformed('empty header');
  const parsed = JSON.parse(strictUtf8.decode(b64url(encoded))) as unknown;
  if (!isPlainObject(parsed)) throw new Malformed('header is not an object');
  return parsed;
}

/** Bytes of an ASCII string; anything else is refused (jose's rule for signing input and AAD). */
function ascii(value: string): Buffer {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) > 0x7f) throw new Malformed('non-ASCII');
  return Buffer.from(value, 'latin1');
}

function isRsaOf2048BitsOrMore(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048;
}

/** RSA-OAEP-256 + A256GCM compact JWE → plaintext; throws on any defect (all reported as DECRYPTION_FAILED). */
function decryptCompactJwe(token: string, header: Record<string, unknown>, privateKey: KeyObject): Buffer {
  const [protectedPart, encryptedKeyPart, ivPart, ciphertextPart, tagPart] = token.split('.');
  if (header.crit !== undefined) throw new Malformed('no JWE extension is understood'); // jose recognises none
  const ciphertext = b64url(ciphertextPart);
  if (ivPart === '' || tagPart === '') throw new Malformed('missing iv or tag');
  const iv = b64url(ivPart);
  const tag = b64url(tagPart);
  const aad = ascii(protectedPart);
  const encryptedKey = encryptedKeyPart === '' ? Buffer.alloc(0) : b64url(encryptedKeyPart);
  if (privateKey.type !== 'private' || !isRsaOf2048BitsOrMore(privateKey)) throw new Malformed('RSA-OAEP-256 needs an RSA private key of 2048 bits or more');
  let cek: Buffer;
  try {
    cek = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, encryptedKey);
  } catch {
    cek = Buffer.alloc(0);
  }
  if (tag.length !== 16 || iv.length !== 12 || cek.length !== 32) throw new Malformed('bad key, iv or tag length');
  const decipher = createDecipheriv('aes-256-gcm', cek, iv, { authTagLength: 16 });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

/**
 * RS256 compact JWS → verified header and claims, checking `exp` and `iss`
 * (both required), `nbf` and the numeric type of `iat`. Throws FakeIAdvizeError.
 */
function verifyJwt(jws: string, brandKey: KeyObject, options: OpenOptions): { payload: OpenedTokenClaims; protectedHeader: Record<string, unknown> } {
  const malformed = () => new FakeIAdvizeError('MALFORMED', 'the inner token is not a valid RS256 JWT');
  let payload: OpenedTokenClaims;
  let protectedHeader: Record<string, unknown>;
  try {
    const parts = jws.split('.');
    if (parts.length !== 3) throw new Malformed('not three parts');
    const [headerPart, payloadPart, signaturePart] = parts;
    protectedHeader = parseHeader(headerPart);
    let b64 = true;
    const { crit } = protectedHeader;
    if (crit !== undefined) {
      // jose understands one extension, b64 (RFC 7797); a JWT may not use it unencoded.
      if (!Array.isArray(crit) || crit.length === 0 || crit.some((c) => typeof c !== 'string' || c === '')) throw new Malformed('bad crit');
      for (const c of crit as string[]) if (c !== 'b64' || !Object.hasOwn(protectedHeader, 'b64') || protectedHeader.b64 === undefined) throw new Malformed('unknown or missing crit');
      if (typeof protectedHeader.b64 !== 'boolean') throw new Malformed('b64 is not a boolean');
      b64 = protectedHeader.b64;
    }
    if (protectedHeader.alg !== 'RS256') throw new Malformed('alg is not RS256');
    const signingInput = Buffer.concat([ascii(headerPart), ascii('.'), ascii(payloadPart)]);
    const signature = b64url(signaturePart);
    if (brandKey.type !== 'public' || !isRsaOf2048BitsOrMore(brandKey)) throw new Malformed('RS256 needs an RSA public key of 2048 bits or more');
    let verified = false;
    try {
      verified = verify('sha256', signingInput, { key: brandKey, padding: constants.RSA_PKCS1_PADDING }, signature);
    } catch {
      verified = false;
    }
    if (!verified) throw new FakeIAdvizeError('BAD_SIGNATURE', 'the signature does not verify with the brand public key');
    if (!b64) throw new Malformed('unencoded payload');
    const claims = JSON.parse(strictUtf8.decode(b64url(payloadPart))) as unknown;
    if (!isPlainObject(claims)) throw new Malformed('claims are not an object');
    payload = claims as OpenedTokenClaims;
  } catch (e) {
    if (e instanceof FakeIAdvizeError) throw e;
    throw malformed();
  }
  checkClaims(payload, options, malformed);
  return { payload, protectedHeader };
}

/** jose's claim checks, in its order: presence (`iss` first, then `exp`), issuer, `iat`/`nbf`/`exp` types and times. */
function checkClaims(claims: OpenedTokenClaims, options: OpenOptions, malformed: () => FakeIAdvizeError): void {
  for (const claim of ['iss', 'exp']) if (!Object.hasOwn(claims, claim)) throw new FakeIAdvizeError('MISSING_CLAIM', `missing "${claim}"`);
  if (options.issuer !== undefined && !(Array.isArray(options.issuer) ? (options.issuer as unknown[]) : [options.issuer]).includes(claims.iss)) {
    throw new FakeIAdvizeError('WRONG_ISSUER', 'unexpected "iss"');
  }
  const tolerance = options.clockToleranceSeconds ?? 0;
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) throw malformed();
  const date: unknown = options.currentDate === undefined ? new Date() : options.currentDate;
  // Any Date (also from another realm); anything else is a bad option, as for jose.
  const time = typeof (date as Date | null)?.getTime === 'function' ? (date as Date).getTime() : NaN;
  const now = Math.floor(time / 1000);
  if (!Number.isFinite(now)) throw malformed();
  const numeric = (claim: 'iat' | 'nbf' | 'exp'): number | undefined => {
    const value = claims[claim];
    if (value === undefined) return undefined;
    if (typeof value !== 'number') throw new FakeIAdvizeError('INVALID_CLAIM', `invalid "${claim}"`);
    return value;
  };
  numeric('iat');
  const nbf = numeric('nbf');
  if (nbf !== undefined && nbf > now + tolerance) throw new FakeIAdvizeError('INVALID_CLAIM', 'invalid "nbf"');
  const exp = numeric('exp');
  if (exp !== undefined && exp <= now - tolerance) throw new FakeIAdvizeError('EXPIRED', 'the token has expired');
}
