import { BENCH_RUN_TIMEOUT_MS, runBenchScript, type BenchRun } from '../support/bench-run.js';

/**
 * Smoke test of the benchmark (issues 7 and 13): `node bench/run.mjs --quick --json`
 * runs to completion and prints one JSON object holding every figure. It is
 * NOT a timed assertion: missed performance targets are data, not failures.
 * Needs the built package (`npm test` builds first).
 */

const RUN_TIMEOUT_MS = BENCH_RUN_TIMEOUT_MS;

const runBench = (args: string[]): Promise<BenchRun> => runBenchScript('bench/run.mjs', args);

type Json = Record<string, unknown>;

function at(root: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node as Json | undefined)?.[key], root);
}

/** Paths (in the result) of figures that must be finite numbers > 0. */
function positiveFigures(): string[] {
  const engineTargets = ['rawSignCallback', 'rawSubtleSign', 'engine', 'engineLibuv', 'jose', 'jsonwebtokenNodeJose'];
  const engineFigures = ['rate', 'rateMedian', 'latencyP50Ms', 'latencyP99Ms', 'cpuCores'];
  const httpTargets = ['node', 'fastify', 'express', 'expressPlain'];
  const httpFigures = [
    'rate',
    'rateMedian',
    'latencyP50Ms',
    'latencyP99Ms',
    'halfRateOffered',
    'halfRateServed',
    'halfRateLatencyP50Ms',
    'halfRateLatencyP99Ms',
    'halfRateBurstServed',
    'halfRateBurstLatencyP99Ms',
    'serverCpuCores',
    'loadGeneratorCpuCores',
    'peakRssMb',
  ];
  return [
    'machine.cores',
    'machine.uvThreadpoolSize',
    'keySize',
    'engine.concurrency',
    'engine.rawReference.rate',
    'engine.tokenBytes.engine',
    'engine.tokenBytes.engineLibuv',
    'engine.tokenBytes.jose',
    'engine.tokenBytes.jsonwebtokenNodeJose',
    'engine.randomness.freshNsPerToken',
    'engine.randomness.pooledNsPerToken',
    'engine.randomness.tokenCostNs',
    ...engineTargets.flatMap((t) => engineFigures.map((f) => `engine.${t}.${f}`)),
    'http.connections',
    ...httpTargets.flatMap((t) => httpFigures.map((f) => `http.${t}.${f}`)),
    'http.memory.seconds',
    'http.memory.rate',
    'http.memory.rssFirstWindowMb',
    'http.memory.rssLastWindowMb',
    'http.memory.peakRssMb',
    'ratios.engineToRawSign',
    'ratios.engineToRawSignMedian',
    'ratios.engineLibuvToRawSign',
    'ratios.engineLibuvToRawSignMedian',
    'ratios.engineToJose',
    'ratios.engineToJsonwebtokenNodeJose',
    'ratios.joseToRawSign',
    'ratios.fastifyToNode',
    'ratios.expressToNode',
    'ratios.expressPlainToNode',
    'ratios.expressToExpressPlain',
    'ratios.fastifyToRawSign',
    'flood.ratePerSecond',
    'flood.uvThreadpoolSize',
    ...['engine', 'engineLibuv'].flatMap((t) =>
      ['unloadedLatencyP50Ms', 'unloadedLatencyP99Ms', 'floodedLatencyP50Ms', 'floodedLatencyP99Ms', 'p99Ratio', 'floodJobsPerSecond'].map((f) => `flood.${t}.${f}`),
    ),
    'ratios.floodedToUnloadedP99',
    'ratios.floodedToUnloadedP99Libuv',
  ];
}

describe('benchmark (bench/run.mjs --quick --json)', () => {
  let run: BenchRun;
  let result: Json;

  beforeAll(async () => {
    run = await runBench(['--quick', '--json']);
  }, RUN_TIMEOUT_MS + 5_000);

  it('exits 0 and prints exactly one JSON object on stdout', () => {
    if (run.code !== 0) throw new Error(`bench exited with ${run.code ?? run.signal}; stderr:\n${run.stderr}`);
    expect(run.stdout.trim().startsWith('{')).toBe(true);
    result = JSON.parse(run.stdout) as Json;
    expect(result.benchmark).toBe('nestjs-iadvize-auth');
    expect(result.mode).toBe('quick');
  });

  it('states the machine, the runtime, the key size and the thread pool size', () => {
    const machine = result.machine as Json;
    expect(machine.node).toBe(process.version);
    expect(typeof machine.openssl).toBe('string');
    expect(typeof machine.libuv).toBe('string');
    expect(typeof machine.cpuModel).toBe('string');
    expect(result.keySize).toBe(2048);
    expect(Number.isInteger(machine.uvThreadpoolSize)).toBe(true);
  });

  it('holds every figure as a positive number', () => {
    const bad = positiveFigures().filter((path) => {
      const value = at(result, path);
      return typeof value !== 'number' || !Number.isFinite(value) || value <= 0;
    });
    expect(bad).toEqual([]);
  });

  it('reports event-loop delay, error counts and the RSS trend as finite numbers', () => {
    const engine = result.engine as Record<string, Json>;
    for (const t of ['rawSignCallback', 'engine', 'jose']) {
      expect(engine[t].eventLoopDelayP99Ms).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(engine[t].eventLoopDelayP99Ms)).toBe(true);
    }
    const http = result.http as Record<string, Json>;
    for (const t of ['node', 'fastify', 'express', 'expressPlain']) {
      expect(Number.isInteger(http[t].errors) && (http[t].errors as number) >= 0).toBe(true);
      expect(Number.isInteger(http[t].non2xx) && (http[t].non2xx as number) >= 0).toBe(true);
    }
    expect(Number.isFinite(at(result, 'http.memory.rssGrowthPercent'))).toBe(true);
    expect((at(result, 'http.memory.rssSamplesMb') as number[]).length).toBeGreaterThan(0);
  });

  it('evaluates every performance target with PASS/FAIL', () => {
    const targets = result.targets as Json[];
    expect(targets.length).toBe(result.targetsTotal);
    expect(targets.length).toBeGreaterThanOrEqual(15);
    expect(targets.map((t) => t.name)).toContain('token p99 under a thread-pool flood / unloaded');
    for (const t of targets) {
      expect(typeof t.name).toBe('string');
      expect(Number.isFinite(t.value)).toBe(true);
      expect(typeof t.pass).toBe('boolean');
      expect(['>=', '<=']).toContain(t.op);
    }
    expect(result.targetsPassed).toBe(targets.filter((t) => t.pass).length);
  });
});
