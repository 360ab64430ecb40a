/**
 * Protocol constants of iAdvize Authenticated Messaging.
 * See docs/guide.md, section "How it works", for the format these names describe.
 */

/** Prefix of every iAdvize custom claim. */
export const IADVIZE_CLAIM_PREFIX = 'https://iadvize.com/';
/**
 * Claim holding the user id (required, string, 1..255 characters).
 * @public
 */
export const IADVIZE_USER_ID_CLAIM = 'https://iadvize.com/userId';
/**
 * Claim holding the optional visitor data object.
 * @public
 */
export const IADVIZE_VISITOR_DATA_CLAIM = 'https://iadvize.com/visitorData';

/**
 * The only visitor data fields iAdvize documents; each value is a string.
 * @public
 */
export const VISITOR_DATA_FIELDS = [
  'firstName',
  'lastName',
  'email',
  'phoneNumber',
  'address',
  'city',
  'zipCode',
  'country',
] as const;

/**
 * Maximum length of `userId`, in characters.
 * @public
 */
export const USER_ID_MAX_LENGTH = 255;
/**
 * Maximum length of each visitor data value, in characters.
 * @public
 */
export const VISITOR_DATA_VALUE_MAX_LENGTH = 512;

/** Inner JWS algorithm (RSASSA-PKCS1-v1_5 with SHA-256). The only one iAdvize accepts. */
export const JWS_ALGORITHM = 'RS256';
/** Outer JWE key management algorithm. */
export const JWE_ALGORITHM = 'RSA-OAEP-256';
/** Outer JWE content encryption algorithm. */
export const JWE_ENCRYPTION = 'A256GCM';
/** Outer JWE content type: a nested JWT (RFC 7519 §5.2). */
export const JWE_CONTENT_TYPE = 'JWT';

/**
 * Default token lifetime: iAdvize recommends one minute.
 * @public
 */
export const DEFAULT_TOKEN_TTL_SECONDS = 60;
/**
 * Smallest accepted token lifetime.
 * @public
 */
export const MIN_TOKEN_TTL_SECONDS = 10;
/**
 * Largest accepted token lifetime (one hour, iAdvize's session length).
 * @public
 */
export const MAX_TOKEN_TTL_SECONDS = 3600;
/** Smallest accepted RSA modulus, in bits (RFC 7518 §3.3, §4.3). */
export const MIN_RSA_MODULUS_BITS = 2048;

/**
 * iAdvize's production public key (RSA-2048), as iAdvize publishes it:
 * base64 of the DER SubjectPublicKeyInfo. Tokens are encrypted to it unless
 * `iadvizePublicKey` is configured.
 *
 * SHA-256 of the DER bytes: 20b1ebc3cd86286c9891186a8af48a9979e1f3e2ca460e40af85b0a6bbf7445a.
 * RFC 7638 thumbprint: QspNamaz04P1Fh1DKF1IUvMLLiYJHmQhECR3ue0eJGU.
 * @public
 */
export const IADVIZE_PRODUCTION_PUBLIC_KEY =
  'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1KdAzuUa5rOXgLHavoDRYoNXzwWz/pFhgGypYFbvV8DNjB93XK2AzKTwW+vxT7RYl4f+sKLdEi3dJYgPt2hquhTNmFxAzRvTuolUOKr1XNx7QbDj+7cfLVDYjmds/ydNtyHi8TUHSvfzs8SGXO5E5H13llmayPEslHKShG0cLIDcLNr6hJcfv9fvOZqQlLQ4Bx7to/66IHke9zY+1oidrUdFGzxXG+RGK81mIMuXj6N2EGJ7YYcQqXJfBJnWFlSGCQNttw5Rfj00eZbkMRO3XohhNqGIiBG2tejSjfB53UpiHdbzni+tyB72R5aaq4d+gkkgaOVYn/Or2fArOH2FUQIDAQAB';

/**
 * RFC 7638 thumbprint of {@link IADVIZE_PRODUCTION_PUBLIC_KEY}.
 * @public
 */
export const IADVIZE_PRODUCTION_KEY_THUMBPRINT = 'QspNamaz04P1Fh1DKF1IUvMLLiYJHmQhECR3ue0eJGU';

/** Injection token of the validated, resolved module configuration. */
export const IADVIZE_AUTH_CONFIG = Symbol.for('nestjs-iadvize-auth:config');

/**
 * Key of the problems `iadvizeAuthConfig` found in the environment, carried to
 * the module's option resolution (which throws them) instead of failing the
 * namespace itself. @internal
 */
export const ENV_OPTIONS_PROBLEMS = Symbol.for('nestjs-iadvize-auth:env-options-problems');
