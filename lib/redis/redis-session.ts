import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { IntervalLog } from '../common/interval-log.js';
import { SigningUnavailableError } from '../errors.js';
import type { IAdvizeAuthEvents } from '../events/iadvize-auth-events.service.js';
import { boundRetryAfter } from '../http/retry-after.js';
import type { IAdvizeUser } from '../token/identity.js';
import type { IAdvizeToken } from '../token/iadvize-token.js';
import { MemoryTier } from '../token/memory-token.store.js';
import type { OpenTokenStore, TokenStoreContext, TokenStoreResult, TokenStoreStatus } from '../token/token-store.js';
import type { ResolvedRedisTokenStoreOptions } from './redis-token-store.options.js';
import { RedisLink, StoreDown, WrongType, type RedisLinkOptions } from './redis-link.js';
import { PUBLISH_SCRIPT, RELEASE_SCRIPT, StoreKeys, type RejectedEntryReason, type SharedEntry } from './shared-entry.js';
import { LocalBucket, RedisBucket, takeWithin, type BudgetAnswer } from './signing-budget.js';

/** Clock difference between replicas tolerated when judging a shared entry's age, in ms. */
const MAX_CLOCK_SKEW_MS = 5000;

/** An identity's names: in this replica's tier (canonical identity) and its two keys in Redis. */
interface Names {
  local: string;
  tokenKey: string;
  lockKey: string;
}

/**
 * A {@link RedisTokenStore} opened for one module: the fleet path (shared
 * entry, lock, budget, publish), the fail-open path, health. @internal
 */
export class RedisSession implements OpenTokenStore {
  readonly kind = 'redis';
  private readonly logger = new Logger('IAdvizeRedisTokenStore');
  private readonly rejections = new IntervalLog(this.logger);
  private readonly link: RedisLink;
  private readonly keys: StoreKeys;
  private readonly events: IAdvizeAuthEvents;
  /** This replica's tier: tokens and requests in flight, by canonical identity and signing key. */
  private readonly local: MemoryTier;
  private readonly fleetBudget?: RedisBucket;
  private readonly replicaBudget?: LocalBucket;
  private readonly healthNonce = randomBytes(9).toString('base64url');
  /** How long a minted token is handed out again, in ms. */
  private readonly reuseMs: number;
  /** Over budget, a cached token is still served while it has this much validity left, in ms. */
  private readonly minValidityMs: number;
  /**
   * How long a signing request holds its lock: its whole worst case (the lock's own reply, the budget
   * wait and its last answer, the signature, the publish), plus a margin for a busy event loop.
   */
  private readonly lockMs: number;
  /** One request's deadline for all its Redis waits: two holders' locks in a row (the first one failed), its own budget wait and commands. */
  private readonly requestMs: number;

  constructor(
    private readonly options: ResolvedRedisTokenStoreOptions,
    windows: { reuseMs: number; minValidityMs: number },
    secret: Uint8Array,
    connection: Omit<RedisLinkOptions, 'commandTimeoutMs' | 'failurePolicy'>,
    private readonly ctx: TokenStoreContext,
  ) {
    this.events = ctx.events;
    this.keys = new StoreKeys(secret, options.keyPrefix, ctx);
    const probeKey = this.keys.healthKey(this.healthNonce);
    this.link = new RedisLink({ ...connection, commandTimeoutMs: options.commandTimeoutMs, failurePolicy: options.failurePolicy, probeKey }, ctx.events);
    this.local = new MemoryTier(options.maxLocalEntries);
    this.reuseMs = windows.reuseMs;
    this.minValidityMs = windows.minValidityMs;
    const maxWaitMs = options.budget?.maxWaitMs ?? 0;
    this.lockMs = ctx.signingTimeoutMs + maxWaitMs + 4 * options.commandTimeoutMs + 1000;
    this.requestMs = 2 * this.lockMs + maxWaitMs + 4 * options.commandTimeoutMs;
    const budget = options.budget;
    if (budget) {
      this.fleetBudget = new RedisBucket(budget.signaturesPerSecond, budget.burst, this.keys.budgetKey);
      const share = budget.signaturesPerSecond / options.expectedReplicas;
      this.replicaBudget = new LocalBucket(share, Math.max(1, Math.floor(budget.burst / options.expectedReplicas)));
    }
  }

  /** What the module's startup line says of the store (no secret, no address). */
  get description(): string {
    const b = this.options.budget;
    const budget = b ? `signing budget ${b.signaturesPerSecond}/s + burst ${b.burst} across ${this.options.expectedReplicas} expected replica(s)` : 'no signing budget';
    return `redis (reuse ${this.reuseMs / 1000} s, ${budget}, failurePolicy "${this.options.failurePolicy}", key prefix "${this.options.keyPrefix}")`;
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
    const trip = await this.link.roundTrip(this.keys.healthKey(this.healthNonce));
    if (!trip.up) return { ...base, up: false, message: trip.message };
    // Hysteresis: after failures, up once writes have succeeded for a quiet second (the round trip is one).
    return this.link.down ? { ...base, up: false, message: 'Redis answers again; waiting for a quiet second before counting it up' } : { ...base, up: true };
  }

  /** A token for `identity`: reused, shared, or minted by `mint` within the budget. */
  issue(identity: IAdvizeUser, mint: () => Promise<IAdvizeToken>, signingKeyThumbprint: string): Promise<TokenStoreResult> {
    const kid = signingKeyThumbprint;
    const local = MemoryTier.keyOf(identity, kid);
    const hit = this.local.get(local);
    if (hit && this.fresh(hit, kid, this.ctx.clock())) {
      this.emitHit('local', false);
      return Promise.resolve({ token: hit.token, cached: true });
    }
    const pending = this.local.pending(local);
    if (pending) return pending.then((r) => ({ token: r.token, cached: true }));
    return this.local.lead(local, () => {
      const base = this.keys.identityBase(identity, kid);
      return this.resolveMiss({ local, tokenKey: this.keys.tokenKey(base), lockKey: this.keys.lockKey(base) }, kid, mint);
    });
  }

  private fresh(entry: SharedEntry, kid: string, now: number): boolean {
    // Replicas' clocks differ a little: an entry minted up to MAX_CLOCK_SKEW_MS "in the future" is fresh.
    return entry.kid === kid && entry.mintedAt - now <= MAX_CLOCK_SKEW_MS && now - entry.mintedAt < this.reuseMs;
  }

  private usableStale(entry: SharedEntry | undefined, kid: string, now: number): entry is SharedEntry {
    return entry !== undefined && entry.kid === kid && entry.token.expiresAt * 1000 - now >= this.minValidityMs;
  }

  private async resolveMiss(names: Names, kid: string, mint: () => Promise<IAdvizeToken>): Promise<TokenStoreResult> {
    const until = Date.now() + this.requestMs;
    try {
      return await this.throughRedis(names, kid, mint, until);
    } catch (e) {
      if (!(e instanceof StoreDown)) throw e;
      if (this.options.failurePolicy === 'closed') {
        throw new SigningUnavailableError('token store "redis" is unreachable or refuses writes and its failurePolicy is "closed"; check Redis (the replica recovers by itself when it answers)', {
          retryAfterSeconds: 1,
        });
      }
      return this.locally(names.local, kid, mint);
    }
  }

  /** The fleet path: shared entry, lock, budget, publish. Throws StoreDown when Redis fails. */
  private async throughRedis(names: Names, kid: string, mint: () => Promise<IAdvizeToken>, until: number): Promise<TokenStoreResult> {
    const waitStart = Date.now();
    const waitStartClock = this.ctx.clock();
    let holderSince = waitStart;
    let holder: string | undefined;
    let waited = false;
    let pollMs = 10;
    for (;;) {
      const shared = await this.read(names.tokenKey, kid, until);
      const now = this.ctx.clock();
      // Fresh, or (after waiting) minted by the holder this request waited for, even if signing took longer than the reuse window.
      const awaited = waited && shared !== undefined && shared.mintedAt >= waitStartClock - MAX_CLOCK_SKEW_MS && this.usableStale(shared, kid, now);
      if (shared && (this.fresh(shared, kid, now) || awaited)) {
        this.local.set(names.local, shared);
        if (waited) this.emitCoalesced('shared', Date.now() - waitStart);
        else this.emitHit('shared', false);
        return { token: shared.token, cached: true };
      }
      const nonce = randomBytes(12).toString('base64url');
      const locked = await this.link.command('lock', (c) => c.set(names.lockKey, nonce, 'PX', this.lockMs, 'NX'), true, until);
      if (locked === 'OK') return this.signAsLeader(names, kid, mint, nonce, shared, until);
      // Another request holds the lock (its nonce): its token comes, or its lock goes (failure, expiry) and this one takes it.
      const current = (await this.getOrRepair('lock', names.lockKey, until)) ?? undefined;
      if (current !== holder) {
        holder = current; // a new holder (the last one failed): its own lock lifetime starts now
        holderSince = Date.now();
      }
      // Past a whole lock lifetime of one holder, the lock is not this fleet's (no TTL, re-set by someone else): sign without it.
      if (Date.now() - holderSince >= this.lockMs + this.options.commandTimeoutMs) {
        this.emitCoalesced('timeout', Date.now() - waitStart);
        return this.signAsLeader(names, kid, mint, undefined, shared, until);
      }
      waited = true;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      pollMs = Math.min(100, Math.ceil(pollMs * 1.5));
    }
  }

  /**
   * The value under `key`; a value of another type there (not this fleet's) is
   * reported, removed so the next write can take its place, and read as none.
   */
  private async getOrRepair(operation: string, key: string, until: number): Promise<string | null> {
    try {
      return await this.link.command(operation, (c) => c.get(key), false, until);
    } catch (e) {
      if (!(e instanceof WrongType)) throw e;
      this.reject('malformed');
      await this.link.command('repair', (c) => c.del(key), true, until);
      return null;
    }
  }

  /** The entry under `tokenKey`, authenticated and checked; a value that is not is reported and treated as missing. */
  private async read(tokenKey: string, kid: string, until: number): Promise<SharedEntry | undefined> {
    const opened = this.keys.open(tokenKey, kid, await this.getOrRepair('get', tokenKey, until));
    if (typeof opened !== 'string') return opened;
    this.reject(opened);
    return undefined;
  }

  /** Signs within the budget and publishes; `nonce`: the lock this request holds, if any. */
  private async signAsLeader(names: Names, kid: string, mint: () => Promise<IAdvizeToken>, nonce: string | undefined, stale: SharedEntry | undefined, until: number): Promise<TokenStoreResult> {
    const bucket = this.fleetBudget;
    if (bucket) {
      let answer: BudgetAnswer;
      try {
        // A request that can fall back on a still-valid token does not queue for budget: new visitors go first.
        const now = this.ctx.clock();
        const canWait = !this.usableStale(stale, kid, now) && !this.usableStale(this.local.get(names.local), kid, now);
        const waitUntil = canWait ? Math.min(until, Date.now() + (this.options.budget?.maxWaitMs ?? 0)) : 0;
        answer = await takeWithin(() => this.link.command('budget', (c) => bucket.take(c as never, !canWait), true, until), waitUntil);
      } catch (e) {
        if (nonce) void this.release(names.lockKey, nonce);
        throw e;
      }
      if (answer.repaired) this.reject('budget-state');
      if (!answer.allowed) {
        if (nonce) void this.release(names.lockKey, nonce);
        return this.refuse('fleet', names.local, kid, stale, answer.waitMs);
      }
    }
    let token: IAdvizeToken;
    const mintedAt = this.ctx.clock();
    try {
      token = await mint();
    } catch (e) {
      if (nonce) void this.release(names.lockKey, nonce);
      throw e;
    }
    const entry: SharedEntry = { token, mintedAt, kid };
    this.local.set(names.local, entry);
    const ttlMs = Math.floor(token.expiresAt * 1000 - mintedAt - this.minValidityMs);
    if (ttlMs > 0) {
      // Best effort: the token is already minted and served; a failed publish only costs reuse.
      const sealed = this.keys.seal(names.tokenKey, entry);
      await this.link.command('publish', (c) => c.eval(PUBLISH_SCRIPT, 2, names.tokenKey, names.lockKey, sealed, ttlMs, nonce ?? ''), true, until).catch(() => undefined);
    } else if (nonce) {
      void this.release(names.lockKey, nonce);
    }
    return { token, cached: false };
  }

  private refuse(scope: 'fleet' | 'replica', local: string, kid: string, stale: SharedEntry | undefined, waitMs: number): TokenStoreResult {
    const now = this.ctx.clock();
    const mine = this.local.get(local);
    const candidate = [stale, mine].filter((e): e is SharedEntry => this.usableStale(e, kid, now)).sort((a, b) => b.token.expiresAt - a.token.expiresAt)[0];
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
  private async locally(local: string, kid: string, mint: () => Promise<IAdvizeToken>): Promise<TokenStoreResult> {
    const bucket = this.replicaBudget;
    if (bucket) {
      const canWait = !this.usableStale(this.local.get(local), kid, this.ctx.clock());
      const answer = await takeWithin(() => bucket.take(!canWait), canWait ? Date.now() + (this.options.budget?.maxWaitMs ?? 0) : 0);
      if (!answer.allowed) return this.refuse('replica', local, kid, undefined, answer.waitMs);
    }
    const mintedAt = this.ctx.clock();
    const token = await mint();
    this.local.set(local, { token, mintedAt, kid });
    return { token, cached: false };
  }

  private async release(lockKey: string, nonce: string): Promise<void> {
    await this.link.command('unlock', (c) => c.eval(RELEASE_SCRIPT, 1, lockKey, nonce), true).catch(() => undefined);
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
