import { InvalidOptionsError } from '../errors.js';
import type { OpenTokenStore, TokenStore, TokenStoreContext } from '../token/token-store.js';
import { resolveRedisTokenStoreOptions, type RedisTokenStoreOptions, type ResolvedRedisTokenStoreOptions } from './redis-token-store.options.js';
import { RedisSession } from './redis-session.js';

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
 *     url: process.env.REDIS_URL!,
 *     secret: process.env.IADVIZE_REDIS_KEY_SECRET!,
 *     budget: { signaturesPerSecond: 400 },
 *     expectedReplicas: 6,
 *   }),
 * });
 * ```
 * @beta
 */
export class RedisTokenStore implements TokenStore {
  /** `'redis'`, in logs and health. */
  readonly kind = 'redis';
  private readonly options: ResolvedRedisTokenStoreOptions;
  private readonly problems: readonly string[];
  private readonly secret?: Uint8Array;

  /** Takes the options; they are checked when the module opens the store (every problem in one startup error). */
  constructor(private readonly raw: RedisTokenStoreOptions) {
    const { options, problems, secret } = resolveRedisTokenStoreOptions(raw);
    this.options = options;
    this.problems = problems;
    this.secret = secret;
  }

  /**
   * Opens the store for one module (called by the module at startup; no I/O:
   * the module connects it at init).
   * @throws InvalidOptionsError listing every problem with the options, given the module's `tokenTtlSeconds`
   */
  open(context: TokenStoreContext): OpenTokenStore {
    const problems = [...this.problems];
    const ttl = context.tokenTtlSeconds;
    const half = Math.floor(ttl / 2);
    const reuseSeconds = this.options.reuseSeconds ?? half;
    if (reuseSeconds > half) problems.push(`reuseSeconds: must be at most ${half} (half of tokenTtlSeconds), so a reused token keeps at least half its lifetime`);
    const minValiditySeconds = this.options.minValiditySeconds ?? Math.max(10, Math.ceil(ttl / 5));
    if (this.options.minValiditySeconds !== undefined && minValiditySeconds > ttl - reuseSeconds) {
      problems.push(`minValiditySeconds: must be at most ${ttl - reuseSeconds} (tokenTtlSeconds - reuseSeconds)`);
    }
    if (problems.length > 0 || !this.secret) throw new InvalidOptionsError(problems, 'RedisTokenStore options');
    const raw = this.raw as Partial<RedisTokenStoreOptions>;
    const windows = { reuseMs: reuseSeconds * 1000, minValidityMs: minValiditySeconds * 1000 };
    return new RedisSession(this.options, windows, this.secret, { client: raw.client, url: this.options.url, redisOptions: raw.redisOptions }, context);
  }
}
