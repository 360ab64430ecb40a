/** PKCS#11 return codes (`CKR_*`): which are transient, which break a session, how each is reported. */
import type { FailureKind, RemoteFailure } from './remote-failure.js';

/** The `CKR_*` name of a pkcs11js error, if it is one. */
export function pkcs11Code(e: unknown): string | undefined {
  const message = (e as { message?: unknown })?.message;
  return typeof message === 'string' ? /\b(CKR_[A-Z0-9_]+)\b/.exec(message)?.[1] : undefined;
}

/** Codes worth a retry (the token or a session is momentarily unusable). */
export const TRANSIENT_CODES = new Set([
  'CKR_DEVICE_ERROR',
  'CKR_DEVICE_MEMORY',
  'CKR_HOST_MEMORY',
  'CKR_FUNCTION_FAILED',
  'CKR_GENERAL_ERROR',
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_SESSION_COUNT',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_OPERATION_ACTIVE',
  'CKR_DEVICE_REMOVED',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_KEY_HANDLE_INVALID',
  'CKR_OBJECT_HANDLE_INVALID',
]);
/** Codes after which the session is dropped and a new one opened. */
export const SESSION_BREAKING = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_OPERATION_ACTIVE',
  'CKR_DEVICE_REMOVED',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_DEVICE_ERROR',
  'CKR_USER_NOT_LOGGED_IN',
]);
/** How the other codes are reported (a wrong PIN, a key that cannot sign, …); anything else is `failed`. */
export const KIND_OF_CODE: Record<string, FailureKind> = {
  CKR_PIN_INCORRECT: 'denied',
  CKR_PIN_INVALID: 'denied',
  CKR_PIN_LEN_RANGE: 'denied',
  CKR_PIN_EXPIRED: 'denied',
  CKR_PIN_LOCKED: 'denied',
  CKR_USER_PIN_NOT_INITIALIZED: 'denied',
  CKR_KEY_FUNCTION_NOT_PERMITTED: 'rejected',
  CKR_KEY_TYPE_INCONSISTENT: 'rejected',
  CKR_MECHANISM_INVALID: 'rejected',
  CKR_MECHANISM_PARAM_INVALID: 'rejected',
  CKR_DATA_LEN_RANGE: 'rejected',
  CKR_KEY_SIZE_RANGE: 'rejected',
};

/** Maps a pkcs11js error to a {@link RemoteFailure} by its `CKR_*` code. */
export function classifyPkcs11Error(error: unknown): RemoteFailure {
  const code = pkcs11Code(error);
  if (code && TRANSIENT_CODES.has(code)) return { kind: 'unavailable', detail: code };
  if (code) return { kind: KIND_OF_CODE[code] ?? 'failed', detail: code };
  if (/session pool closed/.test(String((error as Error)?.message))) return { kind: 'failed', detail: 'the provider is closing' };
  return { kind: 'failed', detail: (error as Error)?.name ?? 'error' };
}
