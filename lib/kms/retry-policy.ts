/** Timeouts, retries and concurrency of a remote key provider: the options, their defaults and their validation. */
import { InvalidKeyError } from '../errors.js';
import { quoteName } from '../redaction.js';

/**
 * Timeouts, retries and concurrency of a remote key provider. Every field is
 * optional; the defaults suit a backend in the same region, and their worst
 * case (3 attempts of 1500 ms plus at most 300 ms of backoff: 4800 ms) fits in
 * the module's default `signingTimeoutMs` of 5000 ms.
 * @public
 */
export interface RemoteSignerOptions {
  /** Deadline of one attempt (one HTTP call or HSM operation), in ms. Default: 1500 (PKCS#11: 2000). */
  timeoutMs?: number;
  /** Attempts per signature, the first included (1 = no retry). Default: 3 (PKCS#11: 2). */
  maxAttempts?: number;
  /** First backoff delay before a retry, in ms; doubled per attempt, with full jitter. Default: 100. */
  backoffBaseMs?: number;
  /** Longest backoff delay, in ms; a `Retry-After` asking for more ends the retries. Default: 2000. */
  backoffMaxMs?: number;
  /** Signatures in flight at once; further calls wait in line (bounded by the signing deadline). Default: 64. */
  maxConcurrency?: number;
}

/** The validated {@link RemoteSignerOptions}. */
export interface RetryPolicy {
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly maxConcurrency: number;
}

/** The defaults. Worst case 1500 × 3 + 100 + 200 = 4800 ms: within the module's default signingTimeoutMs (5000). */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { timeoutMs: 1500, maxAttempts: 3, backoffBaseMs: 100, backoffMaxMs: 2000, maxConcurrency: 64 };

/** A bad option value for a message: numbers as they are, strings quoted unless they look like key material, else only the type. */
function describeValue(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return quoteName(value);
  return `a value of type ${value === null ? 'null' : typeof value}`;
}

/**
 * Validates the timeout / retry options of a provider, naming the provider and
 * the option in the error.
 */
export function resolveRetryPolicy(options: RemoteSignerOptions, provider: string): RetryPolicy {
  const check = (name: keyof RemoteSignerOptions, min: number, max: number): number => {
    const value = options[name] ?? DEFAULT_RETRY_POLICY[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new InvalidKeyError(`${provider}: option "${name}" must be a whole number from ${min} to ${max} (got ${describeValue(value)})`);
    }
    return value;
  };
  return {
    timeoutMs: check('timeoutMs', 10, 120_000),
    maxAttempts: check('maxAttempts', 1, 10),
    backoffBaseMs: check('backoffBaseMs', 0, 60_000),
    backoffMaxMs: check('backoffMaxMs', 0, 300_000),
    maxConcurrency: check('maxConcurrency', 1, 100_000),
  };
}
