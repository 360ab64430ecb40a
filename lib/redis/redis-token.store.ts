import { randomBytes, type KeyObject } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { InvalidOptionsError, SigningUnavailableError } from '../errors.js';
import { IAdvizeAuthEvents } from '../events/iadvize-auth-events.service.js';
import { boundRetryAfter } from '../http/retry-after.js';
import { importOptional } from '../kms/optional-import.js';
import type { IAdvizeUser } from '../token/identity.js';
import type { IAdvizeToken } from '../token/token.service.js';
import type { TokenStore, TokenStoreContext, TokenStoreResult, TokenStoreStatus } from '../token/token-store.js';
import { resolveRedisTokenStoreOptions, type RedisTokenStoreOptions, type ResolvedRedisTokenStoreOptions } from './redis-token-store.options.js';
import { parseSharedEntry, PUBLISH_SCRIPT, RELEASE_SCRIPT, sharedKeyOf, type SharedEntry } from './shared-entry.js';
import { LocalBucket, RedisBucket, type BudgetAnswer } from './signing-budget.js';

/** Clock difference between replicas tolerated when judging a shared entry's age, in ms. */
const MAX_CLOCK_SKEW_MS = 5000;

/** Thrown inside the store when Redis fails; never leaves it. */
class StoreDown extends Error {
  constructor(readonly operation: string) {
    super(`redis ${operation} failed`);
  }
}

/** The minimal ioredis surface the store uses (a `Redis` or a `Cluster`). */
type RedisClient = Pick<Redis, 'get' | 'set' | 'eval' | 'ping' | 'status'> & { quit(): Promise<unknown>; disconnect(): void };

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
  private readonly options: ResolvedRedisTokenStoreOptions;
  private readonly problems: string[];
  private readonly hmacKey?: KeyObject;
  private context?: TokenStoreContext;
  private events: IAdvizeAuthEvents = new IAdvizeAuthEvents();
  private client?: RedisClient;
  private ownsClient = false;
  private connecting?: Promise<void>;
  private readonly local = new Map<string, SharedEntry>();
  private readonly inFlight = new Map<string, Promise<TokenStoreResult>>();
  private fleetBudget?: RedisBucket;
  private replicaBudget?: LocalBucket;
  /** When Redis started failing (ms, wall clock), or undefined while it answers. */
  private downSince: number | undefined;
  private lastProblem: string | undefined;
  private closed = false;

  constructor(private readonly raw: RedisTokenStoreOptions) {
    const { options, problems, hmacKey } = resolveRedisTokenStoreOptions(raw);
    this.options = options;
    this.problems = problems;
    this.hmacKey = hmacKey;
    const budget = options.budget;
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

  /** A token for `identity`: reused, shared, or minted by `mint` within the budget. */
  issue(identity: IAdvizeUser, mint: () => Promise<IAdvizeToken>, signingKeyThumbprint: string): Promise<TokenStoreResult> {
    const ctx = this.ctx;
    const kid = signingKeyThumbprint;
    const hash = sharedKeyOf(this.hmacKey as KeyObject, identity, kid);
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

  private fresh(entry: SharedEntry, kid: string, now: number): boolean {
    // Replicas' clocks differ a little: an entry minted up to MAX_CLOCK_SKEW_MS "in the future" is fresh.
    return entry.kid === kid && entry.mintedAt - now <= MAX_CLOCK_SKEW_MS && now - entry.mintedAt < this.reuseMs;
  }

  private usableStale(entry: SharedEntry | undefined, kid: string, now: number): entry is SharedEntry {
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
      const shared = parseSharedEntry(await this.command('get', (c) => c.get(tokenKey)));
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
    stale: SharedEntry | undefined,
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
    const entry: SharedEntry = { token, mintedAt, kid };
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

  private refuse(scope: 'fleet' | 'replica', hash: string, kid: string, stale: SharedEntry | undefined, waitMs: number): TokenStoreResult {
    const now = this.ctx.clock();
    const local = this.local.get(hash);
    const candidate = [stale, local].filter((e): e is SharedEntry => this.usableStale(e, kid, now)).sort((a, b) => b.token.expiresAt - a.token.expiresAt)[0];
    if (candidate) {
      this.emitHit(candidate === stale ? 'shared' : 'local', true);
      if (this.events.listening('budget.refused')) this.events.emit('budget.refused', { scope, served: 'cached' });
      return { token: candidate.token, cached: true };
    }
    const maxRetry = this.options.budget?.maxRetryAfterSeconds ?? 5;
    const retryAfterSeconds = Math.min(maxRetry, boundRetryAfter(waitMs / 1000));
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

  private remember(hash: string, entry: SharedEntry): void {
    this.local.delete(hash);
    while (this.local.size >= this.options.maxLocalEntries) {
      const oldest = this.local.keys().next().value as string;
      this.local.delete(oldest);
    }
    this.local.set(hash, entry);
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
