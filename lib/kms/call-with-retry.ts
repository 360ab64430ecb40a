/** One remote call with a per-attempt timeout, the caller's deadline and bounded retries with backoff and jitter. */
import { InvalidKeyError, SigningUnavailableError } from '../errors.js';
import { CallerAborted } from './limiter.js';
import { failureToError, isTransient, type FailureClassifier, type FailureKind, type RemoteFailure } from './remote-failure.js';
import type { RetryPolicy } from './retry-policy.js';

/** Ends an attempt that outlived `timeoutMs`. */
class AttemptTimeout extends Error {}

/** Waits `ms`, or rejects with {@link CallerAborted} when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CallerAborted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Where a call happens: at startup (`init`) or while minting a token (`sign`). */
export type CallPhase = 'init' | 'sign';

/** Context of {@link callWithRetry}. */
export interface CallContext {
  /** The provider, for messages: e.g. `AWS KMS key "arn:…"`. Never a secret. */
  target: string;
  /** The operation, for messages: e.g. `Sign`, `GetPublicKey`. */
  operation: string;
  policy: RetryPolicy;
  classify: FailureClassifier;
  /** The caller's signal (the library's signing deadline). */
  signal?: AbortSignal;
  /** How to fix each configuration failure, appended to the message. */
  hints?: Partial<Record<FailureKind, string>>;
  /**
   * Called before each retry with the failure that caused it (e.g. to find the
   * key again) and the caller's signal, which it should honour: when the signal
   * aborts, the call ends with the "deadline passed" error whatever it throws.
   */
  beforeRetry?: (failure: RemoteFailure, signal?: AbortSignal) => Promise<void> | void;
}

/**
 * Runs `op` with a per-attempt timeout (aborting the attempt's signal), the
 * caller's signal, and bounded retries on transient failures. Throws
 * `SigningUnavailableError` (transient or unknown) or `InvalidKeyError`
 * (configuration). Messages name the target and operation, never secrets.
 */
export async function callWithRetry<T>(op: (signal: AbortSignal) => Promise<T>, ctx: CallContext): Promise<T> {
  const { policy, signal: outer } = ctx;
  const aborted = () =>
    new SigningUnavailableError(`${ctx.target}: ${ctx.operation} abandoned: the signing deadline passed`, { retryAfterSeconds: 1 });
  let last: RemoteFailure | undefined;
  let attempts = 0;
  for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
    if (outer?.aborted) throw aborted();
    attempts = attempt;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let onOuterAbort: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const e = new AttemptTimeout();
        controller.abort(e);
        reject(e);
      }, policy.timeoutMs);
      onOuterAbort = () => {
        const e = new CallerAborted();
        controller.abort(e);
        reject(e);
      };
      outer?.addEventListener('abort', onOuterAbort, { once: true });
    });
    try {
      return await Promise.race([op(controller.signal), stop]);
    } catch (e) {
      if (e instanceof CallerAborted || outer?.aborted) throw aborted();
      if (e instanceof AttemptTimeout || controller.signal.reason instanceof AttemptTimeout) {
        last = { kind: 'timeout', detail: `no answer within ${policy.timeoutMs} ms` };
      } else if (e instanceof InvalidKeyError || e instanceof SigningUnavailableError) {
        throw e;
      } else {
        last = ctx.classify(e);
      }
    } finally {
      clearTimeout(timer);
      if (onOuterAbort) outer?.removeEventListener('abort', onOuterAbort);
    }
    if (!isTransient(last.kind) || attempt === policy.maxAttempts) break;
    const retryAfterMs = (last.retryAfterSeconds ?? 0) * 1000;
    if (retryAfterMs > policy.backoffMaxMs) break; // the backend asks for a longer pause than we wait
    const backoff = Math.random() * Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** (attempt - 1));
    try {
      await sleep(Math.max(backoff, retryAfterMs), outer);
      await ctx.beforeRetry?.(last, outer);
    } catch (e) {
      if (e instanceof CallerAborted || outer?.aborted) throw aborted();
      throw e;
    }
  }
  const failure = last as RemoteFailure;
  throw failureToError(failure, ctx, attempts);
}
