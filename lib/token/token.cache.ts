import type { IAdvizeToken } from './iadvize-token.js';
import type { TokenCacheOptions } from '../options/iadvize-auth.options.js';
import { canonicalIdentity, type IAdvizeUser } from './identity.js';

interface Entry {
  token: IAdvizeToken;
  /** Until when (ms since the epoch) the entry is served. */
  until: number;
}

/**
 * A short-lived, bounded cache of minted tokens keyed by identity (user id and
 * visitor data), plus in-flight coalescing: concurrent requests for the same
 * identity share one signature. Cuts KMS calls and cost under bursty load.
 * Off by default: iAdvize recommends a fresh token on every request.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<IAdvizeToken>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  constructor(options: Required<TokenCacheOptions>, private readonly clock: () => number) {
    this.ttlMs = options.ttlSeconds * 1000;
    this.maxEntries = options.maxEntries;
  }

  /**
   * The cache key of an identity: user id and visitor data, unambiguous and
   * independent of field order, and the thumbprint of the signing key, so that
   * after a key switch (scheduled rotation, key file reload) no token signed
   * with the old key is served.
   */
  static keyOf(identity: IAdvizeUser, signingKeyThumbprint: string): string {
    return `${signingKeyThumbprint}\0${canonicalIdentity(identity)}`;
  }

  /** The cached token for `key` while it is still served, else `undefined` (an expired entry is dropped). */
  get(key: string): IAdvizeToken | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (this.clock() >= entry.until) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.token;
  }

  /**
   * Returns the cached token for `key`, joins a mint already in flight for it,
   * or runs `mint` and caches its result. Failures are never cached.
   */
  getOrMint(key: string, mint: () => Promise<IAdvizeToken>): { cached: boolean; token: Promise<IAdvizeToken> } {
    const hit = this.get(key);
    if (hit) return { cached: true, token: Promise.resolve(hit) };
    const pending = this.inFlight.get(key);
    if (pending) return { cached: true, token: pending };
    const promise = mint().then(
      (token) => {
        this.inFlight.delete(key);
        this.set(key, token);
        return token;
      },
      (e: unknown) => {
        this.inFlight.delete(key);
        throw e;
      },
    );
    this.inFlight.set(key, promise);
    return { cached: false, token: promise };
  }

  /** Number of identities currently cached. */
  get size(): number {
    return this.entries.size;
  }

  private set(key: string, token: IAdvizeToken): void {
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    this.entries.set(key, { token, until: this.clock() + this.ttlMs });
  }
}
