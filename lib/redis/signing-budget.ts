import type { Redis } from 'ioredis';

/** The answer of a signing budget: allowed, or how long until one signature would be. @internal */
export interface BudgetAnswer {
  allowed: boolean;
  /** When refused: milliseconds until the budget allows one signature. */
  waitMs: number;
  /** `true` when the state read from Redis was not a number in range and was reset to "spent". */
  repaired?: boolean;
}

/** Thrown when Redis answers the budget script with something it never answers. @internal */
export class BudgetAnswerError extends Error {
  constructor() {
    super('the signing budget script gave an answer out of range');
  }
}

/**
 * GCRA (a token bucket kept as one "theoretical arrival time") on Redis's own
 * clock (`TIME`), so replicas' clocks do not matter. One key, one atomic script.
 * `reserve` (ms) is for low-priority takers: they are served only once the
 * limiter has been idle that long, leaving the last slots to requests that
 * have no token to fall back on.
 *
 * The stored state is untrusted: anything but a finite number no later than
 * one full burst ahead (junk, `nan`, `inf`, a far future, a value of another
 * type) is reset to "budget spent" (never to "budget free", so a bad value can
 * neither hang a taker nor lift the limit) and reported as repaired.
 */
const GCRA_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local reserve = tonumber(ARGV[3])
local span = burst * interval
local raw = redis.pcall('GET', KEYS[1])
local stored = 0
local repaired = 0
if type(raw) == 'table' then
  redis.call('DEL', KEYS[1])
  stored = now + span
  repaired = 1
elseif raw then
  local v = tonumber(raw)
  if v == nil or v ~= v or v < 0 or v > now + span + 1000 then
    stored = now + span
    repaired = 1
  else
    stored = v
  end
end
local tat = stored
if tat < now then tat = now end
local allowAt = math.max(tat + interval - span, stored + interval - span + reserve)
if repaired == 1 then
  redis.call('SET', KEYS[1], string.format('%.3f', stored), 'PX', math.ceil(span + 1000))
end
if allowAt > now then return {0, math.ceil(allowAt - now), repaired} end
redis.call('SET', KEYS[1], string.format('%.3f', tat + interval), 'PX', math.ceil(span + 1000))
return {1, 0, repaired}`;

/**
 * The fleet-wide signing budget: at most `rate` signatures per second across
 * every replica, plus `burst` at once (so at most `rate + burst` in any
 * second). @internal
 */
export class RedisBucket {
  private readonly intervalMs: number;
  /** The longest wait the script can answer (a full burst, the reserve, rounding). */
  private readonly maxAnswerMs: number;

  constructor(
    rate: number,
    private readonly burst: number,
    private readonly key: string,
  ) {
    this.intervalMs = 1000 / rate;
    this.maxAnswerMs = Math.ceil((burst + 2) * this.intervalMs) + 1000;
  }

  /**
   * Takes one signature if the budget allows it. A `lowPriority` taker (one
   * with a cached token to fall back on) also needs one interval of slack.
   * @throws BudgetAnswerError when the answer is not one the script gives
   */
  async take(client: Pick<Redis, 'eval'>, lowPriority = false): Promise<BudgetAnswer> {
    const reserve = lowPriority ? this.intervalMs : 0;
    const answer: unknown = await client.eval(GCRA_SCRIPT, 1, this.key, this.intervalMs.toFixed(6), this.burst, reserve.toFixed(6));
    if (!Array.isArray(answer) || answer.length !== 3) throw new BudgetAnswerError();
    const [allowed, waitMs, repaired] = answer as unknown[];
    if ((allowed !== 0 && allowed !== 1) || (repaired !== 0 && repaired !== 1)) throw new BudgetAnswerError();
    if (typeof waitMs !== 'number' || !Number.isSafeInteger(waitMs) || waitMs < 0 || waitMs > this.maxAnswerMs) throw new BudgetAnswerError();
    return { allowed: allowed === 1, waitMs, ...(repaired === 1 ? { repaired: true } : {}) };
  }
}

/** The same limiter in this process: a replica's share of the budget while Redis is down. @internal */
export class LocalBucket {
  private readonly intervalMs: number;
  private tat = 0;

  constructor(
    rate: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.intervalMs = 1000 / rate;
  }

  /** Takes one signature if the budget allows it (see {@link RedisBucket.take} for `lowPriority`). */
  take(lowPriority = false): BudgetAnswer {
    const now = this.now();
    const tat = Math.max(this.tat, now);
    const reserve = lowPriority ? this.intervalMs : 0;
    const allowAt = Math.max(tat + this.intervalMs - this.burst * this.intervalMs, this.tat + this.intervalMs - this.burst * this.intervalMs + reserve);
    if (allowAt > now) return { allowed: false, waitMs: Math.ceil(allowAt - now) };
    this.tat = tat + this.intervalMs;
    return { allowed: true, waitMs: 0 };
  }
}

/**
 * The one budget loop (fleet or replica): takes a signature, waiting for one
 * while the wait ends before `until` (ms, `Date.now()` clock). Ends at the
 * first answer past `until`, and after at most `maxTries` answers.
 * @internal
 */
export async function takeWithin(take: () => BudgetAnswer | Promise<BudgetAnswer>, until: number, maxTries = 1000): Promise<BudgetAnswer> {
  for (let tries = 1; ; tries++) {
    const answer = await take();
    if (answer.allowed || tries >= maxTries || Date.now() + answer.waitMs > until) return answer;
    await new Promise((resolve) => setTimeout(resolve, Math.max(1, answer.waitMs)));
  }
}
