import type { Redis } from 'ioredis';

/** The answer of a signing budget: allowed, or how long until one signature would be. */
export interface BudgetAnswer {
  allowed: boolean;
  /** When refused: milliseconds until the budget allows one signature. */
  waitMs: number;
}

/**
 * GCRA (a token bucket kept as one "theoretical arrival time") on Redis's own
 * clock (`TIME`), so replicas' clocks do not matter. One key, one atomic script.
 * `reserve` (ms) is for low-priority takers: they are served only once the
 * limiter has been idle that long, leaving the last slots to requests that
 * have no token to fall back on.
 */
const GCRA_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local reserve = tonumber(ARGV[3])
local stored = tonumber(redis.call('GET', KEYS[1]) or '0')
local tat = stored
if tat < now then tat = now end
local allowAt = math.max(tat + interval - burst * interval, stored + interval - burst * interval + reserve)
if allowAt > now then return {0, math.ceil(allowAt - now)} end
redis.call('SET', KEYS[1], string.format('%.3f', tat + interval), 'PX', math.ceil(burst * interval + 1000))
return {1, 0}`;

/**
 * The fleet-wide signing budget: at most `rate` signatures per second across
 * every replica, plus `burst` at once (so at most `rate + burst` in any
 * second). @internal
 */
export class RedisBucket {
  private readonly intervalMs: number;

  constructor(
    rate: number,
    private readonly burst: number,
    private readonly key: string,
  ) {
    this.intervalMs = 1000 / rate;
  }

  /**
   * Takes one signature if the budget allows it. A `lowPriority` taker (one
   * with a cached token to fall back on) also needs one interval of slack.
   */
  async take(client: Pick<Redis, 'eval'>, lowPriority = false): Promise<BudgetAnswer> {
    const reserve = lowPriority ? this.intervalMs : 0;
    const [allowed, waitMs] = (await client.eval(GCRA_SCRIPT, 1, this.key, this.intervalMs.toFixed(6), this.burst, reserve.toFixed(6))) as [number, number];
    return { allowed: allowed === 1, waitMs: Number(waitMs) };
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
