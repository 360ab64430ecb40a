/**
 * nestjs-iadvize-auth: make a NestJS backend the token provider of iAdvize
 * Authenticated Messaging.
 *
 * The main entry holds what an app configures, injects, extends and catches.
 * Key providers for cloud KMS and HSMs, the testing kit, `@nestjs/config`
 * support and the Terminus / Prometheus integrations live in subpaths
 * (`nestjs-iadvize-auth/aws-kms`, `…/testing`, `…/config`, …).
 * @packageDocumentation
 */
export {
  DEFAULT_TOKEN_TTL_SECONDS,
  MIN_TOKEN_TTL_SECONDS,
  MAX_TOKEN_TTL_SECONDS,
  IADVIZE_PRODUCTION_PUBLIC_KEY,
  IADVIZE_PRODUCTION_KEY_THUMBPRINT,
  IADVIZE_USER_ID_CLAIM,
  IADVIZE_VISITOR_DATA_CLAIM,
  VISITOR_DATA_FIELDS,
  USER_ID_MAX_LENGTH,
  VISITOR_DATA_VALUE_MAX_LENGTH,
} from './iadvize.constants.js';
export {
  IAdvizeErrorCode,
  type IAdvizeErrorCodeValue,
  IAdvizeAuthError,
  InvalidOptionsError,
  InvalidKeyError,
  InvalidIdentityError,
  SigningUnavailableError,
  SignatureMismatchError,
  MissingDependencyError,
} from './errors.js';
export { IAdvizeAuthModule } from './iadvize-auth.module.js';
export { IADVIZE_AUTH_MODULE_OPTIONS, type IAdvizeAuthModuleExtras } from './iadvize-auth.module-definition.js';
export type { IAdvizeAuthOptions, SigningKeyOption, SigningKeyScheduleOption, SigningKeyScheduleEntry, TokenCacheOptions } from './options/iadvize-auth.options.js';
export type { KeyProvider, SignOptions } from './keys/key-provider.js';
export {
  PemKeyProvider,
  FileKeyProvider,
  EnvKeyProvider,
  type PemKeyProviderOptions,
  type FileKeyProviderOptions,
  type EnvKeyProviderOptions,
  type LocalSigningOptions,
} from './keys/local-key.provider.js';
export { thumbprintOf } from './keys/key-material.js';
export type { PublicKeyInput } from './keys/public-key-input.js';
export { TokenService, type IAdvizeToken, type IAdvizeClaims, type SigningKeyInfo } from './token/token.service.js';
export { validateIdentity, type IAdvizeUser, type IAdvizeVisitorData, type VisitorDataField } from './token/identity.js';
export type { OpenTokenStore, TokenStore, TokenStoreContext, TokenStoreResult, TokenStoreStatus } from './token/token-store.js';
export { UserResolver, RequestUserResolver } from './http/user.resolver.js';
export { IAdvizeIdentityGuard } from './http/identity.guard.js';
export { IAdvizeIdentity, IADVIZE_IDENTITY_REQUEST_KEY } from './http/identity.decorator.js';
export { IAdvizeExceptionFilter, type IAdvizeErrorReply } from './http/iadvize-exception.filter.js';
export type { IAdvizeErrorBody } from './http/http-errors.js';
export { DEFAULT_TOKEN_PATH, type IAdvizeControllerOptions } from './http/token.controller.js';
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
  type StoreRejectedEvent,
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
