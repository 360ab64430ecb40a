import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { Redis, RedisOptions } from 'ioredis';
import type { IAdvizeAuthEvents } from '../events/iadvize-auth-events.service.js';
import { importOptional } from '../kms/optional-import.js';
import type { RedisUrlOptions } from './redis-url.js';

/** Thrown inside the store when Redis fails; never leaves it. @internal */
export class StoreDown extends Error {
  constructor(readonly operation: string) {
    super(`redis ${operation} failed`);
  }
}

/** Redis answered that a key holds a value of another type (someone else wrote it): not a Redis failure. @internal */
export class WrongType extends Error {
  constructor(readonly operation: string) {
    super(`redis ${operation}: a key holds a value of another type`);
  }
}

/** The minimal ioredis surface the store uses (a `Redis` or a `Cluster`). @internal */
export type RedisClient = Pick<Redis, 'get' | 'set' | 'del' | 'eval' | 'status'> & { quit(): Promise<unknown>; disconnect(): void };

/** How long writes must succeed with no failure before a down store counts as up again, in ms (hysteresis). */
const RECOVERY_QUIET_MS = 1000;

/** Writes a short-lived key and reads it back in one script (what the store uses: EVAL, SET, GET). */
const ROUND_TRIP_SCRIPT = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', 10000)
return redis.call('GET', KEYS[1])`;

/** Redis's own refusals, named for an operator (no address, no value). */
function problemOf(e: unknown, operation: string): string {
  const message = e instanceof Error ? e.message : '';
  if (message.startsWith('READONLY')) return `Redis refuses writes (${operation}): it is a read-only replica; point the store at the master (after a failover: check Sentinel or the Cluster)`;
  if (message.startsWith('OOM')) return `Redis refuses writes (${operation}): it is out of memory (maxmemory with policy noeviction); give it memory or an eviction policy such as volatile-ttl`;
  if (message.startsWith('NOPERM') || message.startsWith('NOAUTH') || message.startsWith('WRONGPASS')) {
    return `Redis refused ${operation} for this user: check its password and ACL (docs/key-providers.md, "Running a fleet", gives the ACL line)`;
  }
  return `Redis ${operation} failed or timed out`;
}

/** What a store needs of its connection options. @internal */
export interface RedisLinkOptions {
  /** A short-lived key of this replica for the write-and-read probe run while the store is down. */
  probeKey?: string;
  client?: unknown;
  url?: RedisUrlOptions;
  redisOptions?: RedisOptions;
  commandTimeoutMs: number;
  failurePolicy: 'open' | 'closed';
}

/**
 * The store's connection to Redis: builds the client, bounds every command,
 * and keeps the up/down state, which changes (and is logged, once) only on a
 * transition, with hysteresis both ways: down at a definite failure (not
 * connected, a refusal) or at a second timeout in a row (one late answer on a
 * busy machine is not an outage); up again only once a write succeeds with no
 * failure for {@link RECOVERY_QUIET_MS} (a Redis that reads but refuses writes
 * stays down). While down, a write-and-read probe runs every second, so the
 * state recovers even when every request is served from memory. @internal
 */
export class RedisLink {
  private readonly logger = new Logger('IAdvizeRedisTokenStore');
  private client?: RedisClient;
  private ownsClient = false;
  private connecting?: Promise<void>;
  private downSince: number | undefined;
  private lastFailureAt = 0;
  private lastProblem: string | undefined;
  /** One timeout seen since the last success: a second one in a row is an outage. */
  private suspect = false;
  private probe?: NodeJS.Timeout;
  private closed = false;
  constructor(
    private readonly options: RedisLinkOptions,
    private readonly events: IAdvizeAuthEvents,
  ) {}

  /** `true` from the first failure until the store counts as up again. */
  get down(): boolean {
    return this.downSince !== undefined;
  }

  /** Builds the ioredis client (lazily importing ioredis) and waits, bounded, for it to be ready. */
  connect(): Promise<void> {
    this.connecting ??= this.open();
    return this.connecting;
  }

  private async open(): Promise<void> {
    if (this.options.client) {
      this.client = this.options.client as RedisClient;
    } else {
      const mod = await importOptional(() => import('ioredis'), 'ioredis', 'RedisTokenStore (nestjs-iadvize-auth/redis)');
      const RedisCtor = (mod as { Redis?: typeof Redis }).Redis ?? (mod as unknown as { default: typeof Redis }).default;
      const timeout = this.options.commandTimeoutMs;
      const client = new RedisCtor({
        ...this.options.url,
        // Commands fail at once while disconnected instead of queueing: the failure policy decides.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: timeout,
        connectTimeout: Math.max(1000, timeout * 4),
        retryStrategy: (attempt: number) => Math.min(100 * attempt, 2000),
        ...this.options.redisOptions,
        lazyConnect: false,
      });
      // ioredis emits 'error' on every failed reconnection: count it, never crash on it.
      client.on('error', () => this.fail('connection'));
      this.client = client as unknown as RedisClient;
      this.ownsClient = true;
    }
    // Wait (bounded) for the first connection; a store that cannot connect works by its failure policy.
    const deadline = Date.now() + Math.max(1000, this.options.commandTimeoutMs * 8);
    while (this.client.status !== 'ready' && Date.now() < deadline && !this.closed) await new Promise((resolve) => setTimeout(resolve, 20));
    if (this.client.status !== 'ready') this.fail('connect');
  }

  /** Closes the client built from `url` (a client you passed stays open). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.probe);
    const client = this.client;
    if (!client || !this.ownsClient) return;
    try {
      if (client.status === 'ready') await this.bounded(client.quit(), 'quit', this.options.commandTimeoutMs);
      else client.disconnect();
    } catch {
      client.disconnect();
    }
  }

  /**
   * Runs one Redis command, bounded by `commandTimeoutMs` and by `until` (the
   * request's deadline, `Date.now()` clock); any failure becomes StoreDown.
   * `write`: a success may end a down state.
   */
  async command<T>(operation: string, run: (client: RedisClient) => Promise<T>, write: boolean, until = Infinity, report = true): Promise<T> {
    if (!this.client) await this.connect();
    const client = this.client as RedisClient;
    const timeout = Math.min(this.options.commandTimeoutMs, until - Date.now());
    if (timeout <= 0) throw new StoreDown('deadline'); // the request's own deadline: not a Redis failure
    if (client.status !== 'ready') {
      this.fail('unavailable', undefined, report);
      throw new StoreDown(operation);
    }
    try {
      const result = await this.bounded(run(client), operation, timeout);
      this.suspect = false;
      if (write) this.succeeded();
      return result;
    } catch (e) {
      // Cut short by the request's own deadline: not a Redis failure.
      if (e instanceof StoreDown && timeout < this.options.commandTimeoutMs) throw new StoreDown('deadline');
      // Redis answered: a key of this store holds a value of another type (the caller repairs it).
      if (e instanceof Error && e.message.startsWith('WRONGTYPE')) throw new WrongType(operation);
      this.fail(operation, e, report);
      throw e instanceof StoreDown ? e : new StoreDown(operation);
    }
  }

  /** A write-and-read round trip on a short-lived key (EVAL, SET, GET, as the store uses them). */
  async roundTrip(key: string, report = true): Promise<{ up: true } | { up: false; message: string }> {
    const nonce = randomBytes(12).toString('base64url');
    try {
      const read = await this.command('health', (c) => c.eval(ROUND_TRIP_SCRIPT, 1, key, nonce), true, Infinity, report);
      if (read !== nonce) {
        this.fail('health', undefined, report);
        return { up: false, message: 'Redis did not give back the value just written (health round trip)' };
      }
      const again = await this.command('health', (c) => c.get(key), false, Infinity, report);
      if (again !== nonce) return { up: false, message: 'Redis did not give back the value just written (health round trip)' };
      return { up: true };
    } catch {
      return { up: false, message: this.lastProblem ?? 'Redis is not reachable' };
    }
  }

  private bounded<T>(promise: Promise<T>, operation: string, timeoutMs: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      // One more turn of the event loop before giving up: after a stall of this process, timers run
      // before the socket is read, and an answer already received must not count as a timeout.
      timer = setTimeout(() => setImmediate(() => reject(new StoreDown(operation))), timeoutMs);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  private fail(operation: string, e?: unknown, report = true): void {
    if (this.closed) return;
    this.lastFailureAt = Date.now();
    const timedOut = e instanceof StoreDown;
    this.lastProblem =
      operation === 'connect' || operation === 'connection' || operation === 'unavailable' ? 'Redis is not connected' : timedOut ? `Redis ${operation} timed out` : problemOf(e, operation);
    // A first timeout in a row is not an outage yet (the request itself still follows the failure policy).
    const definite = !timedOut || this.suspect;
    this.suspect = timedOut;
    const wasDown = this.downSince !== undefined;
    if (!wasDown && definite) this.downSince = Date.now();
    if (report && this.events.listening('store.error')) {
      this.events.emit('store.error', { store: 'redis', operation, failurePolicy: this.options.failurePolicy, down: this.downSince !== undefined });
    }
    if (!wasDown && definite) {
      this.logger.warn(
        `${this.lastProblem}; ${this.options.failurePolicy === 'open' ? "serving from the in-process cache within this replica's share of the signing budget (failurePolicy \"open\")" : 'requests that need a signature get 503 (failurePolicy "closed")'} until Redis takes writes again`,
      );
      this.startProbe();
    }
  }

  /** While down: a quiet write-and-read probe every second, until up or closed. */
  private startProbe(): void {
    const key = this.options.probeKey;
    if (!key || this.probe) return;
    this.probe = setInterval(() => {
      if (this.closed || this.downSince === undefined) {
        clearInterval(this.probe);
        this.probe = undefined;
        return;
      }
      void this.roundTrip(key, false);
    }, RECOVERY_QUIET_MS);
    this.probe.unref();
  }

  private succeeded(): void {
    if (this.downSince === undefined || Date.now() - this.lastFailureAt < RECOVERY_QUIET_MS) return;
    const downMs = Date.now() - this.downSince;
    this.downSince = undefined;
    this.lastProblem = undefined;
    this.logger.log(`Redis takes writes again after ${Math.round(downMs)} ms; the replica is back in the fleet`);
    if (this.events.listening('store.recovered')) this.events.emit('store.recovered', { store: 'redis', downMs });
  }
}
