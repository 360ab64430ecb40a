import type { TokenCacheOptions } from '../options/iadvize-auth.options.js';
import { canonicalIdentity, type IAdvizeUser } from './identity.js';
import type { IAdvizeToken } from './iadvize-token.js';
import type { OpenTokenStore, TokenStore, TokenStoreContext, TokenStoreResult } from './token-store.js';

/** A token in a replica's memory, with when it was minted (module clock, ms) and by which signing key. @internal */
export interface MemoryEntry {
  token: IAdvizeToken;
  mintedAt: number;
  /** RFC 7638 thumbprint of the signing key. */
  kid: string;
}

/**
 * The in-process tier of every token store: a bounded map of minted tokens
 * (the oldest identity evicted first) and the mints in flight, keyed by
 * {@link MemoryTier.keyOf}. @internal
 */
export class MemoryTier<R = TokenStoreResult> {
  private readonly entries = new Map<string, MemoryEntry>();
  private readonly inFlight = new Map<string, Promise<R>>();

  constructor(private readonly maxEntries: number) {}

  /**
   * The key of an identity under a signing key: user id and visitor data,
   * unambiguous and independent of field order, and the signing key's
   * thumbprint, so that after a key switch no old-key token is served.
   */
  static keyOf(identity: IAdvizeUser, signingKeyThumbprint: string): string {
    return `${signingKeyThumbprint}\0${canonicalIdentity(identity)}`;
  }

  get(key: string): MemoryEntry | undefined {
    return this.entries.get(key);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  set(key: string, entry: MemoryEntry): void {
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, entry);
  }

  /** The request in flight for `key`, if any. */
  pending(key: string): Promise<R> | undefined {
    return this.inFlight.get(key);
  }

  /** Runs `work` as the one request in flight for `key` (others join it through {@link pending}). */
  lead(key: string, work: () => Promise<R>): Promise<R> {
    const promise = work().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, promise);
    return promise;
  }

  /** Number of identities held. */
  get size(): number {
    return this.entries.size;
  }
}

/**
 * The built-in token store, in this process only: what the `tokenCache`
 * option configures. Hands out the token minted for the same identity (and
 * signing key) less than `ttlSeconds` ago, and coalesces concurrent requests
 * for one identity into one signature; failures are never cached. Off unless
 * `tokenCache` is set: iAdvize recommends a fresh token on every request.
 * @internal
 */
export class MemoryTokenStore implements TokenStore {
  readonly kind = 'memory';

  constructor(private readonly options: Required<TokenCacheOptions>) {}

  /** The store for one module (its clock). */
  open(context: TokenStoreContext): OpenTokenStore {
    const tier = new MemoryTier(this.options.maxEntries);
    const reuseMs = this.options.ttlSeconds * 1000;
    const clock = context.clock;
    return {
      kind: this.kind,
      description: `in-process (tokenCache: a token reused for ${this.options.ttlSeconds} s, at most ${this.options.maxEntries} identities)`,
      issue(identity: IAdvizeUser, mint: () => Promise<IAdvizeToken>, signingKeyThumbprint: string): Promise<TokenStoreResult> {
        const key = MemoryTier.keyOf(identity, signingKeyThumbprint);
        const hit = tier.get(key);
        if (hit && clock() - hit.mintedAt < reuseMs) return Promise.resolve({ token: hit.token, cached: true });
        if (hit) tier.delete(key); // a bearer token past its reuse window does not stay in memory
        const pending = tier.pending(key);
        if (pending) return pending.then((r) => ({ token: r.token, cached: true }));
        return tier.lead(key, async () => {
          const token = await mint();
          tier.set(key, { token, mintedAt: clock(), kid: signingKeyThumbprint });
          return { token, cached: false };
        });
      },
    };
  }
}
