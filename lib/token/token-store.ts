import type { IAdvizeAuthEvents } from '../events/iadvize-auth-events.service.js';
import type { IAdvizeUser } from './identity.js';
import type { IAdvizeToken } from './iadvize-token.js';

/**
 * What the module gives a {@link TokenStore} when it opens it: the settings
 * that give a token its meaning, the clock and the events.
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
 * A token store opened for one module: what the token service calls on
 * every request ({@link TokenStore.open} returns it).
 * @public
 */
export interface OpenTokenStore {
  /** Short name for logs and health, e.g. `'redis'`. */
  readonly kind: string;
  /** What the module's startup line says of the store, e.g. its reuse window and signing budget (no secret, no address). */
  readonly description?: string;
  /**
   * A token for `identity` (validated): reused, shared by another replica, or
   * minted by calling `mint`. `signingKeyThumbprint` is the RFC 7638
   * thumbprint of the key in force for this request
   * (`TokenService.currentSigningKey()`): stores key their entries by it, so
   * after a key switch a token signed with the old key is never served.
   * @throws SigningUnavailableError when the store refuses to sign (budget spent, or store down and failing closed)
   */
  issue(identity: IAdvizeUser, mint: () => Promise<IAdvizeToken>, signingKeyThumbprint: string): Promise<TokenStoreResult>;
  /** The store's health (may ask the engine, bounded by a short timeout). Absent for a store with nothing to check. */
  status?(): Promise<TokenStoreStatus>;
  /** Connects (bounded; a store that cannot connect keeps working by its failure policy). Called at module init. */
  connect?(): Promise<void>;
  /** Releases connections the store opened itself. Called on application shutdown. */
  close?(): Promise<void>;
}

/**
 * A token store (the `tokenStore` module option): where minted tokens are
 * kept for reuse. The library ships `RedisTokenStore` from
 * `nestjs-iadvize-auth/redis` (shared by the replicas of a fleet); the
 * `tokenCache` option configures its in-process store. Implement this
 * interface for another engine.
 *
 * The module opens the store once, while it resolves its options, with the
 * settings that give a token its meaning ({@link TokenStoreContext}); the
 * token service then validates each identity and hands it and a `mint`
 * callback (one signature) to {@link OpenTokenStore.issue}.
 * @public
 */
export interface TokenStore {
  /** Short name for logs and health, e.g. `'redis'`. */
  readonly kind: string;
  /**
   * Opens the store for one module. Must not do I/O (`connect` does).
   * @throws InvalidOptionsError listing every problem with the store's options given the module's settings; the module reports them with its other problems, prefixed `tokenStore:`
   */
  open(context: TokenStoreContext): OpenTokenStore;
}

/** True when `value` has the shape of a {@link TokenStore}. */
export function isTokenStore(value: unknown): value is TokenStore {
  return typeof value === 'object' && value !== null && typeof (value as TokenStore).open === 'function' && typeof (value as TokenStore).kind === 'string';
}
