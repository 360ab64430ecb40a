/**
 * nestjs-iadvize-auth: make a NestJS backend the token provider of iAdvize
 * Authenticated Messaging.
 * @packageDocumentation
 */
export * from './iadvize.constants.js';
export * from './errors.js';
export { IAdvizeAuthModule } from './iadvize-auth.module.js';
export { IADVIZE_AUTH_MODULE_OPTIONS, type IAdvizeAuthModuleExtras } from './iadvize-auth.module-definition.js';
export {
  resolveIAdvizeAuthOptions,
  keyProviderFromOption,
  type IAdvizeAuthOptions,
  type ResolvedIAdvizeAuthConfig,
  type SigningKeyOption,
} from './iadvize-auth.options.js';
export { isKeyProvider, type KeyProvider, type SignOptions } from './keys/key-provider.js';
export {
  LocalKeyProvider,
  PemKeyProvider,
  FileKeyProvider,
  EnvKeyProvider,
  type PemKeyProviderOptions,
  type FileKeyProviderOptions,
  type EnvKeyProviderOptions,
} from './keys/local-key.provider.js';
export { loadPrivateKey, loadPublicKey, thumbprintOf, samePublicKey, type KeyText } from './keys/key-material.js';
export { loadPublicKeyInput, type PublicKeyInput } from './keys/public-key-input.js';
export {
  SigningKeySchedule,
  type SigningKeyScheduleOption,
  type SigningKeyScheduleEntry,
  type SigningKeyInForce,
  type SigningKeyScheduleLine,
  type SigningKeyCheckContext,
  type KeyFileCheckOutcome,
} from './keys/key-schedule.js';
export { DEFAULT_KEY_FILE_WATCH_INTERVAL_MS } from './keys/key-file-watch.js';
export { TokenService, type IAdvizeToken, type IAdvizeClaims } from './token/token.service.js';
export { validateIdentity, type IAdvizeVisitorData, type VisitorDataField } from './token/identity.js';
export { TokenCache, type TokenCacheOptions } from './token/token-cache.js';
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
} from './kms/remote-signer.js';
