/**
 * nestjs-iadvize-auth: make a NestJS backend the token provider of iAdvize
 * Authenticated Messaging.
 * @packageDocumentation
 */
export * from './iadvize.constants.js';
export * from './errors.js';
export { IAdvizeAuthModule } from './iadvize-auth.module.js';
export { IADVIZE_AUTH_MODULE_OPTIONS, type IAdvizeAuthModuleExtras } from './iadvize-auth.module-definition.js';
export { resolveIAdvizeAuthOptions } from './startup/resolve-options.js';
export { keyProviderFromOption } from './options/signing-key.rules.js';
export { type IAdvizeAuthOptions, type SigningKeyOption } from './options/iadvize-auth.options.js';
export { type ResolvedIAdvizeAuthConfig } from './startup/resolved-config.js';
export { isKeyProvider, type KeyProvider, type SignOptions } from './keys/key-provider.js';
export {
  LocalKeyProvider,
  PemKeyProvider,
  FileKeyProvider,
  EnvKeyProvider,
  type PemKeyProviderOptions,
  type FileKeyProviderOptions,
  type EnvKeyProviderOptions,
  type LocalSigningOptions,
} from './keys/local-key.provider.js';
export { loadPrivateKey, loadPublicKey, thumbprintOf, samePublicKey, type KeyText } from './keys/key-material.js';
export { loadPublicKeyInput, type PublicKeyInput } from './keys/public-key-input.js';
export { SigningKeySchedule, type SigningKeyScheduleLine, type KeyFileCheckOutcome } from './keys/key-schedule.js';
export { type SigningKeyScheduleOption, type SigningKeyScheduleEntry } from './options/iadvize-auth.options.js';
export { type SigningKeyInForce, type SigningKeyCheckContext } from './keys/signing-key-check.js';
export { DEFAULT_KEY_FILE_WATCH_INTERVAL_MS } from './keys/key-file-watch.js';
export { TokenService, type IAdvizeToken, type IAdvizeClaims } from './token/token.service.js';
export { validateIdentity, type IAdvizeVisitorData, type VisitorDataField } from './token/identity.js';
export { TokenCache } from './token/token-cache.js';
export { type TokenCacheOptions } from './options/iadvize-auth.options.js';
export { isTokenStore, type TokenStore, type TokenStoreContext, type TokenStoreResult, type TokenStoreStatus } from './token/token-store.js';
export { UserResolver, RequestUserResolver } from './http/user-resolver.js';
export { IAdvizeIdentityGuard } from './http/identity.guard.js';
export { IAdvizeIdentity, IADVIZE_IDENTITY_REQUEST_KEY } from './http/identity.decorator.js';
export { IAdvizeHttpException, type IAdvizeErrorBody } from './http/http-errors.js';
export { IAdvizeExceptionFilter, type IAdvizeErrorReply } from './http/iadvize-exception.filter.js';
export { createTokenController, DEFAULT_TOKEN_PATH, type IAdvizeControllerOptions } from './http/token.controller.js';
export {
  IAdvizeAuthEvents,
  IADVIZE_AUTH_EVENTS_OPTIONS,
  MIN_USER_ID_HASH_KEY_BYTES,
  type IAdvizeAuthEventsOptions,
  type IAdvizeAuthEventMap,
  type IAdvizeAuthEventName,
  type IAdvizeAuthEventListener,
  type TokenIssuedEvent,
  type TokenRefusedEvent,
  type SignerFailureEvent,
  type HealthCheckedEvent,
  type StoreHitEvent,
  type StoreCoalescedEvent,
  type BudgetRefusedEvent,
  type StoreErrorEvent,
  type StoreRecoveredEvent,
  type SigningKeySwitchedEvent,
  type SigningKeyReloadFailedEvent,
  type TokenRefusedCode,
  type SignerFailureCode,
} from './events/iadvize-auth-events.service.js';
export {
  IAdvizeHealthService,
  DEFAULT_HEALTH_MAX_AGE_SECONDS,
  type IAdvizeHealthCheckOptions,
  type IAdvizeHealthResult,
} from './health/iadvize-health.service.js';
export {
  RemoteKeyProvider,
  type RemoteSignerOptions,
  type RemoteFailure,
  type FailureKind,
  type LoadedKey,
} from './kms/remote-key.provider.js';
