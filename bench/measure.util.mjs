/**
 * Measurement helpers shared by the benchmark: machine facts, the closed-loop
 * driver that keeps N operations in flight, event-loop delay and small
 * statistics. Nothing here knows about tokens.
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg, availableParallelism } from 'node:os';
import { createHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks';

/** Resolution of the event-loop delay monitor, in ms (the reported delay is the excess over it). */
export const EVENT_LOOP_RESOLUTION_MS = 1;

/** The issuer and identity every pipeline of the benchmark signs (same claims everywhere). */
export const BENCH_ISSUER = 'https://bench.example.com';

/** A realistic identity: iAdvize tokens carry a user id and often some visitor data. */
export const BENCH_IDENTITY = Object.freeze({
  userId: 'bench-user-0001234567',
  visitorData: Object.freeze({ firstName: 'Ada', lastName: 'Lovelace', email: 'ada.lovelace@example.com' }),
});

/** Token lifetime used by every pipeline, in seconds. */
export const BENCH_TTL_SECONDS = 60;

/**
 * Facts about the machine and runtime that the figures depend on.
 * @returns {Record<string, unknown>}
 */
export function machineInfo() {
  const cpuList = cpus();
  let avx512ifma = null;
  try {
    avx512ifma = /\bavx512ifma\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    avx512ifma = null; // not Linux: unknown
  }
  return {
    cores: availableParallelism(),
    cpuModel: cpuList[0]?.model?.trim() ?? 'unknown',
    avx512ifma,
    platform: `${process.platform} ${process.arch}`,
    node: process.version,
    openssl: process.versions.openssl,
    libuv: process.versions.uv,
    uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
    opensslIa32cap: process.env.OPENSSL_ia32cap ?? null,
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/**
 * Cumulative CPU time of the whole machine from `/proc/stat`, in seconds:
 * `busy` (every state but idle and iowait) and `steal` (time the hypervisor
 * gave our vCPUs to someone else). `null` where `/proc/stat` does not exist.
 * @returns {{ busy: number, steal: number } | null}
 */
export function machineCpu() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = fields; // idle and iowait skipped
    return { busy: (user + nice + system + irq + softirq) / 100, steal: (steal ?? 0) / 100 };
  } catch {
    return null;
  }
}

/**
 * CPU the rest of the machine used between two {@link machineCpu} snapshots,
 * in cores: machine busy time minus the time of our own processes
 * (`ownCpuSeconds`), divided by the wall time. `null` when unknown.
 */
export function foreignCores(before, after, ownCpuSeconds, wallSeconds) {
  if (!before || !after) return null;
  return Math.max(0, (after.busy - before.busy - ownCpuSeconds) / wallSeconds);
}

/**
 * Keeps `concurrency` calls of `fn` in flight for `durationMs` and counts the
 * calls that completed inside the window. Measures event-loop delay (excess
 * over {@link EVENT_LOOP_RESOLUTION_MS}), per-call latency and the process CPU
 * used. Any rejection aborts the run: a benchmark of failing calls is void.
 *
 * @param {() => Promise<unknown>} fn
 * @param {{ concurrency: number, durationMs: number }} options
 */
export async function saturate(fn, { concurrency, durationMs }) {
  const latency = createHistogram();
  const loop = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  let completed = 0;
  let stopped = false;
  let failure;
  const lane = async () => {
    while (!stopped && failure === undefined) {
      const t0 = performance.now();
      try {
        await fn();
      } catch (e) {
        failure ??= e;
        return;
      }
      if (!stopped) {
        completed++;
        latency.record(Math.max(1, Math.round((performance.now() - t0) * 1000)));
      }
    }
  };
  const machine0 = machineCpu();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  loop.enable();
  const lanes = Array.from({ length: concurrency }, lane);
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  stopped = true;
  const elapsed = (performance.now() - t0) / 1000;
  const counted = completed;
  loop.disable();
  const cpu = process.cpuUsage(cpu0);
  const machine1 = machineCpu();
  await Promise.all(lanes);
  if (failure !== undefined) throw failure;
  return {
    rate: counted / elapsed,
    operations: counted,
    seconds: elapsed,
    latencyP50Ms: latency.percentile(50) / 1000,
    latencyP99Ms: latency.percentile(99) / 1000,
    eventLoopDelayP99Ms: excessMs(loop.percentile(99)),
    eventLoopDelayMaxMs: excessMs(loop.max),
    cpuCores: (cpu.user + cpu.system) / 1e6 / elapsed,
    otherProcessesCores: foreignCores(machine0, machine1, (cpu.user + cpu.system) / 1e6, elapsed),
  };
}

function excessMs(ns) {
  return Math.max(0, ns / 1e6 - EVENT_LOOP_RESOLUTION_MS);
}

/** Other processes' CPU, in cores, above which a measurement counts as disturbed. */
export const BUSY_MACHINE_CORES = 0.25;

/**
 * Runs `measure` and, while other processes used more than
 * {@link BUSY_MACHINE_CORES} during it, runs it again, up to `retries` more
 * times. Returns the least disturbed run and how many runs were repeated.
 *
 * @template {{ rate: number, otherProcessesCores: number | null }} T
 * @param {() => Promise<T>} measure
 * @param {number} retries
 * @returns {Promise<{ run: T, repeated: number }>}
 */
export async function measureQuietly(measure, retries) {
  let best;
  for (let attempt = 0; ; attempt++) {
    const run = await measure();
    const other = run.otherProcessesCores ?? 0;
    if (!best || other < (best.otherProcessesCores ?? 0)) best = run;
    if (other <= BUSY_MACHINE_CORES || attempt >= retries) return { run: best, repeated: attempt };
  }
}

/** @param {number[]} values */
export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Rounds to `digits` significant decimals for display and JSON. */
export function round(value, digits = 2) {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
