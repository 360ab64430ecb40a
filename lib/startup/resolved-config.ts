import type { KeyObject } from 'node:crypto';
import type { KeyProvider } from '../keys/key-provider.js';
import type { SigningKeySchedule } from '../keys/key-schedule.js';
import type { TokenCacheOptions } from '../options/iadvize-auth.options.js';
import type { TokenStore } from '../token/token-store.js';

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
  /** The token cache settings, when enabled. */
  readonly tokenCache?: Required<TokenCacheOptions>;
  /** The shared token store, when one is given. */
  readonly tokenStore?: TokenStore;
}
