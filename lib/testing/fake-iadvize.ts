import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { compactDecrypt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import {
  IADVIZE_USER_ID_CLAIM,
  IADVIZE_VISITOR_DATA_CLAIM,
  USER_ID_MAX_LENGTH,
  VISITOR_DATA_FIELDS,
} from '../iadvize.constants.js';
import { loadPublicKeyInput, type PublicKeyInput } from '../keys/public-key-input.js';
import type { IAdvizeVisitorData } from '../token/identity.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** Why {@link FakeIAdvize.open} refused a token. */
export type FakeIAdvizeErrorReason =
  | 'MALFORMED'
  | 'WRONG_HEADER'
  | 'DECRYPTION_FAILED'
  | 'BAD_SIGNATURE'
  | 'EXPIRED'
  | 'WRONG_ISSUER'
  | 'MISSING_CLAIM'
  | 'INVALID_CLAIM';

/** A token {@link FakeIAdvize} refused, with a precise reason. */
export class FakeIAdvizeError extends Error {
  constructor(
    readonly reason: FakeIAdvizeErrorReason,
    message: string,
  ) {
    super(`${reason}: ${message}`);
    this.name = 'FakeIAdvizeError';
  }
}

/** Options of {@link FakeIAdvize.open}. */
export interface OpenOptions {
  /** Expected `iss`. Default: not checked. */
  issuer?: string;
  /** The time to check `exp` against. Default: now. */
  currentDate?: Date;
  /** Tolerated clock skew, in seconds. Default: 0. */
  clockToleranceSeconds?: number;
}

/** What iAdvize reads from an accepted token. */
export interface OpenedToken {
  userId: string;
  visitorData?: IAdvizeVisitorData;
  /** Every claim of the inner JWT. */
  claims: JWTPayload;
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
      jweHeader = decodeProtectedHeader(token) as Record<string, unknown>;
    } catch {
      throw new FakeIAdvizeError('MALFORMED', 'the JWE protected header is not valid base64url JSON');
    }
    if (jweHeader.alg !== 'RSA-OAEP-256' || jweHeader.enc !== 'A256GCM') {
      throw new FakeIAdvizeError('WRONG_HEADER', `expected alg RSA-OAEP-256 and enc A256GCM, got ${String(jweHeader.alg)} / ${String(jweHeader.enc)}`);
    }
    if (jweHeader.zip !== undefined) throw new FakeIAdvizeError('WRONG_HEADER', 'compressed tokens are refused');
    let jws: string;
    try {
      const { plaintext } = await compactDecrypt(token, this.privateKey, {
        keyManagementAlgorithms: ['RSA-OAEP-256'],
        contentEncryptionAlgorithms: ['A256GCM'],
      });
      jws = new TextDecoder('utf-8', { fatal: true }).decode(plaintext);
    } catch {
      throw new FakeIAdvizeError('DECRYPTION_FAILED', 'the token was not encrypted to this iAdvize key, or it was altered');
    }
    const brandKey = loadPublicKeyInput(brandPublicKey, 'brandPublicKey');
    let payload: JWTPayload;
    let jwsHeader: Record<string, unknown>;
    try {
      const verified = await jwtVerify(jws, brandKey, {
        algorithms: ['RS256'],
        issuer: options.issuer,
        currentDate: options.currentDate,
        clockTolerance: options.clockToleranceSeconds ?? 0,
        requiredClaims: ['exp', 'iss'],
      });
      payload = verified.payload;
      jwsHeader = verified.protectedHeader as Record<string, unknown>;
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw new FakeIAdvizeError('EXPIRED', 'the token has expired');
      if (e instanceof joseErrors.JWSSignatureVerificationFailed) {
        throw new FakeIAdvizeError('BAD_SIGNATURE', 'the signature does not verify with the brand public key');
      }
      if (e instanceof joseErrors.JWTClaimValidationFailed) {
        if (e.claim === 'iss' && e.reason === 'check_failed') throw new FakeIAdvizeError('WRONG_ISSUER', 'unexpected "iss"');
        if (e.reason === 'missing') throw new FakeIAdvizeError('MISSING_CLAIM', `missing "${e.claim}"`);
        throw new FakeIAdvizeError('INVALID_CLAIM', `invalid "${e.claim}"`);
      }
      throw new FakeIAdvizeError('MALFORMED', 'the inner token is not a valid RS256 JWT');
    }
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
