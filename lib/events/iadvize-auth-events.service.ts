import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { InvalidOptionsError, type IAdvizeErrorCode } from '../errors.js';

/**
 * Injection token of the optional {@link IAdvizeAuthEventsOptions}; provide it through the module's `extraProviders`.
 * @public
 */
export const IADVIZE_AUTH_EVENTS_OPTIONS = Symbol.for('nestjs-iadvize-auth:events-options');

/**
 * Smallest accepted {@link IAdvizeAuthEventsOptions.userIdHashKey}, in bytes.
 * @public
 */
export const MIN_USER_ID_HASH_KEY_BYTES = 32;

/**
 * Options of {@link IAdvizeAuthEvents}, provided under {@link IADVIZE_AUTH_EVENTS_OPTIONS}:
 *
 * ```ts
 * IAdvizeAuthModule.forRoot({
 *   ...,
 *   extraProviders: [{ provide: IADVIZE_AUTH_EVENTS_OPTIONS, useValue: { userIdHashKey: process.env.IADVIZE_EVENTS_HASH_KEY } }],
 * })
 * ```
 * @public
 */
export interface IAdvizeAuthEventsOptions {
  /**
   * Secret key (at least 32 bytes; a string is taken as UTF-8) for the
   * `userIdHash` field of events: base64url of HMAC-SHA256(key, userId).
   * Lets you correlate events of one user without the user id in clear.
   * Keep it secret (user ids are guessable, so an unkeyed hash would not
   * protect them) and stable across instances. Default: none, and events
   * carry no user information at all.
   */
  userIdHashKey?: string | Uint8Array;
}

/**
 * Codes of {@link TokenRefusedEvent}: the request was refused before any signing.
 * @public
 */
export type TokenRefusedCode = typeof IAdvizeErrorCode.Unauthenticated | typeof IAdvizeErrorCode.InvalidIdentity;

/**
 * Codes of {@link SignerFailureEvent}: the signing pipeline failed.
 * @public
 */
export type SignerFailureCode = typeof IAdvizeErrorCode.SigningUnavailable | typeof IAdvizeErrorCode.SignatureMismatch;

/**
 * `token.issued`: `TokenService.createToken` returned a token.
 * @public
 */
export interface TokenIssuedEvent {
  /** Time to mint the token (claims, signature, encryption), in milliseconds. */
  durationMs: number;
  /** The key provider's `kind`, e.g. `'inline'`, `'file'`, `'aws-kms'`. */
  signerKind: string;
  /** HMAC of the user id, only when `userIdHashKey` is configured. */
  userIdHash?: string;
  /** `true` when the optional `tokenCache` served an already minted token (no signature made). */
  cached?: boolean;
}

/**
 * `token.refused`: nobody was signed in (401), or the resolver returned an identity iAdvize would refuse (422).
 * @public
 */
export interface TokenRefusedEvent {
  /** `IADVIZE_UNAUTHENTICATED` or `IADVIZE_INVALID_IDENTITY`. */
  code: TokenRefusedCode;
  /** HMAC of the user id when one was given as a string and `userIdHashKey` is configured. */
  userIdHash?: string;
}

/**
 * `signer.failure`: a token could not be minted because signing failed, timed out or did not verify.
 * @public
 */
export interface SignerFailureEvent {
  /** `IADVIZE_SIGNING_UNAVAILABLE` (backend down, throttled, timed out) or `IADVIZE_SIGNATURE_MISMATCH`. */
  code: SignerFailureCode;
  /** The key provider's `kind`. */
  signerKind: string;
  /** Time spent before the failure, in milliseconds. */
  durationMs: number;
  /** HMAC of the user id, only when `userIdHashKey` is configured. */
  userIdHash?: string;
}

/**
 * `health.checked`: `IAdvizeHealthService` ran a fresh signer self-check (cached answers emit nothing).
 * @public
 */
export interface HealthCheckedEvent {
  /** `true` when the probe was signed and verified. */
  healthy: boolean;
  /** The key provider's `kind`. */
  signerKind: string;
  /** Duration of the self-check, in milliseconds. */
  durationMs: number;
  /** Error code when unhealthy. */
  code?: SignerFailureCode;
}

/**
 * `store.hit`: the shared `tokenStore` served a token without a signature.
 * @public
 */
export interface StoreHitEvent {
  /** Where the token came from: this replica's memory (`'local'`) or the shared store (`'shared'`). */
  source: 'local' | 'shared';
  /** `true` when served past the reuse window because the signing budget was spent (it still has enough validity left). */
  stale: boolean;
}

/**
 * `store.coalesced`: a request waited for a signature another request (maybe on another replica) was making.
 * @public
 */
export interface StoreCoalescedEvent {
  /** `'shared'`: the other signature arrived and was served; `'timeout'`: it did not arrive in time and this request signed itself. */
  outcome: 'shared' | 'timeout';
  /** Time spent waiting, in milliseconds. */
  waitedMs: number;
}

/**
 * `budget.refused`: the signing budget was spent, so no signature was made for this request.
 * @public
 */
export interface BudgetRefusedEvent {
  /** `'fleet'`: the shared budget; `'replica'`: this replica's share, used while the store is down. */
  scope: 'fleet' | 'replica';
  /** `'cached'`: a still-valid cached token was served instead; `'none'`: the request got `503` + `Retry-After`. */
  served: 'cached' | 'none';
  /** The `Retry-After` given (seconds), when nothing was served. */
  retryAfterSeconds?: number;
}

/**
 * `store.error`: a command to the shared token store failed or timed out.
 * @public
 */
export interface StoreErrorEvent {
  /** The store's kind, e.g. `'redis'`. */
  store: string;
  /** What was being done, e.g. `'get'`, `'lock'`, `'budget'`, `'publish'`, `'unavailable'` (not connected). */
  operation: string;
  /** What the replica does meanwhile: `'open'` (in-process cache, a share of the budget) or `'closed'` (503). */
  failurePolicy: 'open' | 'closed';
  /**
   * Whether the store now counts as down (health `degraded`): `false` for a
   * first timeout in a row, which may be a busy machine rather than an outage.
   */
  down?: boolean;
}

/**
 * `store.rejected`: a value read from the shared token store was not used: it
 * did not verify (written by something other than this fleet, copied from
 * another key), did not parse, or was out of range. The replica treated it as
 * missing (a token entry) or as "budget spent" (the budget state).
 * @public
 */
export interface StoreRejectedEvent {
  /** The store's kind, e.g. `'redis'`. */
  store: string;
  /** `'unauthenticated'` (its seal does not verify), `'malformed'`, `'out-of-range'`, or `'budget-state'` (the signing budget's state). */
  reason: 'unauthenticated' | 'malformed' | 'out-of-range' | 'budget-state';
}

/**
 * `store.recovered`: the shared token store takes writes again after failures.
 * @public
 */
export interface StoreRecoveredEvent {
  /** The store's kind, e.g. `'redis'`. */
  store: string;
  /** How long it was failing, in milliseconds. */
  downMs: number;
}

/**
 * `signing.key.switched`: another signing key took over (a scheduled instant passed, or a watched key file was reloaded).
 * @public
 */
export interface SigningKeySwitchedEvent {
  /** RFC 7638 thumbprint of the key that signed until now. */
  previousThumbprint: string;
  /** RFC 7638 thumbprint of the key that signs from now on. */
  thumbprint: string;
  /** `'schedule'`: the next `signingKey.schedule` entry took over; `'reload'`: a watched key file changed. */
  reason: 'schedule' | 'reload';
  /** The key provider's `kind` of the new key. */
  signerKind: string;
  /** The option that holds the new key, e.g. `signingKey.schedule[1].key` (a name, never a key). */
  source: string;
  /** When the switch was noticed (milliseconds since the epoch, module `clock`). */
  at: number;
}

/**
 * `signing.key.reload.failed`: a watched key file changed but the new content was refused; the current key stays in force.
 * @public
 */
export interface SigningKeyReloadFailedEvent {
  /** The option that holds the watched key, e.g. `signingKey`. */
  source: string;
  /** Why the new content was refused (the library's own message; no key material). */
  reason: string;
  /** RFC 7638 thumbprint of the key that stays in use for this option. */
  thumbprint: string;
}

/**
 * Every event {@link IAdvizeAuthEvents} emits, by name.
 * @public
 */
export interface IAdvizeAuthEventMap {
  'token.issued': TokenIssuedEvent;
  'token.refused': TokenRefusedEvent;
  'signer.failure': SignerFailureEvent;
  'health.checked': HealthCheckedEvent;
  'store.hit': StoreHitEvent;
  'store.coalesced': StoreCoalescedEvent;
  'budget.refused': BudgetRefusedEvent;
  'store.error': StoreErrorEvent;
  'store.rejected': StoreRejectedEvent;
  'store.recovered': StoreRecoveredEvent;
  'signing.key.switched': SigningKeySwitchedEvent;
  'signing.key.reload.failed': SigningKeyReloadFailedEvent;
}

/**
 * Name of an {@link IAdvizeAuthEvents} event.
 * @public
 */
export type IAdvizeAuthEventName = keyof IAdvizeAuthEventMap;

/**
 * A listener of event `E`. Called synchronously; its return value is ignored.
 * @public
 */
export type IAdvizeAuthEventListener<E extends IAdvizeAuthEventName> = (event: IAdvizeAuthEventMap[E]) => unknown;

type ListenerLists = { [E in IAdvizeAuthEventName]: ReadonlyArray<IAdvizeAuthEventListener<E>> };

/** Every event, once (the type makes the list complete). */
const EVENTS: Record<IAdvizeAuthEventName, true> = {
  'token.issued': true,
  'token.refused': true,
  'signer.failure': true,
  'health.checked': true,
  'store.hit': true,
  'store.coalesced': true,
  'budget.refused': true,
  'store.error': true,
  'store.rejected': true,
  'store.recovered': true,
  'signing.key.switched': true,
  'signing.key.reload.failed': true,
};
const EVENT_NAMES = Object.keys(EVENTS) as readonly IAdvizeAuthEventName[];

/**
 * Hooks for metrics, audit and alerting, with no metrics dependency.
 * Provided and exported by `IAdvizeAuthModule`; subscribe from any provider:
 *
 * ```ts
 * @Injectable()
 * export class TokenMetrics {
 *   constructor(events: IAdvizeAuthEvents) {
 *     events.on('token.issued', (e) => histogram.observe(e.durationMs / 1000));
 *     events.on('signer.failure', (e) => alerts.notify(e.code));
 *   }
 * }
 * ```
 *
 * Listeners run synchronously, in subscription order, right before the call
 * returns or throws; keep them cheap and hand slow work off. A listener that
 * throws is logged (one line, its error's name) and never breaks issuance.
 * Events carry no token, key or user id; set `userIdHashKey` (see
 * {@link IAdvizeAuthEventsOptions}) to get a keyed hash of the user id.
 * With no listener, emitting costs a length check.
 * @public
 */
@Injectable()
export class IAdvizeAuthEvents {
  private readonly logger = new Logger('IAdvizeAuthEvents');
  private readonly listeners = Object.fromEntries(EVENT_NAMES.map((name) => [name, []])) as unknown as ListenerLists;
  private readonly hashKey: KeyObject | undefined;

  constructor(@Optional() @Inject(IADVIZE_AUTH_EVENTS_OPTIONS) options?: IAdvizeAuthEventsOptions) {
    this.hashKey = hashKeyFrom(options);
  }

  /**
   * Subscribes `listener` to `event`.
   * @returns a function that unsubscribes it
   */
  on<E extends IAdvizeAuthEventName>(event: E, listener: IAdvizeAuthEventListener<E>): () => void {
    if (!EVENT_NAMES.includes(event)) {
      throw new TypeError(`IAdvizeAuthEvents.on: unknown event "${String(event)}" (known: ${EVENT_NAMES.join(', ')})`);
    }
    if (typeof listener !== 'function') throw new TypeError(`IAdvizeAuthEvents.on("${event}"): the listener must be a function`);
    // Copy on write: an emit in progress keeps iterating over the array it started with.
    (this.listeners as Record<string, unknown>)[event] = [...this.listeners[event], listener];
    return () => this.off(event, listener);
  }

  /** Unsubscribes `listener` from `event` (no-op when it is not subscribed). */
  off<E extends IAdvizeAuthEventName>(event: E, listener: IAdvizeAuthEventListener<E>): void {
    const current = this.listeners[event] as ReadonlyArray<IAdvizeAuthEventListener<E>> | undefined;
    if (!current) return;
    const i = current.indexOf(listener);
    if (i >= 0) (this.listeners as Record<string, unknown>)[event] = [...current.slice(0, i), ...current.slice(i + 1)];
  }

  /** `true` when `event` has at least one listener. The library checks it before building an event. */
  listening(event: IAdvizeAuthEventName): boolean {
    return this.listeners[event].length !== 0;
  }

  /**
   * base64url of HMAC-SHA256(`userIdHashKey`, `userId`): the value events carry
   * as `userIdHash`. Use it to find a user's events from your own logs.
   * Returns `undefined` when no `userIdHashKey` is configured.
   */
  hashUserId(userId: string): string | undefined {
    if (this.hashKey === undefined) return undefined;
    return createHmac('sha256', this.hashKey).update(userId, 'utf8').digest('base64url');
  }

  /** Calls every listener of `event` with `payload`. Used by the library; listener errors are logged, never thrown. */
  emit<E extends IAdvizeAuthEventName>(event: E, payload: IAdvizeAuthEventMap[E]): void {
    const list = this.listeners[event] as ReadonlyArray<IAdvizeAuthEventListener<E>>;
    for (let i = 0; i < list.length; i++) {
      try {
        const result = list[i](payload);
        if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).catch === 'function') {
          (result as Promise<unknown>).catch((e: unknown) => this.listenerFailed(event, e));
        }
      } catch (e) {
        this.listenerFailed(event, e);
      }
    }
  }

  private listenerFailed(event: string, e: unknown): void {
    // The name only: a listener's message could carry anything.
    this.logger.error(`a "${event}" listener threw ${(e as Error)?.name ?? typeof e}; the event is dropped for this listener`);
  }
}

function hashKeyFrom(options: IAdvizeAuthEventsOptions | undefined): KeyObject | undefined {
  const key = options?.userIdHashKey;
  if (key === undefined || key === null) return undefined;
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key instanceof Uint8Array ? key : undefined;
  if (bytes === undefined) {
    throw new InvalidOptionsError(['userIdHashKey: must be a string or a Uint8Array'], 'IAdvizeAuthEvents options (IADVIZE_AUTH_EVENTS_OPTIONS)');
  }
  if (bytes.length < MIN_USER_ID_HASH_KEY_BYTES) {
    throw new InvalidOptionsError(
      [`userIdHashKey: must be at least ${MIN_USER_ID_HASH_KEY_BYTES} bytes (got ${bytes.length}); generate one with \`openssl rand -base64 32\` and keep it secret`],
      'IAdvizeAuthEvents options (IADVIZE_AUTH_EVENTS_OPTIONS)',
    );
  }
  return createSecretKey(bytes);
}
