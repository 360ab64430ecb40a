/**
 * What drawing a token's CEK and IV costs, measured in the same run as the
 * engine, so the figure can be set against a token's cost.
 *
 * The engine draws 44 fresh random bytes per token (`randomFillSync` into a
 * new buffer, wiped after use). The alternative it replaced drew them from a
 * pool refilled every 64 tokens, which left up to 63 future tokens' content
 * keys in process memory. This measures both ways, per token, and what the
 * pool would save as a share of one token's cost (1 / engine rate).
 */
import { randomFillSync } from 'node:crypto';

const BYTES_PER_TOKEN = 32 + 12;
const POOL_TOKENS = 64;

/** The engine's way: a fresh buffer per token, filled, then wiped. */
function fresh() {
  const random = Buffer.alloc(BYTES_PER_TOKEN);
  randomFillSync(random);
  random.fill(0);
}

/** The former way, reproduced for the comparison: slices of a pool refilled every 64 tokens. */
function pooledDrawer() {
  const pool = Buffer.alloc(BYTES_PER_TOKEN * POOL_TOKENS);
  let offset = pool.length;
  return () => {
    if (offset >= pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    pool.subarray(offset, offset + BYTES_PER_TOKEN).fill(0);
    offset += BYTES_PER_TOKEN;
  };
}

function nsPerCall(fn, calls) {
  for (let i = 0; i < calls / 10; i++) fn();
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) fn();
  return Number(process.hrtime.bigint() - started) / calls;
}

/**
 * @param {number} tokenRate the engine's tokens per second in this run
 * @param {number} [calls] calls per measurement (best of 3 interleaved measurements)
 * @returns {{ freshNsPerToken: number, pooledNsPerToken: number, savedNsPerToken: number, tokenCostNs: number, savedShareOfTokenPercent: number }}
 */
export function measureCekRandomness(tokenRate, calls = 10_000) {
  const pooled = pooledDrawer();
  const freshRuns = [];
  const pooledRuns = [];
  for (let i = 0; i < 3; i++) {
    freshRuns.push(nsPerCall(fresh, calls));
    pooledRuns.push(nsPerCall(pooled, calls));
  }
  const freshNsPerToken = Math.min(...freshRuns);
  const pooledNsPerToken = Math.min(...pooledRuns);
  const savedNsPerToken = Math.max(0, freshNsPerToken - pooledNsPerToken);
  const tokenCostNs = 1e9 / tokenRate;
  return { freshNsPerToken, pooledNsPerToken, savedNsPerToken, tokenCostNs, savedShareOfTokenPercent: (100 * savedNsPerToken) / tokenCostNs };
}
