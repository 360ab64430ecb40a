/**
 * Ceiling of every `Retry-After` the library computes or sends, in seconds.
 * Whatever a signing backend asks for (a 400-digit number, a date in 2099,
 * `Infinity`), a client is told to come back within a minute: the token
 * endpoint's 503 is about a signer that is busy or unreachable now, and a
 * longer pause would only lock users out of chat after the backend recovers.
 */
export const MAX_RETRY_AFTER_SECONDS = 60;

/**
 * `seconds` as a `Retry-After` value: a whole number of seconds from 1 to
 * {@link MAX_RETRY_AFTER_SECONDS}. More than the ceiling (including
 * `Infinity`) is the ceiling; anything else that is not a positive finite
 * number (`NaN`, negative, zero, not a number) is 1.
 * @internal used by the exception filter and the remote signers' `Retry-After` parsing.
 */
export function boundRetryAfter(seconds: unknown): number {
  if (typeof seconds !== 'number' || Number.isNaN(seconds) || seconds <= 0) return 1;
  if (seconds >= MAX_RETRY_AFTER_SECONDS) return MAX_RETRY_AFTER_SECONDS;
  return Math.max(1, Math.ceil(seconds));
}
