import type { KeyObject } from 'node:crypto';
import type { KeyProvider } from '../keys/key-provider.js';
import type { SigningKeySchedule } from '../keys/key-schedule.js';
import type { IAdvizeAuthEvents } from '../events/iadvize-auth-events.service.js';
import type { OpenTokenStore } from '../token/token-store.js';

/** The validated configuration the module's providers share. */
export interface ResolvedIAdvizeAuthConfig {
  readonly issuer: string;
  readonly tokenTtlSeconds: number;
  readonly signingTimeoutMs: number;
  /** The provider of the key in force (read again at every use: it changes at a scheduled instant or a key file reload). */
  readonly keyProvider: KeyProvider;
  /** The public half of the key in force. */
  readonly signingPublicKey: KeyObject;
  /** RFC 7638 thumbprint of the key in force. */
  readonly signingKeyThumbprint: string;
  /** Every configured signing key and which one is in force at an instant (`signingKeys.currentKey(now)`). */
  readonly signingKeys: SigningKeySchedule;
  readonly iadvizePublicKey: KeyObject;
  readonly iadvizeKeyThumbprint: string;
  /** `true` when tokens go to iAdvize's production key (the default). */
  readonly usesProductionIAdvizeKey: boolean;
  readonly clock: () => number;
  /** Where the module's services report events (the store was opened with it). */
  readonly events: IAdvizeAuthEvents;
  /** The token store, opened: the `tokenStore` option, or the memory store `tokenCache` configures. */
  readonly tokenStore?: OpenTokenStore;
}
