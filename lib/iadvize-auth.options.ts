import type { JsonWebKey, KeyObject } from 'node:crypto';
import { IAdvizeAuthError, InvalidOptionsError } from './errors.js';
import {
  DEFAULT_TOKEN_TTL_SECONDS,
  IADVIZE_PRODUCTION_PUBLIC_KEY,
  MAX_TOKEN_TTL_SECONDS,
  MIN_TOKEN_TTL_SECONDS,
} from './iadvize.constants.js';
import { isKeyProvider, type KeyProvider } from './keys/key-provider.js';
import { loadPublicKey, samePublicKey, thumbprintOf } from './keys/key-material.js';
import {
  EnvKeyProvider,
  FileKeyProvider,
  PemKeyProvider,
  type EnvKeyProviderOptions,
  type FileKeyProviderOptions,
  type LocalSigningOptions,
} from './keys/local-key.provider.js';
import { loadPublicKeyInput, type PublicKeyInput } from './keys/public-key-input.js';
import { loadSigningKeys, type SigningKeySchedule, type SigningKeyScheduleOption } from './keys/key-schedule.js';
import { quoteName, redact, redactionVerdict, safeName } from './redaction.js';
import { checkedClock, describeClockReading, isClockReading } from './token/clock.js';
import { issuerProblem } from './token/issuer.js';
import type { TokenCacheOptions } from './token/token-cache.js';
import { isTokenStore, type TokenStore } from './token/token-store.js';


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

/** The validated configuration the module's providers share. */
export interface ResolvedIAdvizeAuthConfig {
  readonly issuer: string;
  readonly tokenTtlSeconds: number;
  readonly signingTimeoutMs: number;
  /** The provider of the key in force (read again at every use: it changes at a scheduled instant or a key file reload). */
  readonly keyProvider: KeyProvider;
  /** The public half of the key in force. */
  readonly signingPublicKey: KeyObject;
  /** RFC 7638 thumbprint of the key in force. */
  readonly signingKeyThumbprint: string;
  /**
   * Every configured signing key and which one is in force at an instant
   * (`signingKeys.currentKey(now)`); absent only in configurations built by hand.
   */
  readonly signingKeys?: SigningKeySchedule;
  readonly iadvizePublicKey: KeyObject;
  readonly iadvizeKeyThumbprint: string;
  /** `true` when tokens go to iAdvize's production key (the default). */
  readonly usesProductionIAdvizeKey: boolean;
  readonly clock: () => number;
  /** The token cache settings, when enabled. */
  readonly tokenCache?: Required<TokenCacheOptions>;
  /** The shared token store, when one is given. */
  readonly tokenStore?: TokenStore;
}

const KNOWN_OPTIONS = new Set([
  'issuer',
  'signingKey',
  'signingPublicKey',
  'iadvizePublicKey',
  'tokenTtlSeconds',
  'signingTimeoutMs',
  'selfCheck',
  'clock',
  'tokenCache',
  'tokenStore',
]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function messageOf(e: unknown, fallback: string): string {
  if (e instanceof IAdvizeAuthError) return e.message;
  const code = (e as { code?: unknown })?.code;
  return `${fallback}${typeof code === 'string' ? ` (${code})` : ''}`;
}

/** Builds the built-in provider a shorthand names, or returns a problem. */
export function keyProviderFromOption(option: unknown, path = 'signingKey'): KeyProvider | string {
  if (option === undefined || option === null) {
    return `${path}: is required; give { file: 'path/to/key.pem' }, { env: 'VAR_NAME' }, { pem }, { jwk } or a KeyProvider`;
  }
  if (isKeyProvider(option)) {
    if (option.alg !== 'RS256') return `${path}: the key provider's alg is ${quoteName(option.alg)}; iAdvize accepts only RS256`;
    if (redactionVerdict(option.kind) !== undefined) return `${path}: the key provider's kind is ${quoteName(option.kind)}; give it a short name such as "my-kms" (it appears in logs and metrics)`;
    return option;
  }
  if (!isRecord(option)) return `${path}: must be an object ({ file }, { env }, { pem }, { jwk }) or a KeyProvider`;
  const sources = ['file', 'env', 'pem', 'jwk'].filter((k) => k in option);
  if (sources.length !== 1) {
    return sources.length === 0
      ? `${path}: give one of "file", "env", "pem", "jwk", or a KeyProvider (got keys ${Object.keys(option).map(quoteName).join(', ') || 'none'})`
      : `${path}: give only one of ${sources.map((s) => `"${s}"`).join(', ')}`;
  }
  const allowed: Record<string, string[]> = {
    file: ['file', 'passphrase', 'watch', 'watchIntervalMs', 'signingThreads'],
    env: ['env', 'passphrase', 'passphraseEnv', 'signingThreads'],
    pem: ['pem', 'passphrase', 'signingThreads'],
    jwk: ['jwk', 'signingThreads'],
  };
  const source = sources[0];
  const extra = Object.keys(option).filter((k) => !allowed[source].includes(k));
  if (extra.length > 0) return `${path}: unknown option${extra.length > 1 ? 's' : ''} ${extra.map(quoteName).join(', ')} for a "${source}" key`;
  if (option.passphrase !== undefined && typeof option.passphrase !== 'string') return `${path}.passphrase: must be a string`;
  switch (source) {
    case 'file':
      if (typeof option.file !== 'string' || option.file === '') return `${path}.file: must be a non-empty path`;
      if (option.watch !== undefined && typeof option.watch !== 'boolean') return `${path}.watch: must be true or false`;
      return new FileKeyProvider(option as unknown as FileKeyProviderOptions);
    case 'env':
      if (typeof option.env !== 'string' || option.env === '') return `${path}.env: must be the name of an environment variable`;
      return new EnvKeyProvider(option as unknown as EnvKeyProviderOptions);
    case 'pem':
      if (typeof option.pem !== 'string') return `${path}.pem: must be a string`;
      return new PemKeyProvider({ pem: option.pem, passphrase: option.passphrase as string | undefined, signingThreads: option.signingThreads as number | undefined });
    default:
      if (!isRecord(option.jwk)) return `${path}.jwk: must be a JWK object`;
      return new PemKeyProvider({ jwk: option.jwk as JsonWebKey, signingThreads: option.signingThreads as number | undefined });
  }
}

/**
 * Validates raw options, loads every key, runs the startup self-check and
 * returns the resolved configuration. Throws one {@link InvalidOptionsError}
 * listing every problem (option, file or variable, and how to fix it); no
 * message contains key material.
 */
export async function resolveIAdvizeAuthOptions(raw: unknown): Promise<ResolvedIAdvizeAuthConfig> {
  if (!isRecord(raw)) throw new InvalidOptionsError(['options: must be an object with at least "issuer" and "signingKey"']);
  const problems: string[] = [];

  for (const key of Object.keys(raw)) {
    if (!KNOWN_OPTIONS.has(key)) problems.push(`${safeName(key)}: unknown option (known: ${[...KNOWN_OPTIONS].join(', ')})`);
  }

  const { issuer } = raw;
  const badIssuer = issuerProblem(issuer);
  if (badIssuer !== undefined) problems.push(badIssuer);

  const ttl = raw.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < MIN_TOKEN_TTL_SECONDS || ttl > MAX_TOKEN_TTL_SECONDS) {
    problems.push(`tokenTtlSeconds: must be a whole number of seconds from ${MIN_TOKEN_TTL_SECONDS} to ${MAX_TOKEN_TTL_SECONDS} (iAdvize recommends ${DEFAULT_TOKEN_TTL_SECONDS})`);
  }
  const timeout = raw.signingTimeoutMs ?? 5000;
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 100 || timeout > 60_000) {
    problems.push('signingTimeoutMs: must be a whole number of milliseconds from 100 to 60000');
  }
  const selfCheck = raw.selfCheck ?? true;
  if (typeof selfCheck !== 'boolean') problems.push('selfCheck: must be true or false');
  const clock = raw.clock ?? Date.now;
  if (typeof clock !== 'function') {
    problems.push('clock: must be a function returning milliseconds since the epoch');
  } else {
    let now: unknown;
    try {
      now = (clock as () => unknown)();
    } catch {
      now = Symbol('threw');
    }
    if (!isClockReading(now)) {
      problems.push(`clock: returned ${typeof now === 'symbol' ? 'an error (it threw)' : describeClockReading(now)}; it must return a finite number of milliseconds since the epoch, like Date.now()`);
    }
  }
  let tokenCache: Required<TokenCacheOptions> | undefined;
  if (raw.tokenCache !== undefined && raw.tokenCache !== false) {
    const c = raw.tokenCache as Record<string, unknown>;
    const maxCacheTtl = typeof ttl === 'number' ? Math.floor(ttl / 2) : 0;
    if (!isRecord(c)) {
      problems.push('tokenCache: must be false or { ttlSeconds, maxEntries? }');
    } else {
      const unknown = Object.keys(c).filter((k) => k !== 'ttlSeconds' && k !== 'maxEntries');
      if (unknown.length > 0) problems.push(`tokenCache: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => quoteName(k)).join(', ')}`);
      const cacheTtl = c.ttlSeconds;
      const maxEntries = c.maxEntries ?? 10_000;
      if (typeof cacheTtl !== 'number' || !Number.isInteger(cacheTtl) || cacheTtl < 1 || cacheTtl > maxCacheTtl) {
        problems.push(`tokenCache.ttlSeconds: must be a whole number of seconds from 1 to ${maxCacheTtl} (half of tokenTtlSeconds)`);
      }
      if (typeof maxEntries !== 'number' || !Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > 1_000_000) {
        problems.push('tokenCache.maxEntries: must be a whole number from 1 to 1000000');
      }
      tokenCache = { ttlSeconds: cacheTtl as number, maxEntries: maxEntries as number };
    }
  }

  let tokenStore: TokenStore | undefined;
  if (raw.tokenStore !== undefined) {
    if (!isTokenStore(raw.tokenStore)) {
      problems.push('tokenStore: must be a token store, e.g. new RedisTokenStore({ client, secret }) from nestjs-iadvize-auth/redis');
    } else {
      tokenStore = raw.tokenStore;
      if (raw.tokenCache !== undefined && raw.tokenCache !== false) {
        problems.push('tokenCache: remove it when tokenStore is set (the store keeps its own in-process cache, with the same reuse rules)');
      }
      if (typeof ttl === 'number') for (const p of tokenStore.checkOptions(ttl)) problems.push(`tokenStore: ${p}`);
    }
  }

  // The issuer is carried in every token: never a value that looks like a key or credential.
  if (badIssuer === undefined && typeof issuer === 'string' && redactionVerdict(issuer) !== undefined) {
    problems.push(`issuer: holds ${redact(issuer)}, not an issuer; set it to the \`iss\` your tokens carry, e.g. "https://www.example.com"`);
  }

  // The signing key, or a schedule of keys (lib/keys/key-schedule.ts): every key in force now or later is loaded.
  const signing = await loadSigningKeys(raw.signingKey, {
    clock: typeof clock === 'function' ? (clock as () => number) : Date.now,
    buildProvider: keyProviderFromOption,
    messageOf,
  });
  problems.push(...signing.problems);
  const signingKeys = signing.schedule;
  const signingPublicKey: KeyObject | undefined = signingKeys?.currentKey().publicKey;

  let expectedPublicKey: KeyObject | undefined;
  if (raw.signingPublicKey !== undefined) {
    try {
      expectedPublicKey = loadPublicKeyInput(raw.signingPublicKey as PublicKeyInput, 'signingPublicKey');
    } catch (e) {
      problems.push(messageOf(e, 'signingPublicKey: could not be loaded'));
    }
  }

  let iadvizePublicKey: KeyObject | undefined;
  try {
    iadvizePublicKey = loadPublicKeyInput((raw.iadvizePublicKey as PublicKeyInput | undefined) ?? IADVIZE_PRODUCTION_PUBLIC_KEY, 'iadvizePublicKey');
  } catch (e) {
    problems.push(messageOf(e, 'iadvizePublicKey: could not be loaded'));
  }

  if (signingPublicKey && expectedPublicKey && !samePublicKey(signingPublicKey, expectedPublicKey)) {
    problems.push(
      `signingPublicKey: is not the public half of signingKey (thumbprints ${await thumbprintOf(expectedPublicKey)} vs ${await thumbprintOf(signingPublicKey)}); give iAdvize the public key of the key you sign with`,
    );
  }
  if (iadvizePublicKey && signingKeys?.loadedKeys().some((k) => samePublicKey(k.publicKey, iadvizePublicKey))) {
    problems.push('iadvizePublicKey: is the same key as signingKey; tokens must be encrypted to iAdvize\'s key, not to your own');
  }

  if (problems.length === 0 && selfCheck && signingKeys && iadvizePublicKey) {
    // Every scheduled key, not only the one in force: a bad future key fails now, not at its instant.
    problems.push(...(await signingKeys.selfCheck({ timeoutMs: timeout as number, iadvizePublicKey, messageOf })));
  }

  if (problems.length > 0) {
    await signing.close();
    throw new InvalidOptionsError(problems);
  }

  const keys = signingKeys as SigningKeySchedule;
  const iadvizePub = iadvizePublicKey as KeyObject;
  keys.checkReloadsWith({ timeoutMs: timeout as number, iadvizePublicKey: iadvizePub, messageOf });
  const iadvizeKeyThumbprint = await thumbprintOf(iadvizePub);
  return {
    issuer: issuer as string,
    tokenTtlSeconds: ttl as number,
    signingTimeoutMs: timeout as number,
    signingKeys: keys,
    get keyProvider() {
      return keys.currentKey().provider;
    },
    get signingPublicKey() {
      return keys.currentKey().publicKey;
    },
    get signingKeyThumbprint() {
      return keys.currentKey().thumbprint;
    },
    iadvizePublicKey: iadvizePub,
    iadvizeKeyThumbprint,
    usesProductionIAdvizeKey: samePublicKey(iadvizePub, loadPublicKey(IADVIZE_PRODUCTION_PUBLIC_KEY, 'production key')),
    // Checked on every reading too: a clock that later returns NaN fails the token (503), never signs "iat": null.
    clock: clock === Date.now ? Date.now : checkedClock(clock as () => unknown),
    ...(tokenCache ? { tokenCache } : {}),
    ...(tokenStore ? { tokenStore } : {}),
  };
}
