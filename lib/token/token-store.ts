import type { IAdvizeAuthEvents } from '../events/iadvize-auth-events.service.js';
import type { IAdvizeUser } from './identity.js';
import type { IAdvizeToken } from './iadvize-token.js';

/**
 * What the token service gives a {@link TokenStore} when it attaches it.
 * @public
 */
export interface TokenStoreContext {
  /** Lifetime of minted tokens (`tokenTtlSeconds`). */
  readonly tokenTtlSeconds: number;
  /** The `iss` claim of minted tokens (`issuer`): a store shares tokens only between replicas with the same. */
  readonly issuer: string;
  /** RFC 7638 thumbprint of the iAdvize key tokens are encrypted to: a store shares tokens only between replicas with the same. */
  readonly iadvizeKeyThumbprint: string;
  /** Deadline of one signature (`signingTimeoutMs`): how long a mint can take. */
  readonly signingTimeoutMs: number;
  /** The module clock, in milliseconds since the epoch. */
  readonly clock: () => number;
  /** Where the store reports hits, coalesced waits, budget refusals and its own failures. */
  readonly events: IAdvizeAuthEvents;
}

/**
 * The result of {@link TokenStore.issue}.
 * @public
 */
export interface TokenStoreResult {
  token: IAdvizeToken;
  /** `true` when no signature was made for this request (a reused or shared token). */
  cached: boolean;
}

/**
 * What {@link TokenStore.status} reports (no address, no secret).
 * @public
 */
export interface TokenStoreStatus {
  /** The store's kind, e.g. `'redis'`. */
  kind: string;
  /** `true` when the shared store answers. */
  up: boolean;
  /** What this replica does while the store is down: `'open'` (in-process cache and a share of the budget) or `'closed'` (503). */
  failurePolicy: 'open' | 'closed';
  /** When down: what went wrong, without addresses or secrets. */
  message?: string;
}

/**
 * A token store shared by the replicas of a fleet (the `tokenStore` module
 * option). The library ships one, `RedisTokenStore` from
 * `nestjs-iadvize-auth/redis`; implement this interface for another engine.
 *
 * The token service validates the identity, then hands it and a `mint`
 * callback (one signature) to {@link issue}; the store decides whether to
 * reuse a token, wait for another replica's signature, or call `mint`.
 * @public
 */
export interface TokenStore {
  /** Short name for logs and health, e.g. `'redis'`. */
  readonly kind: string;
  /** Problems with the store's options given the module's `tokenTtlSeconds` (empty when fine). Called at startup. */
  checkOptions(tokenTtlSeconds: number): string[];
  /** Called by the token service once it is built. */
  attach(context: TokenStoreContext): void;
  /** Connects (bounded; a store that cannot connect keeps working by its failure policy). Called at module init. */
  connect?(): Promise<void>;
  /**
   * A token for `identity` (validated): reused, shared by another replica, or
   * minted by calling `mint`. `signingKeyThumbprint` is the RFC 7638
   * thumbprint of the key in force for this request
   * (`TokenService.currentSigningKey()`): stores key their entries by it, so
   * after a key switch a token signed with the old key is never served.
   * @throws SigningUnavailableError when the store refuses to sign (budget spent, or store down and failing closed)
   */
  issue(identity: IAdvizeUser, mint: () => Promise<IAdvizeToken>, signingKeyThumbprint: string): Promise<TokenStoreResult>;
  /** The store's health (may ask the engine, bounded by a short timeout). */
  status(): Promise<TokenStoreStatus>;
  /** Releases connections the store opened itself. Called on application shutdown. */
  close?(): Promise<void>;
}

/** True when `value` has the shape of a {@link TokenStore}. */
export function isTokenStore(value: unknown): value is TokenStore {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as TokenStore).issue === 'function' &&
    typeof (value as TokenStore).attach === 'function' &&
    typeof (value as TokenStore).checkOptions === 'function' &&
    typeof (value as TokenStore).status === 'function'
  );
}
