import { BENCH_RUN_TIMEOUT_MS, runBenchScript, type BenchRun } from '../support/bench-run.js';
import { findRedisServer } from '../support/redis-server.js';

/**
 * Smoke test of the fleet benchmark: `node bench/fleet.bench.mjs --quick --json`
 * runs to completion (3 replica processes, a real redis-server, the AWS KMS
 * stand-in with a quota) and prints one JSON object with every figure. It is
 * NOT a timed assertion: missed goals are data, not failures. Needs the built
 * package (`npm test` builds first) and redis-server (under CI a missing one fails).
 */

const RUN_TIMEOUT_MS = BENCH_RUN_TIMEOUT_MS;

const runBench = (args: string[]): Promise<BenchRun> => runBenchScript('bench/fleet.bench.mjs', args);

type Json = Record<string, unknown>;

const FIELDS = ['replicas', 'kmsQuotaPerSecond', 'tokenTtlSeconds', 'visitors', 'pageViews', 'pageViewsPerSecond', 'kmsSignatures', 'kmsThrottled', 'errors', 'p99Ms'];

const found = findRedisServer();
const describeRedis = 'missing' in found ? (process.env.CI ? describe : describe.skip) : describe;

describeRedis('fleet benchmark (bench/fleet.bench.mjs --quick --json)', () => {
  let run: BenchRun;
  let result: Json;

  beforeAll(async () => {
    if ('missing' in found) throw new Error(`${found.missing}; .ci/run installs it`);
    run = await runBench(['--quick', '--json']);
  }, RUN_TIMEOUT_MS + 5_000);

  it('exits 0 and prints exactly one JSON object on stdout', () => {
    if (run.code !== 0) throw new Error(`bench:fleet exited with ${run.code ?? run.signal}; stderr:\n${run.stderr}`);
    expect(run.stdout.trim().startsWith('{')).toBe(true);
    result = JSON.parse(run.stdout) as Json;
    expect(result.mode).toBe('quick');
  });

  it('reports the headline figures at the top level and under "fleet", and the in-process comparison', () => {
    for (const scope of [result, result.fleet as Json, result.inProcess as Json]) {
      for (const field of FIELDS) {
        const value = scope[field];
        expect({ field, finite: typeof value === 'number' && Number.isFinite(value) && value >= 0 }).toEqual({ field, finite: true });
      }
    }
    expect(result.replicas).toBeGreaterThanOrEqual(3);
    expect(result.tokenTtlSeconds).toBe(300);
    expect(typeof result.redis).toBe('string');
    expect((result.fleet as Json).redis).toBe(result.redis);
    expect((result.pageViews as number) > 0).toBe(true);
    expect(typeof (result.goal as Json).pass).toBe('boolean');
  });

  it('reports what authenticating a shared entry adds to a store hit (a ratio of the same run, any sign)', () => {
    const hit = result.sharedHit as Json;
    expect(typeof result.authOverheadOnSharedHit === 'number' && Number.isFinite(result.authOverheadOnSharedHit)).toBe(true);
    expect(hit.authOverheadOnSharedHitPercent).toBe(result.authOverheadOnSharedHit);
    // The goal's figure: open's extra CPU as a share of the headline's p50 page view.
    expect(typeof result.authOverheadOnStoreHit === 'number' && Number.isFinite(result.authOverheadOnStoreHit)).toBe(true);
    for (const field of ['sealedHitUs', 'plainHitUs', 'openUs', 'plainParseUs']) {
      const value = hit[field];
      expect({ field, positive: typeof value === 'number' && Number.isFinite(value) && value > 0 }).toEqual({ field, positive: true });
    }
    expect(typeof (hit.goal as Json).pass).toBe('boolean');
  });
});
