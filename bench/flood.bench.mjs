/**
 * Thread-pool flood part of the benchmark (issue 13): token latency while the
 * same process keeps libuv's thread pool saturated with the kind of work an
 * app does there (password hashing with `crypto.scrypt`, `zlib`, `fs` reads),
 * compared with the same load without the flood.
 *
 * Tokens are asked for at a steady rate (open loop, like visitors arriving),
 * and each latency counts from the moment the token was due, so a stalled
 * event loop is not hidden. Two engines are measured alike: the default one
 * (local signing on the library's dedicated signing threads) and one with
 * `signingThreads: 0` (signing on libuv's thread pool, as before), which
 * shows what the flood does to signing that shares the pool.
 */
import { randomBytes, scrypt } from 'node:crypto';
import { readFile, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHistogram, performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { gzip } from 'node:zlib';
import { NestFactory } from '@nestjs/core';
import { IAdvizeAuthModule, TokenService } from 'nestjs-iadvize-auth';
import { BENCH_IDENTITY, BENCH_ISSUER, foreignCores, machineCpu, median, sleep } from './measure.util.mjs';

/** The two engines of this part, in report order. */
export const FLOOD_TARGETS = Object.freeze({
  engine: 'engine, default (dedicated signing threads)',
  engineLibuv: 'engine, signingThreads: 0 (libuv thread pool)',
});

/** scrypt cost of the flood: Node's default (N = 2^14, r = 8), a common password-hashing setting. */
const SCRYPT = Object.freeze({ N: 16384, r: 8, p: 1 });

/**
 * Keeps libuv's thread pool saturated until `stop()`: per pool thread, two
 * `crypto.scrypt` hashes, one `zlib.gzip` of 256 KiB and one 1 MiB file read
 * in flight (each restarted as soon as it finishes), so the pool's queue is
 * never empty. Returns the number of jobs completed.
 */
function startFlood(poolSize, file) {
  let stopped = false;
  const counts = { scrypt: 0, gzip: 0, read: 0 };
  const data = randomBytes(256 * 1024);
  const inFlight = new Set();
  const loop = (kind, start) => {
    const next = () => {
      if (stopped) return;
      const job = new Promise((resolve) => start(resolve)).then(() => {
        inFlight.delete(job);
        counts[kind]++;
        next();
      });
      inFlight.add(job);
    };
    next();
  };
  for (let i = 0; i < poolSize; i++) {
    loop('scrypt', (done) => scrypt('correct horse battery staple', 'flood-salt', 64, SCRYPT, done));
    loop('scrypt', (done) => scrypt('correct horse battery staple', 'flood-salt', 64, SCRYPT, done));
    loop('gzip', (done) => gzip(data, done));
    loop('read', (done) => readFile(file, done));
  }
  return {
    async stop() {
      stopped = true;
      while (inFlight.size > 0) await Promise.all([...inFlight]);
      return counts;
    },
  };
}

/**
 * Asks `fn` for a result `ratePerSecond` times a second for `durationMs`
 * (open loop: a slow answer does not delay the next request) and records each
 * latency from the time the call was due. Any rejection voids the run.
 */
async function paced(fn, { ratePerSecond, durationMs }) {
  const latency = createHistogram();
  const calls = [];
  let failure;
  let issued = 0;
  const machine0 = machineCpu();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const total = Math.round((ratePerSecond * durationMs) / 1000);
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - t0) * ratePerSecond) / 1000) + 1);
      for (; issued < due; issued++) {
        const dueAt = t0 + (issued * 1000) / ratePerSecond;
        calls.push(
          fn().then(
            () => latency.record(Math.max(1, Math.round((performance.now() - dueAt) * 1000))),
            (e) => {
              failure ??= e;
            },
          ),
        );
      }
      if (issued >= total) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(tick, 1);
    tick();
  });
  await Promise.all(calls);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (failure !== undefined) throw failure;
  return {
    calls: total,
    seconds: elapsed,
    latencyP50Ms: latency.percentile(50) / 1000,
    latencyP99Ms: latency.percentile(99) / 1000,
    latencyMaxMs: latency.max / 1000,
    cpuCores: (cpu.user + cpu.system) / 1e6 / elapsed,
    otherProcessesCores: foreignCores(machine0, machineCpu(), (cpu.user + cpu.system) / 1e6, elapsed),
  };
}

/**
 * Runs the flood benchmark.
 *
 * @param {object} options
 * @param {{ privatePem: string }} options.brand
 * @param {import('nestjs-iadvize-auth/testing').FakeIAdvize} options.iadvize
 * @param {number} options.ratePerSecond tokens asked for per second
 * @param {number} options.rounds interleaved rounds (each: unloaded, then flooded, per engine)
 * @param {number} options.durationMs duration of one measurement
 * @param {number} options.warmupMs warm-up per engine
 * @param {(line: string) => void} options.log
 */
export async function runFloodBench({ brand, iadvize, ratePerSecond, rounds, durationMs, warmupMs, log }) {
  const poolSize = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const file = join(tmpdir(), `iadvize-bench-flood-${process.pid}.bin`);
  writeFileSync(file, randomBytes(1024 * 1024));
  const apps = {};
  try {
    for (const [name, signingThreads] of [
      ['engine', undefined],
      ['engineLibuv', 0],
    ]) {
      apps[name] = await NestFactory.createApplicationContext(
        IAdvizeAuthModule.forRoot({
          issuer: BENCH_ISSUER,
          signingKey: { pem: brand.privatePem, ...(signingThreads === undefined ? {} : { signingThreads }) },
          iadvizePublicKey: iadvize.publicKeyPem,
          controller: false,
        }),
        { logger: false },
      );
    }
    const mint = Object.fromEntries(Object.entries(apps).map(([name, app]) => {
      const tokens = app.get(TokenService);
      return [name, () => tokens.createToken(BENCH_IDENTITY)];
    }));
    for (const name of Object.keys(FLOOD_TARGETS)) {
      log(`  warm-up ${FLOOD_TARGETS[name]}`);
      await paced(mint[name], { ratePerSecond, durationMs: warmupMs });
    }
    const runs = Object.fromEntries(Object.keys(FLOOD_TARGETS).map((name) => [name, { unloaded: [], flooded: [], floodJobsPerSecond: [] }]));
    const names = Object.keys(FLOOD_TARGETS);
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < names.length; i++) {
        const name = names[(i + round) % names.length];
        const unloaded = await paced(mint[name], { ratePerSecond, durationMs });
        const flood = startFlood(poolSize, file);
        await sleep(200); // the pool's queue fills
        const flooded = await paced(mint[name], { ratePerSecond, durationMs });
        const counts = await flood.stop();
        const jobs = counts.scrypt + counts.gzip + counts.read;
        runs[name].unloaded.push(unloaded);
        runs[name].flooded.push(flooded);
        runs[name].floodJobsPerSecond.push(jobs / (flooded.seconds + 0.2));
        log(
          `  round ${round + 1}/${rounds} ${FLOOD_TARGETS[name].padEnd(46)} p99 ${unloaded.latencyP99Ms.toFixed(1)} ms unloaded, ` +
            `${flooded.latencyP99Ms.toFixed(1)} ms flooded (${counts.scrypt} scrypt, ${counts.gzip} gzip, ${counts.read} reads)`,
        );
      }
    }
    const result = { ratePerSecond, rounds, durationMs, uvThreadpoolSize: poolSize, scrypt: { ...SCRYPT } };
    for (const [name, r] of Object.entries(runs)) {
      const unloadedP99 = median(r.unloaded.map((x) => x.latencyP99Ms));
      const floodedP99 = median(r.flooded.map((x) => x.latencyP99Ms));
      result[name] = {
        unloadedLatencyP50Ms: median(r.unloaded.map((x) => x.latencyP50Ms)),
        unloadedLatencyP99Ms: unloadedP99,
        floodedLatencyP50Ms: median(r.flooded.map((x) => x.latencyP50Ms)),
        floodedLatencyP99Ms: floodedP99,
        floodedLatencyMaxMs: Math.max(...r.flooded.map((x) => x.latencyMaxMs)),
        p99Ratio: floodedP99 / unloadedP99,
        floodJobsPerSecond: median(r.floodJobsPerSecond),
        floodedCpuCores: median(r.flooded.map((x) => x.cpuCores)),
        otherProcessesCores: r.flooded[0].otherProcessesCores === null ? null : median([...r.unloaded, ...r.flooded].map((x) => x.otherProcessesCores)),
      };
    }
    return result;
  } finally {
    await Promise.all(Object.values(apps).map((app) => app.close()));
    rmSync(file, { force: true });
  }
}
