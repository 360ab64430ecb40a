import type { KeyObject } from 'node:crypto';

/**
 * Options passed to {@link KeyProvider.sign}.
 * @public
 */
export interface SignOptions {
  /** Aborted when the library's signing deadline (`signingTimeoutMs`) passes. */
  signal?: AbortSignal;
}

/**
 * Signs the inner JWS of iAdvize tokens. It signs rather than handing out the
 * private key, so one interface covers keys in a file, in an environment
 * variable, inline, and keys that never leave a KMS or HSM.
 *
 * The library builds the JWS signing input (`b64url(header).b64url(payload)`),
 * calls {@link sign}, and assembles the compact JWS; it then encrypts it as the
 * outer JWE. Implementations only produce the raw RSASSA-PKCS1-v1_5 SHA-256
 * signature bytes.
 *
 * Lifecycle: {@link init} once at startup (load and check the key; throw an
 * `InvalidKeyError` with a message naming the source, never the key), then
 * {@link sign} per token, and {@link close} on application shutdown.
 * @public
 */
export interface KeyProvider {
  /** JWS algorithm of the signatures: always `'RS256'` (the only one iAdvize accepts). */
  readonly alg: 'RS256';
  /** Short backend name for logs and metrics, e.g. `'file'`, `'env'`, `'aws-kms'`. */
  readonly kind: string;
  /**
   * `true` when the private key lives in this process (file, env, inline).
   * Informational only: it earns no trust. Every signature of a provider the
   * library did not build itself (any custom provider, any subclass of a
   * built-in one, a built-in one whose `sign` was replaced) is held to the
   * `signingTimeoutMs` deadline and verified against the public key before a
   * token is issued. Only the library's own file, env and inline providers
   * skip both, since their signature is made by the library's code with the
   * key it loaded and checked. Default: `false`.
   */
  readonly inProcess?: boolean;
  /** Loads and validates the key. Called once, at module startup. */
  init?(): Promise<void>;
  /**
   * Returns the RS256 signature (RSASSA-PKCS1-v1_5 over SHA-256) of
   * `signingInput`: raw bytes (a `Uint8Array`, e.g. a `Buffer`), `modulusLength / 8`
   * long. Anything else (a string, `null`, an `ArrayBuffer`, …), a rejection,
   * or no answer within the deadline is a `503 IADVIZE_SIGNING_UNAVAILABLE`;
   * bytes that do not verify are a `503 IADVIZE_SIGNATURE_MISMATCH`.
   */
  sign(signingInput: Uint8Array, options?: SignOptions): Promise<Uint8Array>;
  /** The public half of the signing key (cached by the provider). */
  getPublicKey(): Promise<KeyObject>;
  /** A description for messages and logs, without secrets, e.g. `file "keys/brand.pem"`. */
  describe?(): string;
  /** Releases connections, sessions or handles. Called on application shutdown. */
  close?(): Promise<void>;
}

/** True when `value` has the shape of a {@link KeyProvider}. */
export function isKeyProvider(value: unknown): value is KeyProvider {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as KeyProvider).sign === 'function' &&
    typeof (value as KeyProvider).getPublicKey === 'function'
  );
}
