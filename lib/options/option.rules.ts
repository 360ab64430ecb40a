import { MemoryTokenStore } from '../token/memory-token.store.js';
import {
  DEFAULT_TOKEN_TTL_SECONDS,
  MAX_TOKEN_TTL_SECONDS,
  MIN_TOKEN_TTL_SECONDS,
} from '../iadvize.constants.js';
import { quoteName, safeName } from '../redaction.js';
import { describeClockReading, isClockReading } from '../token/clock.js';
import { issuerProblem } from '../token/issuer.js';
import { isTokenStore, type TokenStore } from '../token/token-store.js';
import type { TokenCacheOptions } from './iadvize-auth.options.js';
import { isRecord } from './key-source.rules.js';
import {
  DEFAULT_SIGNING_TIMEOUT_MS,
  DEFAULT_TOKEN_CACHE_MAX_ENTRIES,
  MAX_SIGNING_TIMEOUT_MS,
  MAX_TOKEN_CACHE_MAX_ENTRIES,
  MIN_SIGNING_TIMEOUT_MS,
} from './option.defaults.js';

/** Every option of {@link IAdvizeAuthOptions}; anything else is refused. */
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

/** The plain (non-key) options after {@link checkPlainOptions}, defaults applied; meaningful only when no problem was found. */
export interface PlainOptions {
  issuer: string;
  tokenTtlSeconds: number;
  signingTimeoutMs: number;
  selfCheck: boolean;
  /** The clock as given (or `Date.now`); a function whenever no problem names `clock`. */
  clock: unknown;
  tokenCache?: Required<TokenCacheOptions>;
  /** The `tokenStore` option (opened later, with the resolved settings), or the memory store `tokenCache` configures. */
  tokenStore?: TokenStore;
}

/**
 * The rules of every option that is not a key: known names, `issuer`,
 * `tokenTtlSeconds`, `signingTimeoutMs`, `selfCheck`, `clock`, `tokenCache`,
 * `tokenStore`.
 * Pushes one problem per broken rule (`option: what, how to fix`; never a
 * value that could be a secret) and returns the values, defaults applied.
 */
export function checkPlainOptions(raw: Record<string, unknown>, problems: string[]): PlainOptions {
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
  const timeout = raw.signingTimeoutMs ?? DEFAULT_SIGNING_TIMEOUT_MS;
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < MIN_SIGNING_TIMEOUT_MS || timeout > MAX_SIGNING_TIMEOUT_MS) {
    problems.push(`signingTimeoutMs: must be a whole number of milliseconds from ${MIN_SIGNING_TIMEOUT_MS} to ${MAX_SIGNING_TIMEOUT_MS}`);
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
      const maxEntries = c.maxEntries ?? DEFAULT_TOKEN_CACHE_MAX_ENTRIES;
      if (typeof cacheTtl !== 'number' || !Number.isInteger(cacheTtl) || cacheTtl < 1 || cacheTtl > maxCacheTtl) {
        problems.push(`tokenCache.ttlSeconds: must be a whole number of seconds from 1 to ${maxCacheTtl} (half of tokenTtlSeconds)`);
      }
      if (typeof maxEntries !== 'number' || !Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > MAX_TOKEN_CACHE_MAX_ENTRIES) {
        problems.push(`tokenCache.maxEntries: must be a whole number from 1 to ${MAX_TOKEN_CACHE_MAX_ENTRIES}`);
      }
      tokenCache = { ttlSeconds: cacheTtl as number, maxEntries: maxEntries as number };
    }
  }

  let tokenStore: TokenStore | undefined;
  if (raw.tokenStore !== undefined) {
    if (!isTokenStore(raw.tokenStore)) {
      problems.push(
        'tokenStore: must be a token store ({ kind, open(context) }), e.g. new RedisTokenStore({ client, secret }) from nestjs-iadvize-auth/redis (a store written for 0.x attach/checkOptions: move both into open(context), which returns { kind, issue, status?, connect?, close? })',
      );
    } else {
      tokenStore = raw.tokenStore;
      if (raw.tokenCache !== undefined && raw.tokenCache !== false) {
        problems.push('tokenCache: remove it when tokenStore is set (the store keeps its own in-process cache, with the same reuse rules)');
      }
    }
  }

  return {
    issuer: issuer as string,
    tokenTtlSeconds: ttl as number,
    signingTimeoutMs: timeout as number,
    selfCheck: selfCheck as boolean,
    clock,
    ...(tokenCache ? { tokenCache } : {}),
    ...(tokenStore ? { tokenStore } : tokenCache ? { tokenStore: new MemoryTokenStore(tokenCache) } : {}),
  };
}
