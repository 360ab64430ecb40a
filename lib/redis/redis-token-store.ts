import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { InvalidOptionsError, SigningUnavailableError } from '../errors.js';
import { IAdvizeAuthEvents } from '../events/iadvize-auth-events.service.js';
import { quoteName } from '../redaction.js';
import { MAX_RETRY_AFTER_SECONDS } from '../http/retry-after.js';
import { importOptional } from '../kms/optional-import.js';
import type { IAdvizeUser } from '../token/identity.js';
import type { IAdvizeToken } from '../token/token.service.js';
import type { TokenStore, TokenStoreContext, TokenStoreResult, TokenStoreStatus } from '../token/token-store.js';
import { LocalBucket, RedisBucket, type BudgetAnswer } from './signing-budget.js';

/** Clock difference between replicas tolerated when judging a shared entry's age, in ms. */
const MAX_CLOCK_SKEW_MS = 5000;

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
 * Options of {@link RedisTokenStore}. Give `client` (your ioredis `Redis` or
 * `Cluster`, so Sentinel and Cluster work through it) or `url`.
 * @beta
 */
export interface RedisTokenStoreOptions {
  /** Your ioredis client (`Redis`, Sentinel-backed `Redis`, or `Cluster`). Not closed by the store. */
  client?: Redis | Cluster;
  /**
   * Redis URL (`redis://…`, `rediss://…`) when `client` is absent: the store
   * builds its own ioredis client with an offline queue off and short command
   * timeouts, and closes it on shutdown. Never logged.
   */
  url?: string;
  /** Extra ioredis options for the client the store builds from `url`. */
  redisOptions?: RedisOptions;
  /**
   * Required. Secret key of the HMAC that turns an identity and the signing
   * key's thumbprint into a Redis key, at least 32 bytes (e.g.
   * `openssl rand -base64 32`); the same on every replica. Redis keys carry
   * no user id; without the secret they cannot be linked to a user.
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
  /**
   * How long a request waits for another replica's signature of the same
   * identity before signing itself, in ms. Default: the smaller of
   * `signingTimeoutMs` and 3000.
   */
  lockWaitMs?: number;
  /** Deadline of each Redis command, in ms; a slower answer counts as Redis down. Default: 250. */
  commandTimeoutMs?: number;
  /** Most identities kept in each replica's in-process cache; the oldest entry is evicted first. Default: 10000. */
  maxLocalEntries?: number;
}

interface ResolvedOptions {
  reuseSeconds?: number;
  minValiditySeconds?: number;
  budget?: Required<SigningBudgetOptions>;
  expectedReplicas: number;
  failurePolicy: 'open' | 'closed';
  lockWaitMs?: number;
  commandTimeoutMs: number;
  maxLocalEntries: number;
  keyPrefix: string;
}

/** A cached token, with when it was minted and by which key. */
interface Entry {
  token: IAdvizeToken;
  /** When it was minted (module clock, ms). */
  mintedAt: number;
  /** Thumbprint of the signing key. */
  kid: string;
}

/** Thrown inside the store when Redis fails; never leaves it. */
class StoreDown extends Error {
  constructor(readonly operation: string) {
    super(`redis ${operation} failed`);
  }
}

/** The minimal ioredis surface the store uses (a `Redis` or a `Cluster`). */
type RedisClient = Pick<Redis, 'get' | 'set' | 'eval' | 'ping' | 'status'> & { quit(): Promise<unknown>; disconnect(): void };

const PUBLISH_SCRIPT = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1`;

const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A token store shared by the replicas of a fleet, on Redis
 * (`nestjs-iadvize-auth/redis`; needs the optional peer `ioredis`):
 *
 * - **reuse across replicas**: a token minted by one replica is served by
 *   every replica for the same identity during `reuseSeconds` (at most half
 *   the token lifetime), from Redis and from each replica's memory;
 * - **coalescing**: concurrent misses for one identity, on any replicas,
 *   cost one signature (a short `SET NX PX` lock; the others poll; one that
 *   waits longer than `lockWaitMs` signs itself);
 * - **signing budget**: an atomic limiter in Redis caps signatures per second
 *   across the fleet; over it, a still-valid cached token is served, else
 *   `503 IADVIZE_SIGNING_UNAVAILABLE` with `Retry-After`;
 * - **Redis failure** follows `failurePolicy` (default: fail open to the
 *   in-process cache and a per-replica share of the budget), is reported by
 *   the health check (`degraded`) and in events, and heals by itself when
 *   Redis answers again.
 *
 * Redis keys are `<prefix>{<HMAC-SHA256(secret, identity, signing-key thumbprint)>}:t|l`:
 * no user id; a key switch (`signingKey.schedule`, a reloaded key file) changes every key,
 * so an old-key token is never served after it.
 *
 * ```ts
 * import { RedisTokenStore } from 'nestjs-iadvize-auth/redis';
 * IAdvizeAuthModule.forRoot({
 *   issuer: 'https://www.example.com',
 *   signingKey: new AwsKmsKeyProvider({ keyId: 'alias/iadvize-jwt' }),
 *   tokenTtlSeconds: 300,
 *   tokenStore: new RedisTokenStore({
 *     url: process.env.REDIS_URL,
 *     secret: process.env.IADVIZE_REDIS_KEY_SECRET!,
 *     budget: { signaturesPerSecond: 400 },
 *     expectedReplicas: 6,
 *   }),
 * });
 * ```
 * @beta
 */
export class RedisTokenStore implements TokenStore {
  readonly kind = 'redis';
  private readonly logger = new Logger('IAdvizeRedisTokenStore');
  private readonly options: ResolvedOptions;
  private readonly problems: string[];
  private readonly hmacKey?: KeyObject;
  private context?: TokenStoreContext;
  private events: IAdvizeAuthEvents = new IAdvizeAuthEvents();
  private client?: RedisClient;
  private ownsClient = false;
  private connecting?: Promise<void>;
  private readonly local = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<TokenStoreResult>>();
  private fleetBudget?: RedisBucket;
  private replicaBudget?: LocalBucket;
  /** When Redis started failing (ms, wall clock), or undefined while it answers. */
  private downSince: number | undefined;
  private lastProblem: string | undefined;
  private closed = false;

  constructor(private readonly raw: RedisTokenStoreOptions) {
    this.problems = [];
    const o = isRecord(raw) ? raw : ({} as Record<string, unknown>);
    if (!isRecord(raw)) this.problems.push('options: must be an object with "secret" and "client" or "url"');
    const known = ['client', 'url', 'redisOptions', 'secret', 'keyPrefix', 'reuseSeconds', 'minValiditySeconds', 'budget', 'expectedReplicas', 'failurePolicy', 'lockWaitMs', 'commandTimeoutMs', 'maxLocalEntries'];
    const unknown = Object.keys(o).filter((k) => !known.includes(k));
    if (unknown.length > 0) this.problems.push(`unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => quoteName(k)).join(', ')} (known: ${known.join(', ')})`);
    if (o.client === undefined && o.url === undefined) this.problems.push('give "client" (your ioredis Redis or Cluster) or "url" (redis://host:6379)');
    if (o.client !== undefined && o.url !== undefined) this.problems.push('give only one of "client" and "url"');
    if (o.client !== undefined && (!isRecord(o.client) || typeof (o.client as { get?: unknown }).get !== 'function' || typeof (o.client as { eval?: unknown }).eval !== 'function')) {
      this.problems.push('client: must be an ioredis Redis or Cluster instance');
    }
    if (o.url !== undefined && (typeof o.url !== 'string' || !/^rediss?:\/\//.test(o.url))) this.problems.push('url: must be a redis:// or rediss:// URL (set it from an environment variable such as REDIS_URL)');
    const secret = o.secret;
    const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret instanceof Uint8Array ? secret : undefined;
    if (bytes === undefined) this.problems.push('secret: is required, a string or Uint8Array of at least 32 bytes, the same on every replica (generate it with `openssl rand -base64 32`)');
    else if (bytes.length < MIN_REDIS_KEY_SECRET_BYTES) this.problems.push(`secret: must be at least ${MIN_REDIS_KEY_SECRET_BYTES} bytes (got ${bytes.length}); generate one with \`openssl rand -base64 32\``);
    else this.hmacKey = createSecretKey(bytes);

    const int = (name: string, value: unknown, min: number, max: number, fallback?: number): number | undefined => {
      const v = value ?? fallback;
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
        this.problems.push(`${name}: must be a whole number from ${min} to ${max}`);
        return fallback;
      }
      return v;
    };
    const keyPrefix = o.keyPrefix ?? 'iadvize:';
    if (typeof keyPrefix !== 'string' || keyPrefix.length > 64 || /[{}\s]/.test(keyPrefix)) this.problems.push('keyPrefix: must be a string of at most 64 characters without braces or spaces');
    const failurePolicy = o.failurePolicy ?? 'open';
    if (failurePolicy !== 'open' && failurePolicy !== 'closed') this.problems.push('failurePolicy: must be "open" or "closed"');
    let budget: Required<SigningBudgetOptions> | undefined;
    if (o.budget !== undefined && o.budget !== false) {
      if (!isRecord(o.budget)) {
        this.problems.push('budget: must be false or { signaturesPerSecond, burst?, maxWaitMs?, maxRetryAfterSeconds? }');
      } else {
        const b = o.budget;
        const extra = Object.keys(b).filter((k) => !['signaturesPerSecond', 'burst', 'maxWaitMs', 'maxRetryAfterSeconds'].includes(k));
        if (extra.length > 0) this.problems.push(`budget: unknown option${extra.length > 1 ? 's' : ''} (known: signaturesPerSecond, burst, maxWaitMs, maxRetryAfterSeconds)`);
        const rate = b.signaturesPerSecond;
        const rateOk = typeof rate === 'number' && Number.isFinite(rate) && rate > 0 && rate <= 1_000_000;
        if (!rateOk) this.problems.push('budget.signaturesPerSecond: is required, a number above 0 (fractions allowed) up to 1000000; set it below the KMS quota left for this app');
        const r = rateOk ? rate : 1;
        budget = {
          signaturesPerSecond: r,
          burst: int('budget.burst', b.burst, 1, 1_000_000, Math.max(1, Math.ceil(r / 10))) as number,
          maxWaitMs: int('budget.maxWaitMs', b.maxWaitMs, 0, 60_000, 1000) as number,
          maxRetryAfterSeconds: int('budget.maxRetryAfterSeconds', b.maxRetryAfterSeconds, 1, MAX_RETRY_AFTER_SECONDS, 5) as number,
        };
      }
    }
    this.options = {
      reuseSeconds: int('reuseSeconds', o.reuseSeconds, 1, 1800),
      minValiditySeconds: int('minValiditySeconds', o.minValiditySeconds, 1, 3600),
      budget,
      expectedReplicas: int('expectedReplicas', o.expectedReplicas, 1, 10_000, 1) as number,
      failurePolicy: failurePolicy === 'closed' ? 'closed' : 'open',
      lockWaitMs: int('lockWaitMs', o.lockWaitMs, 10, 60_000),
      commandTimeoutMs: int('commandTimeoutMs', o.commandTimeoutMs, 10, 60_000, 250) as number,
      maxLocalEntries: int('maxLocalEntries', o.maxLocalEntries, 1, 1_000_000, 10_000) as number,
      keyPrefix: typeof keyPrefix === 'string' ? keyPrefix : 'iadvize:',
    };
    if (budget) {
      const share = budget.signaturesPerSecond / this.options.expectedReplicas;
      this.replicaBudget = new LocalBucket(share, Math.max(1, Math.floor(budget.burst / this.options.expectedReplicas)));
    }
  }

  /** Problems with the options given the module's `tokenTtlSeconds` (the module reports them at startup). */
  checkOptions(tokenTtlSeconds: number): string[] {
    const problems = [...this.problems];
    const half = Math.floor(tokenTtlSeconds / 2);
    const reuse = this.options.reuseSeconds ?? half;
    if (reuse > half) problems.push(`reuseSeconds: must be at most ${half} (half of tokenTtlSeconds), so a reused token keeps at least half its lifetime`);
    const minValidity = this.options.minValiditySeconds;
    if (minValidity !== undefined && minValidity > tokenTtlSeconds - reuse) {
      problems.push(`minValiditySeconds: must be at most ${tokenTtlSeconds - reuse} (tokenTtlSeconds - reuseSeconds)`);
    }
    return problems;
  }

  /** Called by the token service: takes its clock, events and token lifetime. */
  attach(context: TokenStoreContext): void {
    const problems = this.checkOptions(context.tokenTtlSeconds);
    if (problems.length > 0) throw new InvalidOptionsError(problems, 'RedisTokenStore options');
    this.context = context;
    this.events = context.events;
  }

  private get ctx(): TokenStoreContext {
    if (!this.context) throw new InvalidOptionsError(['the store is not attached: pass it as the "tokenStore" module option'], 'RedisTokenStore');
    return this.context;
  }

  private get reuseMs(): number {
    return (this.options.reuseSeconds ?? Math.floor(this.ctx.tokenTtlSeconds / 2)) * 1000;
  }

  private get minValidityMs(): number {
    return (this.options.minValiditySeconds ?? Math.max(10, Math.ceil(this.ctx.tokenTtlSeconds / 5))) * 1000;
  }

  private get lockWaitMs(): number {
    return this.options.lockWaitMs ?? Math.min(this.ctx.signingTimeoutMs, 3000);
  }

  /** Builds the ioredis client from `url` (lazily importing ioredis) and waits, bounded, for it to be ready. */
  async connect(): Promise<void> {
    this.connecting ??= this.open();
    return this.connecting;
  }

  private async open(): Promise<void> {
    if (this.raw.client) {
      this.client = this.raw.client as unknown as RedisClient;
    } else {
      const mod = await importOptional(() => import('ioredis'), 'ioredis', 'RedisTokenStore (nestjs-iadvize-auth/redis)');
      const RedisCtor = (mod as { Redis?: typeof Redis }).Redis ?? (mod as unknown as { default: typeof Redis }).default;
      const timeout = this.options.commandTimeoutMs;
      const client = new RedisCtor(this.raw.url as string, {
        // Commands fail at once while disconnected instead of queueing: the failure policy decides.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: timeout,
        connectTimeout: Math.max(1000, timeout * 4),
        retryStrategy: (attempt: number) => Math.min(100 * attempt, 2000),
        ...this.raw.redisOptions,
        lazyConnect: false,
      });
      // ioredis emits 'error' on every failed reconnection: count it, never crash on it.
      client.on('error', () => this.markDown('connection'));
      this.client = client as unknown as RedisClient;
      this.ownsClient = true;
    }
    if (this.options.budget) this.fleetBudget = new RedisBucket(this.options.budget.signaturesPerSecond, this.options.budget.burst, `${this.options.keyPrefix}budget`);
    // Wait (bounded) for the first connection; a store that cannot connect works by its failure policy.
    const deadline = Date.now() + Math.max(1000, this.options.commandTimeoutMs * 8);
    while (this.client.status !== 'ready' && Date.now() < deadline && !this.closed) await sleep(20);
    if (this.client.status !== 'ready') {
      this.markDown('connect');
    }
  }

  /** Closes the client the store built from `url` (a client you passed stays open). */
  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    if (!client || !this.ownsClient) return;
    try {
      if (client.status === 'ready') await this.bounded(client.quit(), 'quit');
      else client.disconnect();
    } catch {
      client.disconnect();
    }
  }

  /** Whether Redis answers (a `PING` bounded by `commandTimeoutMs`), and the failure policy. */
  async status(): Promise<TokenStoreStatus> {
    const base = { kind: this.kind, failurePolicy: this.options.failurePolicy };
    try {
      await this.command('ping', (c) => c.ping());
      return { ...base, up: true };
    } catch {
      return { ...base, up: false, message: this.lastProblem ?? 'Redis is not reachable' };
    }
  }

  /** The Redis key base of an identity under the current signing key: an HMAC, no user data. */
  private keyOf(identity: IAdvizeUser, kid: string): string {
    // Own properties only (the identity was validated, but never read through a prototype).
    const vd = (Object.hasOwn(identity, 'visitorData') ? identity.visitorData : undefined) as Record<string, string> | undefined;
    const canonical = JSON.stringify([identity.userId, vd ? Object.keys(vd).sort().map((k) => [k, vd[k]]) : null]);
    return createHmac('sha256', this.hmacKey as KeyObject)
      .update(`nestjs-iadvize-auth/v1\0${kid}\0${canonical}`, 'utf8')
      .digest('base64url');
  }

  /** A token for `identity`: reused, shared, or minted by `mint` within the budget. */
  issue(identity: IAdvizeUser, mint: () => Promise<IAdvizeToken>, signingKeyThumbprint: string): Promise<TokenStoreResult> {
    const ctx = this.ctx;
    const kid = signingKeyThumbprint;
    const hash = this.keyOf(identity, kid);
    const now = ctx.clock();
    const hit = this.local.get(hash);
    if (hit && this.fresh(hit, kid, now)) {
      this.emitHit('local', false);
      return Promise.resolve({ token: hit.token, cached: true });
    }
    const pending = this.inFlight.get(hash);
    if (pending) return pending.then((r) => ({ token: r.token, cached: true }));
    const promise = this.resolveMiss(hash, kid, mint).finally(() => this.inFlight.delete(hash));
    this.inFlight.set(hash, promise);
    return promise;
  }

  private fresh(entry: Entry, kid: string, now: number): boolean {
    // Replicas' clocks differ a little: an entry minted up to MAX_CLOCK_SKEW_MS "in the future" is fresh.
    return entry.kid === kid && entry.mintedAt - now <= MAX_CLOCK_SKEW_MS && now - entry.mintedAt < this.reuseMs;
  }

  private usableStale(entry: Entry | undefined, kid: string, now: number): entry is Entry {
    return entry !== undefined && entry.kid === kid && entry.token.expiresAt * 1000 - now >= this.minValidityMs;
  }

  private async resolveMiss(hash: string, kid: string, mint: () => Promise<IAdvizeToken>): Promise<TokenStoreResult> {
    try {
      return await this.throughRedis(hash, kid, mint);
    } catch (e) {
      if (!(e instanceof StoreDown)) throw e;
      if (this.options.failurePolicy === 'closed') {
        throw new SigningUnavailableError('token store "redis" is unreachable and its failurePolicy is "closed"; check Redis (the replica recovers by itself when it answers)', {
          retryAfterSeconds: 1,
        });
      }
      return this.locally(hash, kid, mint);
    }
  }

  /** The fleet path: shared entry, lock, budget, publish. Throws StoreDown when Redis fails. */
  private async throughRedis(hash: string, kid: string, mint: () => Promise<IAdvizeToken>): Promise<TokenStoreResult> {
    const tokenKey = `${this.options.keyPrefix}{${hash}}:t`;
    const lockKey = `${this.options.keyPrefix}{${hash}}:l`;
    const waitStart = Date.now();
    let waited = false;
    let pollMs = 10;
    for (;;) {
      const shared = this.parse(await this.command('get', (c) => c.get(tokenKey)));
      const now = this.ctx.clock();
      if (shared && this.fresh(shared, kid, now)) {
        this.remember(hash, shared);
        if (waited) this.emitCoalesced('shared', Date.now() - waitStart);
        else this.emitHit('shared', false);
        return { token: shared.token, cached: true };
      }
      const nonce = randomBytes(12).toString('base64url');
      const lockMs = this.ctx.signingTimeoutMs + 1000;
      const locked = await this.command('lock', (c) => c.set(lockKey, nonce, 'PX', lockMs, 'NX'));
      if (locked === 'OK') {
        return this.signAsLeader(hash, kid, mint, { tokenKey, lockKey, nonce }, shared);
      }
      if (Date.now() - waitStart >= this.lockWaitMs) {
        this.emitCoalesced('timeout', Date.now() - waitStart);
        return this.signAsLeader(hash, kid, mint, undefined, shared);
      }
      waited = true;
      await sleep(pollMs);
      pollMs = Math.min(100, Math.ceil(pollMs * 1.5));
    }
  }

  private async signAsLeader(
    hash: string,
    kid: string,
    mint: () => Promise<IAdvizeToken>,
    lock: { tokenKey: string; lockKey: string; nonce: string } | undefined,
    stale: Entry | undefined,
  ): Promise<TokenStoreResult> {
    const bucket = this.fleetBudget;
    if (bucket) {
      let answer: BudgetAnswer;
      try {
        // A request that can fall back on a still-valid token does not queue for budget: new visitors go first.
        const now = this.ctx.clock();
        const canWait = !this.usableStale(stale, kid, now) && !this.usableStale(this.local.get(hash), kid, now);
        answer = await this.takeBudget((c) => bucket.take(c as never, !canWait), canWait);
      } catch (e) {
        if (lock) void this.release(lock);
        throw e;
      }
      if (!answer.allowed) {
        if (lock) void this.release(lock);
        return this.refuse('fleet', hash, kid, stale, answer.waitMs);
      }
    }
    let token: IAdvizeToken;
    const mintedAt = this.ctx.clock();
    try {
      token = await mint();
    } catch (e) {
      if (lock) void this.release(lock);
      throw e;
    }
    const entry: Entry = { token, mintedAt, kid };
    this.remember(hash, entry);
    const ttlMs = Math.floor(token.expiresAt * 1000 - mintedAt - this.minValidityMs);
    const tokenKey = lock?.tokenKey ?? `${this.options.keyPrefix}{${hash}}:t`;
    const lockKey = lock?.lockKey ?? `${this.options.keyPrefix}{${hash}}:l`;
    if (ttlMs > 0) {
      // Best effort: the token is already minted and served; a failed publish only costs reuse.
      await this.command('publish', (c) => c.eval(PUBLISH_SCRIPT, 2, tokenKey, lockKey, JSON.stringify(entry), ttlMs, lock?.nonce ?? '')).catch(() => undefined);
    } else if (lock) {
      void this.release(lock);
    }
    return { token, cached: false };
  }

  /** Takes one signature from the fleet budget, waiting up to `maxWaitMs` for one. */
  private async takeBudget(take: (c: RedisClient) => Promise<BudgetAnswer>, canWait: boolean): Promise<BudgetAnswer> {
    const maxWait = canWait ? (this.options.budget?.maxWaitMs ?? 0) : 0;
    const start = Date.now();
    for (;;) {
      const answer = await this.command('budget', take);
      if (answer.allowed) return answer;
      const spent = Date.now() - start;
      if (spent + answer.waitMs > maxWait) return answer;
      await sleep(Math.max(1, answer.waitMs));
    }
  }

  private refuse(scope: 'fleet' | 'replica', hash: string, kid: string, stale: Entry | undefined, waitMs: number): TokenStoreResult {
    const now = this.ctx.clock();
    const local = this.local.get(hash);
    const candidate = [stale, local].filter((e): e is Entry => this.usableStale(e, kid, now)).sort((a, b) => b.token.expiresAt - a.token.expiresAt)[0];
    if (candidate) {
      this.emitHit(candidate === stale ? 'shared' : 'local', true);
      if (this.events.listening('budget.refused')) this.events.emit('budget.refused', { scope, served: 'cached' });
      return { token: candidate.token, cached: true };
    }
    const maxRetry = this.options.budget?.maxRetryAfterSeconds ?? 5;
    const retryAfterSeconds = Math.min(maxRetry, Math.max(1, Math.ceil(waitMs / 1000)));
    if (this.events.listening('budget.refused')) this.events.emit('budget.refused', { scope, served: 'none', retryAfterSeconds });
    throw new SigningUnavailableError(
      `the ${scope === 'fleet' ? 'fleet-wide' : "replica's share of the"} signing budget (tokenStore budget.signaturesPerSecond) is spent and no cached token is left for this identity; raise the budget if the KMS quota allows`,
      { retryAfterSeconds },
    );
  }

  /** The fail-open path: in-process cache (already checked) and this replica's share of the budget. */
  private async locally(hash: string, kid: string, mint: () => Promise<IAdvizeToken>): Promise<TokenStoreResult> {
    const bucket = this.replicaBudget;
    if (bucket) {
      const canWait = !this.usableStale(this.local.get(hash), kid, this.ctx.clock());
      const maxWait = canWait ? (this.options.budget?.maxWaitMs ?? 0) : 0;
      let answer = bucket.take(!canWait);
      const start = Date.now();
      while (!answer.allowed && Date.now() - start + answer.waitMs <= maxWait) {
        await sleep(Math.max(1, answer.waitMs));
        answer = bucket.take(!canWait);
      }
      if (!answer.allowed) return this.refuse('replica', hash, kid, undefined, answer.waitMs);
    }
    const mintedAt = this.ctx.clock();
    const token = await mint();
    this.remember(hash, { token, mintedAt, kid });
    return { token, cached: false };
  }

  private remember(hash: string, entry: Entry): void {
    this.local.delete(hash);
    while (this.local.size >= this.options.maxLocalEntries) {
      const oldest = this.local.keys().next().value as string;
      this.local.delete(oldest);
    }
    this.local.set(hash, entry);
  }

  private parse(value: string | null): Entry | undefined {
    if (value === null || value === undefined) return undefined;
    try {
      const e = JSON.parse(value) as Entry;
      if (typeof e?.token?.token !== 'string' || typeof e.token.expiresAt !== 'number' || typeof e.mintedAt !== 'number' || typeof e.kid !== 'string') return undefined;
      return e;
    } catch {
      return undefined;
    }
  }

  private async release(lock: { lockKey: string; nonce: string }): Promise<void> {
    await this.command('unlock', (c) => c.eval(RELEASE_SCRIPT, 1, lock.lockKey, lock.nonce)).catch(() => undefined);
  }

  /** Runs one Redis command, bounded by `commandTimeoutMs`; any failure becomes StoreDown (and is reported). */
  private async command<T>(operation: string, run: (client: RedisClient) => Promise<T>): Promise<T> {
    if (!this.client) await this.connect();
    const client = this.client as RedisClient;
    if (client.status !== 'ready') {
      this.markDown('unavailable');
      throw new StoreDown(operation);
    }
    try {
      const result = await this.bounded(run(client), operation);
      this.markUp();
      return result;
    } catch (e) {
      this.markDown(operation);
      throw e instanceof StoreDown ? e : new StoreDown(operation);
    }
  }

  private bounded<T>(promise: Promise<T>, operation: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreDown(operation)), this.options.commandTimeoutMs);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  private markDown(operation: string): void {
    if (this.closed) return;
    this.lastProblem = operation === 'connect' || operation === 'connection' || operation === 'unavailable' ? 'Redis is not connected' : `Redis ${operation} failed or timed out`;
    if (this.downSince === undefined) {
      this.downSince = Date.now();
      this.logger.warn(
        `${this.lastProblem}; ${this.options.failurePolicy === 'open' ? 'serving from the in-process cache within this replica\'s share of the signing budget (failurePolicy "open")' : 'requests that need a signature get 503 (failurePolicy "closed")'} until Redis answers again`,
      );
    }
    if (this.events.listening('store.error')) this.events.emit('store.error', { store: this.kind, operation, failurePolicy: this.options.failurePolicy });
  }

  private markUp(): void {
    if (this.downSince === undefined) return;
    const downMs = Date.now() - this.downSince;
    this.downSince = undefined;
    this.lastProblem = undefined;
    this.logger.log(`Redis answers again after ${Math.round(downMs)} ms; the replica is back in the fleet`);
    if (this.events.listening('store.recovered')) this.events.emit('store.recovered', { store: this.kind, downMs });
  }

  private emitHit(source: 'local' | 'shared', stale: boolean): void {
    if (this.events.listening('store.hit')) this.events.emit('store.hit', { source, stale });
  }

  private emitCoalesced(outcome: 'shared' | 'timeout', waitedMs: number): void {
    if (this.events.listening('store.coalesced')) this.events.emit('store.coalesced', { outcome, waitedMs });
  }
}
