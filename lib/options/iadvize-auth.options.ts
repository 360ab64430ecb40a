import type { JsonWebKey } from 'node:crypto';
import type { KeyProvider } from '../keys/key-provider.js';
import type { EnvKeyProviderOptions, FileKeyProviderOptions, LocalSigningOptions } from '../keys/local-key.provider.js';
import type { TokenStore } from '../token/token-store.js';
import type { PublicKeyInput } from '../keys/public-key-input.js';

/**
 * Where the brand's private signing key comes from:
 * - a {@link KeyProvider} (file, env, inline, or a KMS/HSM provider);
 * - `{ file, passphrase? }`: a PEM or DER file read at startup;
 * - `{ env, passphrase?, passphraseEnv? }`: an environment variable (PEM with
 *   real or literal `\n`, or base64 of PEM or DER);
 * - `{ pem, passphrase? }` or `{ jwk }`: inline (tests and development).
 *
 * The four shorthands take `signingThreads` (dedicated RSA signing threads,
 * default: the core count, at most 4; `0` signs on libuv's thread pool): see {@link LocalSigningOptions}.
 *
 * PKCS#8, PKCS#1 and encrypted PKCS#8 are accepted; the key must be RSA ≥ 2048 bits.
 * @public
 */
export type SigningKeyOption =
  | KeyProvider
  | FileKeyProviderOptions
  | EnvKeyProviderOptions
  | ({ pem: string; passphrase?: string } & LocalSigningOptions)
  | ({ jwk: JsonWebKey } & LocalSigningOptions);

/**
 * Options of `IAdvizeAuthModule.forRoot()` / the factory of `forRootAsync()`.
 * Every option is checked once at startup; all problems are reported together.
 * @public
 */
export interface IAdvizeAuthOptions {
  /**
   * Required. The `iss` claim of every token, e.g. `https://www.example.com`. No default.
   * A StringOrURI (RFC 7519): 1..160 characters, no whitespace or control
   * characters, an absolute URI when it contains `:`; never key material.
   */
  issuer: string;
  /**
   * Required. The brand's private RSA signing key; see {@link SigningKeyOption}.
   * Or a planned rotation, `{ schedule: [{ key }, { key, from: '2027-01-15T09:00:00Z' }] }`:
   * see {@link SigningKeyScheduleOption}. A key file can also be reloaded
   * when it changes: `{ file, watch: true }`.
   */
  signingKey: SigningKeyOption | SigningKeyScheduleOption;
  /**
   * Optional. The public key you registered with iAdvize. When given, startup
   * fails unless it is the public half of `signingKey` (catches a key mix-up
   * before iAdvize rejects every token). With a schedule, it is checked
   * against the key in force at startup.
   */
  signingPublicKey?: PublicKeyInput;
  /**
   * The iAdvize public key tokens are encrypted to.
   * Default: iAdvize's production key, embedded in the package. Set it for a
   * sandbox platform or tests (e.g. `FakeIAdvize.publicKeyPem`).
   */
  iadvizePublicKey?: PublicKeyInput;
  /** Token lifetime in seconds, 10..3600. Default: 60 (iAdvize's recommendation). */
  tokenTtlSeconds?: number;
  /** Deadline of one signature by a remote signer (KMS, HSM), in ms, 100..60000. Default: 5000. */
  signingTimeoutMs?: number;
  /** Sign and verify a probe at startup. Default: `true`. */
  selfCheck?: boolean;
  /**
   * Clock in milliseconds since the epoch, for tests. Default: `Date.now`.
   * Called once at startup (anything but a finite number is refused) and
   * checked on every token: a bad reading later is a 503, never a token.
   */
  clock?: () => number;
  /**
   * Optional per-identity token cache, off by default. When on, a token minted
   * for the same user id and visitor data less than `ttlSeconds` ago is handed
   * out again (and concurrent requests share one signature), which cuts KMS/HSM
   * calls and cost under bursty load. Trade-off: iAdvize recommends a fresh
   * token per request; a cached token is the same string, with less lifetime
   * left. `ttlSeconds` must be at most half of `tokenTtlSeconds`.
   */
  tokenCache?: TokenCacheOptions | false;
  /**
   * Optional token store shared by the replicas of a fleet, e.g.
   * `new RedisTokenStore({ ... })` from `nestjs-iadvize-auth/redis`: tokens
   * are reused across replicas, concurrent misses cost one signature, and a
   * fleet-wide signing budget keeps the KMS under its quota. It keeps its own
   * in-process cache, so do not set `tokenCache` with it. Default: none.
   */
  tokenStore?: TokenStore;
}

/**
 * One entry of a {@link SigningKeyScheduleOption}.
 * @public
 */
export interface SigningKeyScheduleEntry {
  /** The key: any {@link SigningKeyOption} (a file, an env var, inline, a KMS/HSM provider), except another schedule. */
  key: SigningKeyOption;
  /**
   * The instant this key takes over: an ISO 8601 date-time with a time zone
   * (`'2027-01-15T09:00:00Z'`, `'2027-01-15T10:00:00+01:00'`) or a `Date`.
   * Required on every entry but the first (which, without it, is in force
   * from the start). Every replica switches at this instant by its own clock.
   */
  from?: string | Date;
}

/**
 * A planned key rotation: the keys in the order they take over, each with
 * the instant it does. iAdvize accepts one brand key at a time and tokens
 * carry no `kid`, so a rotation is a switch at an instant agreed with iAdvize:
 *
 * ```ts
 * signingKey: {
 *   schedule: [
 *     { key: { file: '/secrets/brand-2026.pem' } },
 *     { key: { file: '/secrets/brand-2027.pem' }, from: '2027-01-15T09:00:00Z' },
 *   ],
 * }
 * ```
 *
 * At startup every key still to come is loaded and self-checked; entries
 * already superseded are validated but not loaded (their key may be gone).
 * At the instant every replica switches by its own clock (the module's
 * `clock`), logs it once and emits `signing.key.switched`; tokens signed
 * with the old key are never served from the token cache afterwards.
 * @public
 */
export interface SigningKeyScheduleOption {
  /** The keys in the order they take over (instants strictly increasing); at least one must be in force at startup. */
  schedule: SigningKeyScheduleEntry[];
}

/**
 * Options of the optional per-user token cache (`tokenCache` module option).
 * @public
 */
export interface TokenCacheOptions {
  /**
   * How long a minted token is handed out again for the same identity, in
   * seconds: from 1 to half of `tokenTtlSeconds`, so a cached token always has
   * at least half its lifetime left.
   */
  ttlSeconds: number;
  /** Most identities kept; the oldest entry is evicted first. Default: 10000. */
  maxEntries?: number;
}
