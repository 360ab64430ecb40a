/**
 * Error classes of the library. Every error carries a stable `code`, and no
 * message ever contains key material or a token.
 */

/**
 * Stable, machine-readable error codes.
 * @public
 */
export const IAdvizeErrorCode = {
  InvalidOptions: 'IADVIZE_INVALID_OPTIONS',
  InvalidKey: 'IADVIZE_INVALID_KEY',
  InvalidIdentity: 'IADVIZE_INVALID_IDENTITY',
  Unauthenticated: 'IADVIZE_UNAUTHENTICATED',
  SigningUnavailable: 'IADVIZE_SIGNING_UNAVAILABLE',
  SignatureMismatch: 'IADVIZE_SIGNATURE_MISMATCH',
  MissingDependency: 'IADVIZE_MISSING_DEPENDENCY',
  /** HTTP only: a guard in front of the endpoint refused the request (403). */
  Forbidden: 'IADVIZE_FORBIDDEN',
  /** HTTP only: a rate limiter in front of the endpoint refused the request (429). */
  RateLimited: 'IADVIZE_RATE_LIMITED',
  /** HTTP only: another 4xx raised in front of the endpoint. */
  RequestRejected: 'IADVIZE_REQUEST_REJECTED',
  /** HTTP only: an unexpected error, e.g. a `UserResolver` that threw (500). */
  Internal: 'IADVIZE_INTERNAL_ERROR',
} as const;

/**
 * Union of every {@link IAdvizeErrorCode} value.
 * @public
 */
export type IAdvizeErrorCodeValue = (typeof IAdvizeErrorCode)[keyof typeof IAdvizeErrorCode];

/**
 * Base class of every error thrown by the library.
 * @public
 */
export class IAdvizeAuthError extends Error {
  /** Stable machine-readable code, e.g. `IADVIZE_INVALID_IDENTITY`. */
  readonly code: IAdvizeErrorCodeValue;

  constructor(code: IAdvizeErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * The module options are wrong. Thrown once at startup, listing every
 * problem found as `option: what is wrong and how to fix it`.
 * @public
 */
export class InvalidOptionsError extends IAdvizeAuthError {
  /** Each problem, as `path: message`. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[], context = 'IAdvizeAuthModule options') {
    const n = problems.length;
    super(
      IAdvizeErrorCode.InvalidOptions,
      `Invalid ${context} (${n} problem${n === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.problems = problems;
  }
}

/**
 * A key could not be loaded or is unfit (wrong type, too short, public where
 * private is needed, …). The message names the source (option, file path or
 * environment variable name), never the key.
 * @public
 */
export class InvalidKeyError extends IAdvizeAuthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(IAdvizeErrorCode.InvalidKey, message, options);
  }
}

/**
 * The identity handed to `TokenService.createToken` breaks iAdvize's rules
 * (user id missing, empty, too long, not a string; unknown or non-string
 * visitor data fields). Maps to HTTP 422 at the endpoint.
 * @public
 */
export class InvalidIdentityError extends IAdvizeAuthError {
  /** Each rule broken, e.g. `userId: must be at most 255 characters`. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(IAdvizeErrorCode.InvalidIdentity, `Invalid iAdvize identity: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/**
 * The signing backend (KMS, HSM, Vault…) is unavailable, throttled or timed
 * out. Maps to HTTP 503 with `Retry-After`.
 * @public
 */
export class SigningUnavailableError extends IAdvizeAuthError {
  /** Suggested delay before retrying, in seconds. */
  readonly retryAfterSeconds: number;

  constructor(message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(IAdvizeErrorCode.SigningUnavailable, message, options);
    this.retryAfterSeconds = options?.retryAfterSeconds ?? 1;
  }
}

/**
 * A signature produced by the key provider does not verify with the
 * provider's public key (e.g. a KMS key configured for PSS, or the wrong key
 * version). The token is not issued.
 * @public
 */
export class SignatureMismatchError extends IAdvizeAuthError {
  constructor(message: string) {
    super(IAdvizeErrorCode.SignatureMismatch, message);
  }
}

/**
 * An optional peer dependency needed by the configured provider is not installed.
 * @public
 */
export class MissingDependencyError extends IAdvizeAuthError {
  constructor(packageName: string, feature: string) {
    super(
      IAdvizeErrorCode.MissingDependency,
      `${feature} needs the optional package "${packageName}". Install it: npm install ${packageName}`,
    );
  }
}
