/**
 * Defaults and bounds of the module options, in one place: the option rules,
 * the environment-variable reader (`nestjs-iadvize-auth/config`) and the docs
 * all use these. (Token lifetime bounds are iAdvize's: lib/iadvize.constants.ts.)
 */

/** Default of `signingTimeoutMs`: deadline of one signature, in ms. */
export const DEFAULT_SIGNING_TIMEOUT_MS = 5000;
/** Smallest accepted `signingTimeoutMs`, in ms. */
export const MIN_SIGNING_TIMEOUT_MS = 100;
/** Largest accepted `signingTimeoutMs`, in ms. */
export const MAX_SIGNING_TIMEOUT_MS = 60_000;

/** Default of `tokenCache.maxEntries`. */
export const DEFAULT_TOKEN_CACHE_MAX_ENTRIES = 10_000;
/** Largest accepted `tokenCache.maxEntries`. */
export const MAX_TOKEN_CACHE_MAX_ENTRIES = 1_000_000;
