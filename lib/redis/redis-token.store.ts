import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { IntervalLog } from '../common/interval-log.js';
import { InvalidOptionsError, SigningUnavailableError } from '../errors.js';
import { IAdvizeAuthEvents } from '../events/iadvize-auth-events.service.js';
import { boundRetryAfter } from '../http/retry-after.js';
import type { IAdvizeUser } from '../token/identity.js';
import type { IAdvizeToken } from '../token/token.service.js';
import type { TokenStore, TokenStoreContext, TokenStoreResult, TokenStoreStatus } from '../token/token-store.js';
import { resolveRedisTokenStoreOptions, type RedisTokenStoreOptions, type ResolvedRedisTokenStoreOptions } from './redis-token-store.options.js';
import { RedisLink, StoreDown } from './redis-link.js';
import { PUBLISH_SCRIPT, RELEASE_SCRIPT, StoreKeys, type RejectedEntryReason, type SharedEntry } from './shared-entry.js';
import { LocalBucket, RedisBucket, takeWithin, type BudgetAnswer } from './signing-budget.js';

/** Clock difference between replicas tolerated when judging a shared entry's age, in ms. */
const MAX_CLOCK_SKEW_MS = 5000;

/** What a request holds while it signs for the fleet. */
interface Lock {
  tokenKey: string;
  lockKey: string;
  nonce: string;
}

/**
 * A token store shared by the replicas of a fleet, on Redis
 * (`nestjs-iadvize-auth/redis`; needs the optional peer `ioredis`):
 *
 * - **reuse across replicas**: a token minted by one replica is served by
 *   every replica for the same identity during `reuseSeconds` (at most half
 *   the token lifetime), from Redis and from each replica's memory;
 * - **coalescing**: concurrent misses for one identity, on any replicas,
 *   cost one signature while Redis answers: one request takes a short lock
 *   (`SET NX PX`, as long as its own signing deadline) and signs; the others
 *   wait for its token, and one signs itself only once that holder is gone
 *   (its signature failed, or its lock expired);
 * - **signing budget**: an atomic limiter in Redis caps signatures per second
 *   across the fleet; over it, a still-valid cached token is served, else
 *   `503 IADVIZE_SIGNING_UNAVAILABLE` with `Retry-After`;
 * - **nothing read back is trusted**: every value is sealed with an HMAC
 *   (a key derived from `secret`) bound to its Redis key, the signing key,
 *   the issuer, the iAdvize key and the token lifetime; a value that does not
 *   verify is never served (the replica signs its own, and reports
 *   `store.rejected`); the budget state is checked and repaired to "spent";
 * - **Redis failure** (down, too slow, refusing writes) follows
 *   `failurePolicy` (default: fail open to the in-process cache and a
 *   per-replica share of the budget), is reported by the health check (a
 *   write-and-read round trip) and in events, and heals by itself when Redis
 *   takes writes again.
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
  private readonly rejections = new IntervalLog(this.logger);
  private readonly options: ResolvedRedisTokenStoreOptions;
  private readonly problems: string[];
  private readonly secret?: Uint8Array;
  private readonly link: RedisLink;
  private context?: TokenStoreContext;
  private keys?: StoreKeys;
  private events: IAdvizeAuthEvents = new IAdvizeAuthEvents();
  private readonly local = new Map<string, SharedEntry>();
  private readonly inFlight = new Map<string, Promise<TokenStoreResult>>();
  private fleetBudget?: RedisBucket;
  private readonly replicaBudget?: LocalBucket;
  private readonly healthNonce = randomBytes(9).toString('base64url');

  constructor(raw: RedisTokenStoreOptions) {
    const { options, problems, secret } = resolveRedisTokenStoreOptions(raw);
    this.options = options;
    this.problems = problems;
    this.secret = secret;
    const r = raw as Partial<RedisTokenStoreOptions> | undefined;
    this.link = new RedisLink({
      client: r?.client,
      url: options.url,
      redisOptions: r?.redisOptions,
      commandTimeoutMs: options.commandTimeoutMs,
      failurePolicy: options.failurePolicy,
    });
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

  /** Called by the token service: takes its clock, events and what gives a token its meaning. */
  attach(context: TokenStoreContext): void {
    const problems = this.checkOptions(context.tokenTtlSeconds);
    if (problems.length > 0 || !this.secret) throw new InvalidOptionsError(problems, 'RedisTokenStore options');
    this.context = context;
    this.events = context.events;
    this.link.events = context.events;
    this.keys = new StoreKeys(this.secret, this.options.keyPrefix, context);
    if (this.options.budget) this.fleetBudget = new RedisBucket(this.options.budget.signaturesPerSecond, this.options.budget.burst, this.keys.budgetKey);
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

  /** How long a signing request holds its lock: its whole deadline (budget wait, signature, Redis commands). */
  private get lockMs(): number {
    return this.ctx.signingTimeoutMs + (this.options.budget?.maxWaitMs ?? 0) + 2 * this.options.commandTimeoutMs + 1000;
  }

  /** Connects to Redis (bounded; a store that cannot connect works by its failure policy). */
  connect(): Promise<void> {
    return this.link.connect();
  }

  /** Closes the client the store built from `url` (a client you passed stays open). */
  close(): Promise<void> {
    return this.link.close();
  }

  /**
   * Whether Redis does what the store needs: a write-and-read round trip on a
   * short-lived key of this app, bounded by `commandTimeoutMs`. A Redis that
   * answers but refuses writes (read-only replica, out of memory) is down.
   */
  async status(): Promise<TokenStoreStatus> {
    const base = { kind: this.kind, failurePolicy: this.options.failurePolicy };
    const keys = this.keys;
    if (!keys) return { ...base, up: false, message: 'the store is not attached' };
    const trip = await this.link.roundTrip(keys.healthKey(this.healthNonce));
    if (!trip.up) return { ...base, up: false, message: trip.message };
    // Hysteresis: after failures, up once writes have succeeded for a quiet second (the round trip is one).
    return this.link.down ? { ...base, up: false, message: 'Redis answers again; waiting for a quiet second before counting it up' } : { ...base, up: true };
  }

  /** A token for `identity`: reused, shared, or minted by `mint` within the budget. */
  issue(identity: IAdvizeUser, mint: () => Promise<IAdvizeToken>, signingKeyThumbprint: string): Promise<TokenStoreResult> {
    const ctx = this.ctx;
    const kid = signingKeyThumbprint;
    const base = (this.keys as StoreKeys).identityBase(identity, kid);
    const hit = this.local.get(base);
    if (hit && this.fresh(hit, kid, ctx.clock())) {
      this.emitHit('local', false);
      return Promise.resolve({ token: hit.token, cached: true });
    }
    const pending = this.inFlight.get(base);
    if (pending) return pending.then((r) => ({ token: r.token, cached: true }));
    const promise = this.resolveMiss(base, kid, mint).finally(() => this.inFlight.delete(base));
    this.inFlight.set(base, promise);
    return promise;
  }

  private fresh(entry: SharedEntry, kid: string, now: number): boolean {
    // Replicas' clocks differ a little: an entry minted up to MAX_CLOCK_SKEW_MS "in the future" is fresh.
    return entry.kid === kid && entry.mintedAt - now <= MAX_CLOCK_SKEW_MS && now - entry.mintedAt < this.reuseMs;
  }

  private usableStale(entry: SharedEntry | undefined, kid: string, now: number): entry is SharedEntry {
    return entry !== undefined && entry.kid === kid && entry.token.expiresAt * 1000 - now >= this.minValidityMs;
  }

  private async resolveMiss(base: string, kid: string, mint: () => Promise<IAdvizeToken>): Promise<TokenStoreResult> {
    // One deadline for every Redis wait of this request: the longest a holder may keep its lock, the budget wait, the commands.
    const until = Date.now() + this.lockMs + (this.options.budget?.maxWaitMs ?? 0) + 4 * this.options.commandTimeoutMs;
    try {
      return await this.throughRedis(base, kid, mint, until);
    } catch (e) {
      if (!(e instanceof StoreDown)) throw e;
      if (this.options.failurePolicy === 'closed') {
        throw new SigningUnavailableError('token store "redis" is unreachable or refuses writes and its failurePolicy is "closed"; check Redis (the replica recovers by itself when it answers)', {
          retryAfterSeconds: 1,
        });
      }
      return this.locally(base, kid, mint);
    }
  }

  /** The fleet path: shared entry, lock, budget, publish. Throws StoreDown when Redis fails. */
  private async throughRedis(base: string, kid: string, mint: () => Promise<IAdvizeToken>, until: number): Promise<TokenStoreResult> {
    const keys = this.keys as StoreKeys;
    const tokenKey = keys.tokenKey(base);
    const lockKey = keys.lockKey(base);
    const waitStart = Date.now();
    let waited = false;
    let pollMs = 10;
    for (;;) {
      const shared = await this.read(tokenKey, kid, until);
      if (shared && this.fresh(shared, kid, this.ctx.clock())) {
        this.remember(base, shared);
        if (waited) this.emitCoalesced('shared', Date.now() - waitStart);
        else this.emitHit('shared', false);
        return { token: shared.token, cached: true };
      }
      const nonce = randomBytes(12).toString('base64url');
      const locked = await this.link.command('lock', (c) => c.set(lockKey, nonce, 'PX', this.lockMs, 'NX'), true, until);
      if (locked === 'OK') return this.signAsLeader(base, kid, mint, { tokenKey, lockKey, nonce }, shared, until);
      // Another request holds the lock: its token comes, or its lock goes (failure, expiry) and this one takes it.
      // Past a whole lock lifetime, someone keeps re-taking it (not this fleet's behaviour): sign without it.
      if (Date.now() - waitStart >= this.lockMs + this.options.commandTimeoutMs) {
        this.emitCoalesced('timeout', Date.now() - waitStart);
        return this.signAsLeader(base, kid, mint, undefined, shared, until);
      }
      waited = true;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      pollMs = Math.min(100, Math.ceil(pollMs * 1.5));
    }
  }

  /** The entry under `tokenKey`, authenticated and checked; a value that is not is reported and treated as missing. */
  private async read(tokenKey: string, kid: string, until: number): Promise<SharedEntry | undefined> {
    const value = await this.link.command('get', (c) => c.get(tokenKey), false, until);
    const opened = (this.keys as StoreKeys).open(tokenKey, kid, value);
    if (typeof opened !== 'string') return opened;
    this.reject(opened);
    return undefined;
  }

  private async signAsLeader(base: string, kid: string, mint: () => Promise<IAdvizeToken>, lock: Lock | undefined, stale: SharedEntry | undefined, until: number): Promise<TokenStoreResult> {
    const bucket = this.fleetBudget;
    if (bucket) {
      let answer: BudgetAnswer;
      try {
        // A request that can fall back on a still-valid token does not queue for budget: new visitors go first.
        const now = this.ctx.clock();
        const canWait = !this.usableStale(stale, kid, now) && !this.usableStale(this.local.get(base), kid, now);
        const waitUntil = canWait ? Math.min(until, Date.now() + (this.options.budget?.maxWaitMs ?? 0)) : 0;
        answer = await takeWithin(() => this.link.command('budget', (c) => bucket.take(c as never, !canWait), true, until), waitUntil);
      } catch (e) {
        if (lock) void this.release(lock);
        throw e;
      }
      if (answer.repaired) this.reject('budget-state');
      if (!answer.allowed) {
        if (lock) void this.release(lock);
        return this.refuse('fleet', base, kid, stale, answer.waitMs);
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
    this.remember(base, entry);
    const keys = this.keys as StoreKeys;
    const ttlMs = Math.floor(token.expiresAt * 1000 - mintedAt - this.minValidityMs);
    const tokenKey = lock?.tokenKey ?? keys.tokenKey(base);
    const lockKey = lock?.lockKey ?? keys.lockKey(base);
    if (ttlMs > 0) {
      // Best effort: the token is already minted and served; a failed publish only costs reuse.
      await this.link.command('publish', (c) => c.eval(PUBLISH_SCRIPT, 2, tokenKey, lockKey, keys.seal(tokenKey, entry), ttlMs, lock?.nonce ?? ''), true).catch(() => undefined);
    } else if (lock) {
      void this.release(lock);
    }
    return { token, cached: false };
  }

  private refuse(scope: 'fleet' | 'replica', base: string, kid: string, stale: SharedEntry | undefined, waitMs: number): TokenStoreResult {
    const now = this.ctx.clock();
    const local = this.local.get(base);
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
  private async locally(base: string, kid: string, mint: () => Promise<IAdvizeToken>): Promise<TokenStoreResult> {
    const bucket = this.replicaBudget;
    if (bucket) {
      const canWait = !this.usableStale(this.local.get(base), kid, this.ctx.clock());
      const answer = await takeWithin(() => bucket.take(!canWait), canWait ? Date.now() + (this.options.budget?.maxWaitMs ?? 0) : 0);
      if (!answer.allowed) return this.refuse('replica', base, kid, undefined, answer.waitMs);
    }
    const mintedAt = this.ctx.clock();
    const token = await mint();
    this.remember(base, { token, mintedAt, kid });
    return { token, cached: false };
  }

  private remember(base: string, entry: SharedEntry): void {
    this.local.delete(base);
    while (this.local.size >= this.options.maxLocalEntries) {
      const oldest = this.local.keys().next().value as string;
      this.local.delete(oldest);
    }
    this.local.set(base, entry);
  }

  private async release(lock: Lock): Promise<void> {
    await this.link.command('unlock', (c) => c.eval(RELEASE_SCRIPT, 1, lock.lockKey, lock.nonce), true).catch(() => undefined);
  }

  /** A value read from Redis that this fleet did not write (or not for this context): counted, evented, logged at a bounded rate. */
  private reject(reason: RejectedEntryReason | 'budget-state'): void {
    if (this.events.listening('store.rejected')) this.events.emit('store.rejected', { store: this.kind, reason });
    this.rejections.note(
      reason,
      'warn',
      reason === 'budget-state'
        ? 'the signing budget state in Redis was not a number in range and was reset to "spent": something other than this fleet writes to its key'
        : `a value read from Redis was not served (${reason}): something other than this fleet (or a replica with another secret) wrote to this store's keys; the replica signed its own token`,
    );
  }

  private emitHit(source: 'local' | 'shared', stale: boolean): void {
    if (this.events.listening('store.hit')) this.events.emit('store.hit', { source, stale });
  }

  private emitCoalesced(outcome: 'shared' | 'timeout', waitedMs: number): void {
    if (this.events.listening('store.coalesced')) this.events.emit('store.coalesced', { outcome, waitedMs });
  }
}
