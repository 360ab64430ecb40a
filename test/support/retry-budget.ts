/** The time budget of a retry policy, to check the defaults against the module's signing deadline. */
import type { RetryPolicy } from '../../lib/kms/remote-key.provider.js';

/** The module's default `signingTimeoutMs`, which bounds a whole signature, retries included. */
export const DEFAULT_SIGNING_TIMEOUT_MS = 5000;

/** Longest time a signature can take under `p`: every attempt times out and every backoff is the longest. */
export function worstCaseMs(p: RetryPolicy): number {
  let total = p.timeoutMs * p.maxAttempts;
  for (let attempt = 1; attempt < p.maxAttempts; attempt++) total += Math.min(p.backoffMaxMs, p.backoffBaseMs * 2 ** (attempt - 1));
  return total;
}
