import { SigningUnavailableError } from '../errors.js';

/** Latest instant a JavaScript `Date` can hold, in milliseconds since the epoch. */
const MAX_DATE_MS = 8.64e15;

/** `true` when `value` is a usable clock reading: a finite number of milliseconds from the epoch to the last `Date`. */
export function isClockReading(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= MAX_DATE_MS;
}

/** The type of a bad clock reading, for messages (never the value). */
export function describeClockReading(value: unknown): string {
  if (typeof value !== 'number') return value === null ? 'null' : `a ${typeof value}`;
  return Number.isNaN(value) ? 'NaN' : Number.isFinite(value) ? 'a number out of range' : 'an infinite number';
}

/**
 * Wraps the `clock` option so every reading is checked: a clock that returns
 * `NaN`, `undefined`, `Infinity`, a string, or throws makes the token (or the
 * cache lookup) fail with a {@link SigningUnavailableError} (`503
 * IADVIZE_SIGNING_UNAVAILABLE`), never a token with `"iat": null`.
 * @internal applied once, when the options are resolved.
 */
export function checkedClock(clock: () => unknown): () => number {
  return () => {
    let now: unknown;
    try {
      now = clock();
    } catch (e) {
      throw new SigningUnavailableError('the clock option threw; it must return milliseconds since the epoch, like Date.now()', { cause: e });
    }
    if (!isClockReading(now)) {
      throw new SigningUnavailableError(
        `the clock option returned ${describeClockReading(now)}; it must return a finite number of milliseconds since the epoch, like Date.now()`,
      );
    }
    return now;
  };
}
