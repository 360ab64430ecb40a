/**
 * How a remote call failed: the kinds of failure, how backend errors are
 * classified (network codes, HTTP statuses, `Retry-After`) and the typed error
 * each kind becomes.
 */
import { InvalidKeyError, SigningUnavailableError } from '../errors.js';
import { boundRetryAfter } from '../http/retry-after.js';

/**
 * What went wrong in a remote call, as far as retrying and reporting go:
 * - `throttled`, `unavailable`, `timeout`: transient, retried, reported as `SigningUnavailableError`;
 * - `denied`, `not-found`, `disabled`, `rejected`: configuration problems, never retried, reported as `InvalidKeyError`;
 * - `failed`: anything else, not retried, reported as `SigningUnavailableError`.
 */
export type FailureKind = 'throttled' | 'unavailable' | 'timeout' | 'denied' | 'not-found' | 'disabled' | 'rejected' | 'failed';

/** A classified failure. `detail` is a short, secret-free description (error name, status, code). */
export interface RemoteFailure {
  kind: FailureKind;
  detail: string;
  /** Delay the backend asked for (`Retry-After`), in seconds. */
  retryAfterSeconds?: number;
}

/** Turns a backend error into a {@link RemoteFailure}. Must never copy secrets into `detail`. */
export type FailureClassifier = (error: unknown) => RemoteFailure;

/** True for the failures worth another attempt. */
export function isTransient(kind: FailureKind): boolean {
  return kind === 'throttled' || kind === 'unavailable' || kind === 'timeout';
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'REQUEST_SEND_ERROR',
]);

/** The network error code (`ECONNREFUSED`, …) of an error or of its causes, if any. */
export function networkErrorCode(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string') {
      // Some SDKs wrap errors from another realm into a plain Error carrying only the message.
      const named = /\b(E[A-Z]{3,}|UND_ERR_[A-Z_]+)\b/.exec(message)?.[1];
      if (named && NETWORK_CODES.has(named)) return named;
      if (/socket hang up/i.test(message)) return 'ECONNRESET';
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Parses a `Retry-After` header value (seconds or HTTP date) into whole
 * seconds, bounded to 1..`MAX_RETRY_AFTER_SECONDS` (60; a 400-digit number
 * or a date in 2099 is the ceiling; a past date is 1). `undefined` when absent
 * or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return boundRetryAfter(Number(trimmed));
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return boundRetryAfter((date - now) / 1000);
}

/** Classifies an HTTP status code; `undefined` when it is not an error status. */
export function failureKindOfStatus(status: number): FailureKind | undefined {
  if (status === 429) return 'throttled';
  if (status === 408) return 'timeout';
  if (status >= 500) return 'unavailable';
  if (status === 401 || status === 403) return 'denied';
  if (status === 404) return 'not-found';
  if (status >= 400) return 'rejected';
  return undefined;
}

/** How each kind reads in a message: "<target>: <operation> <text>". */
const KIND_TEXT: Record<FailureKind, string> = {
  throttled: 'was throttled',
  unavailable: 'is unavailable',
  timeout: 'timed out',
  denied: 'was denied',
  'not-found': 'found no such key',
  disabled: 'refused: the key is disabled or not usable',
  rejected: 'rejected the request',
  failed: 'failed',
};

/** Builds the typed error for a failure (see {@link FailureKind}). */
export function failureToError(failure: RemoteFailure, ctx: { target: string; operation: string; hints?: Partial<Record<FailureKind, string>> }, attempts?: number): Error {
  const what = `${ctx.target}: ${ctx.operation} ${KIND_TEXT[failure.kind]} (${failure.detail})`;
  const hint = ctx.hints?.[failure.kind];
  if (isTransient(failure.kind)) {
    const tries = attempts !== undefined && attempts > 1 ? ` after ${attempts} attempts` : '';
    return new SigningUnavailableError(`${what}${tries}${hint ? `; ${hint}` : ''}`, {
      retryAfterSeconds: boundRetryAfter(failure.retryAfterSeconds ?? 1),
    });
  }
  if (failure.kind === 'failed') return new SigningUnavailableError(`${what}${hint ? `; ${hint}` : ''}`);
  return new InvalidKeyError(`${what}${hint ? `; ${hint}` : ''}`);
}
