import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { quoteName } from '../redaction.js';
import { MAX_RETRY_AFTER_SECONDS } from '../http/retry-after.js';
import { parseRedisUrl, type RedisUrlOptions } from './redis-url.js';

/**
 * Smallest accepted {@link RedisTokenStoreOptions.secret}, in bytes.
 * @beta
 */
export const MIN_REDIS_KEY_SECRET_BYTES = 32;

/**
 * Options of the fleet-wide signing budget ({@link RedisTokenStoreOptions.budget}).
 * @beta
 */
export interface SigningBudgetOptions {
  /**
   * Required. Signatures per second the whole fleet may ask of the KMS/HSM
   * (a number above 0; fractions allowed): set it below the KMS quota left
   * for this app (e.g. 80 % of it). The
   * library holds the fleet to it with an atomic limiter in Redis.
   */
  signaturesPerSecond: number;
  /**
   * Signatures allowed at once above the steady rate (a burst). In any one
   * second the KMS sees at most `signaturesPerSecond + burst`.
   * Default: a tenth of `signaturesPerSecond`, at least 1.
   */
  burst?: number;
  /**
   * How long a request with no still-valid cached token may wait for budget
   * before being refused, in ms (short waits smooth bursts instead of failing
   * them). A request that can fall back on a cached token never waits.
   * Default: 1000.
   */
  maxWaitMs?: number;
  /** Upper bound of the `Retry-After` given when refusing, in seconds (1 to 60). Default: 5. */
  maxRetryAfterSeconds?: number;
}

/**
 * Options of `RedisTokenStore` (`nestjs-iadvize-auth/redis`). Give `client` (your ioredis `Redis` or
 * `Cluster`, so Sentinel and Cluster work through it) or `url`.
 * @beta
 */
export interface RedisTokenStoreOptions {
  /** Your ioredis client (`Redis`, Sentinel-backed `Redis`, or `Cluster`). Not closed by the store. */
  client?: Redis | Cluster;
  /**
   * Redis URL (`redis://[user:password@]host[:port][/db]`, or `rediss://…`
   * for TLS) when `client` is absent: the store builds its own ioredis client
   * with an offline queue off and short command timeouts, and closes it on
   * shutdown. Read with the WHATWG URL parser: reserved characters in the
   * user name or password must be percent-encoded (`encodeURIComponent`:
   * `#` is `%23`, `/` is `%2F`, `?` is `%3F`, `@` is `%40`), the port must be a
   * number, and options go in `redisOptions` (no query string); anything
   * ambiguous is refused at startup. Messages show it with the password hidden.
   */
  url?: string;
  /** Extra ioredis options for the client the store builds from `url`. */
  redisOptions?: RedisOptions;
  /**
   * Required. The fleet's shared secret, at least 32 bytes (e.g.
   * `openssl rand -base64 32`), the same on every replica of one app. Keys
   * derived from it name the Redis keys (no user id: without the secret they
   * cannot be linked to a user) and authenticate every value the store writes,
   * so a replica never serves a value it cannot prove this fleet wrote for
   * this identity under this configuration. Two apps on one Redis share no
   * state unless they share the secret and `keyPrefix`.
   */
  secret: string | Uint8Array;
  /** Prefix of every Redis key. Default: `'iadvize:'`. */
  keyPrefix?: string;
  /**
   * How long a minted token is handed out again for the same identity, by
   * any replica, in seconds: from 1 to half of `tokenTtlSeconds` (the
   * default), so a reused token always has at least half its lifetime left.
   */
  reuseSeconds?: number;
  /**
   * When the signing budget is spent, a cached token is still served past the
   * reuse window while it has at least this many seconds of validity left.
   * From 1 to `tokenTtlSeconds - reuseSeconds`. Default: a fifth of
   * `tokenTtlSeconds`, at least 10 (12 s for the default 60 s tokens, 60 s for 300 s tokens).
   */
  minValiditySeconds?: number;
  /** The fleet-wide signing budget. Default: none (no limit; coalescing and reuse still apply). */
  budget?: SigningBudgetOptions | false;
  /**
   * Replicas expected in the fleet: while Redis is down each replica signs at
   * most `budget.signaturesPerSecond / expectedReplicas`. Default: 1.
   */
  expectedReplicas?: number;
  /**
   * What a replica does while Redis is down or too slow:
   * - `'open'` (default): serve from its in-process cache, sign within its
   *   share of the budget, and report `degraded`;
   * - `'closed'`: serve only tokens already in its in-process reuse window;
   *   every request that needs a signature gets `503` + `Retry-After`.
   */
  failurePolicy?: 'open' | 'closed';
  /** Deadline of each Redis command, in ms; a slower answer counts as Redis down. Default: 250. */
  commandTimeoutMs?: number;
  /** Most identities kept in each replica's in-process cache; the oldest entry is evicted first. Default: 10000. */
  maxLocalEntries?: number;
}

/**
 * {@link RedisTokenStoreOptions} checked, with their defaults where the
 * default does not depend on the module's `tokenTtlSeconds`.
 * @internal
 */
export interface ResolvedRedisTokenStoreOptions {
  reuseSeconds?: number;
  minValiditySeconds?: number;
  budget?: Required<SigningBudgetOptions>;
  expectedReplicas: number;
  failurePolicy: 'open' | 'closed';
  commandTimeoutMs: number;
  maxLocalEntries: number;
  keyPrefix: string;
  /** The `url` option, parsed (connection options for ioredis). */
  url?: RedisUrlOptions;
}

/** What {@link resolveRedisTokenStoreOptions} makes of the raw options. @internal */
export interface RedisTokenStoreOptionsCheck {
  /** The options, defaults applied (a bad value falls back to its default; see `problems`). */
  options: ResolvedRedisTokenStoreOptions;
  /** What is wrong with the raw options (option, and how to fix it; never a value). */
  problems: string[];
  /** The secret's bytes, when usable. */
  secret?: Uint8Array;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks the options of a `RedisTokenStore` (those that do not depend on
 * the module's `tokenTtlSeconds`, which `RedisTokenStore.open` adds) and applies their defaults.
 * @internal
 */
export function resolveRedisTokenStoreOptions(raw: unknown): RedisTokenStoreOptionsCheck {
  const problems: string[] = [];
  let secretBytes: Uint8Array | undefined;
  let url: RedisUrlOptions | undefined;
  const o = isRecord(raw) ? raw : ({} as Record<string, unknown>);
  if (!isRecord(raw)) problems.push('options: must be an object with "secret" and "client" or "url"');
  const known = ['client', 'url', 'redisOptions', 'secret', 'keyPrefix', 'reuseSeconds', 'minValiditySeconds', 'budget', 'expectedReplicas', 'failurePolicy', 'commandTimeoutMs', 'maxLocalEntries'];
  const unknown = Object.keys(o).filter((k) => !known.includes(k));
  if (unknown.length > 0) problems.push(`unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => quoteName(k)).join(', ')} (known: ${known.join(', ')})`);
  if (o.client === undefined && o.url === undefined) problems.push('give "client" (your ioredis Redis or Cluster) or "url" (redis://host:6379)');
  if (o.client !== undefined && o.url !== undefined) problems.push('give only one of "client" and "url"');
  if (o.client !== undefined && (!isRecord(o.client) || typeof (o.client as { get?: unknown }).get !== 'function' || typeof (o.client as { eval?: unknown }).eval !== 'function')) {
    problems.push('client: must be an ioredis Redis or Cluster instance');
  }
  if (o.url !== undefined) {
    if (typeof o.url !== 'string' || !/^rediss?:\/\//i.test(o.url)) {
      problems.push('url: must be a redis:// or rediss:// URL (set it from an environment variable such as REDIS_URL)');
    } else {
      const parsed = parseRedisUrl(o.url);
      if ('problem' in parsed) problems.push(parsed.problem);
      else url = parsed.options;
    }
  }
  const secret = o.secret;
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret instanceof Uint8Array ? secret : undefined;
  if (bytes === undefined) problems.push('secret: is required, a string or Uint8Array of at least 32 bytes, the same on every replica (generate it with `openssl rand -base64 32`)');
  else if (bytes.length < MIN_REDIS_KEY_SECRET_BYTES) problems.push(`secret: must be at least ${MIN_REDIS_KEY_SECRET_BYTES} bytes (got ${bytes.length}); generate one with \`openssl rand -base64 32\``);
  else secretBytes = Uint8Array.from(bytes);

  const int = (name: string, value: unknown, min: number, max: number, fallback?: number): number | undefined => {
    const v = value ?? fallback;
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      problems.push(`${name}: must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return v;
  };
  const keyPrefix = o.keyPrefix ?? 'iadvize:';
  if (typeof keyPrefix !== 'string' || keyPrefix.length > 64 || /[{}\s]/.test(keyPrefix)) problems.push('keyPrefix: must be a string of at most 64 characters without braces or spaces');
  const failurePolicy = o.failurePolicy ?? 'open';
  if (failurePolicy !== 'open' && failurePolicy !== 'closed') problems.push('failurePolicy: must be "open" or "closed"');
  let budget: Required<SigningBudgetOptions> | undefined;
  if (o.budget !== undefined && o.budget !== false) {
    if (!isRecord(o.budget)) {
      problems.push('budget: must be false or { signaturesPerSecond, burst?, maxWaitMs?, maxRetryAfterSeconds? }');
    } else {
      const b = o.budget;
      const extra = Object.keys(b).filter((k) => !['signaturesPerSecond', 'burst', 'maxWaitMs', 'maxRetryAfterSeconds'].includes(k));
      if (extra.length > 0) problems.push(`budget: unknown option${extra.length > 1 ? 's' : ''} (known: signaturesPerSecond, burst, maxWaitMs, maxRetryAfterSeconds)`);
      const rate = b.signaturesPerSecond;
      const rateOk = typeof rate === 'number' && Number.isFinite(rate) && rate > 0 && rate <= 1_000_000;
      if (!rateOk) problems.push('budget.signaturesPerSecond: is required, a number above 0 (fractions allowed) up to 1000000; set it below the KMS quota left for this app');
      const r = rateOk ? rate : 1;
      budget = {
        signaturesPerSecond: r,
        burst: int('budget.burst', b.burst, 1, 1_000_000, Math.max(1, Math.ceil(r / 10))) as number,
        maxWaitMs: int('budget.maxWaitMs', b.maxWaitMs, 0, 60_000, 1000) as number,
        maxRetryAfterSeconds: int('budget.maxRetryAfterSeconds', b.maxRetryAfterSeconds, 1, MAX_RETRY_AFTER_SECONDS, 5) as number,
      };
    }
  }
  const options: ResolvedRedisTokenStoreOptions = {
    reuseSeconds: int('reuseSeconds', o.reuseSeconds, 1, 1800),
    minValiditySeconds: int('minValiditySeconds', o.minValiditySeconds, 1, 3600),
    budget,
    expectedReplicas: int('expectedReplicas', o.expectedReplicas, 1, 10_000, 1) as number,
    failurePolicy: failurePolicy === 'closed' ? 'closed' : 'open',
    commandTimeoutMs: int('commandTimeoutMs', o.commandTimeoutMs, 10, 60_000, 250) as number,
    maxLocalEntries: int('maxLocalEntries', o.maxLocalEntries, 1, 1_000_000, 10_000) as number,
    keyPrefix: typeof keyPrefix === 'string' ? keyPrefix : 'iadvize:',
    ...(url ? { url } : {}),
  };
  return { options, problems, ...(secretBytes ? { secret: secretBytes } : {}) };
}
