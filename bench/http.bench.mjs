/**
 * HTTP part of the benchmark: the token endpoint on Nest + Fastify, Nest +
 * Express and a bare `node:http` server (all calling the same TokenService),
 * each in its own child process, loaded by autocannon from this process.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createHistogram, performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { BENCH_IDENTITY, BENCH_ISSUER, foreignCores, machineCpu, measureQuietly, median, round, sleep } from './measure.util.mjs';

/** Front ends, in report order. */
export const HTTP_TARGETS = Object.freeze({
  node: 'bare node:http + TokenService',
  fastify: 'Nest + Fastify (IAdvizeAuthModule)',
  express: 'Nest + Express (IAdvizeAuthModule)',
  expressPlain: 'bare Express + TokenService (reference, raw reply)',
});

/** Reference servers: measured for comparison, not the library's endpoint (no latency target). */
export const HTTP_REFERENCES = Object.freeze(['node', 'expressPlain']);

const SERVER_ENTRY = fileURLToPath(new URL('./token-server.child.mjs', import.meta.url));
const TOKEN_PATH = '/iadvize/token';
const REQUEST_HEADERS = { 'x-bench-user': BENCH_IDENTITY.userId };

/** A server child process and the IPC plumbing to talk to it. */
class ServerProcess {
  constructor(target) {
    this.target = target;
    this.stderr = '';
    this.waiters = [];
    this.child = fork(SERVER_ENTRY, [target], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: process.env });
    this.child.stderr.setEncoding('utf8').on('data', (chunk) => {
      this.stderr = (this.stderr + chunk).slice(-4000);
    });
    this.child.on('message', (message) => {
      const i = this.waiters.findIndex((w) => w.type === message.type);
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(message);
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.exited.then(({ code, signal }) => {
      for (const w of this.waiters.splice(0)) {
        w.reject(new Error(`the ${target} server exited (code ${code}, signal ${signal}) before answering "${w.type}"${this.stderr ? `:\n${this.stderr}` : ''}`));
      }
    });
  }

  request(message, replyType, timeoutMs = 30_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the ${this.target} server did not answer "${message.type}" within ${timeoutMs} ms${this.stderr ? `:\n${this.stderr}` : ''}`)), timeoutMs);
      this.waiters.push({
        type: replyType,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send(message);
    });
  }

  async start(keys) {
    const { port } = await this.request({ type: 'start', ...keys }, 'ready', 60_000);
    this.url = `http://127.0.0.1:${port}${TOKEN_PATH}`;
  }

  usage() {
    return this.request({ type: 'usage' }, 'usage');
  }

  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.child.send({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Runs autocannon against `server` in one of three shapes:
 * - `peak`: `connections` connections, no rate limit (closed loop, the ceiling);
 * - `burst`: the same with autocannon's `overallRate`. autocannon spends each
 *   connection's per-second quota back to back at the start of every second,
 *   so the server sees all connections in flight at once, then silence;
 * - `paced`: the same offered rate and connection count, but one autocannon
 *   instance per connection, each rate-limited (`connectionRate`) and started
 *   `1000 / connections` ms after the previous one, so the per-second bursts
 *   are spread over the second: closer to visitors arriving independently.
 * Samples the server's RSS every second and measures the CPU of the server,
 * of this process (the load generator) and of every other process.
 */
async function load(server, { connections, seconds, mode = 'peak', rate }) {
  const before = await server.usage();
  const machine0 = machineCpu();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const samples = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sleep(1000);
      if (!sampling) break;
      const u = await server.usage();
      samples.push({ t: (performance.now() - t0) / 1000, rss: u.rss });
    }
  })();
  const common = { url: server.url, method: 'POST', headers: REQUEST_HEADERS, duration: seconds };
  let results;
  const latency = createHistogram();
  if (mode === 'paced') {
    const runs = [];
    for (let i = 0; i < connections; i++) {
      const connectionRate = Math.floor(rate / connections) + (i < rate % connections ? 1 : 0);
      if (connectionRate === 0) continue;
      const instance = autocannon({ ...common, connections: 1, connectionRate });
      instance.on('response', (_client, statusCode, _bytes, responseTime) => {
        if (statusCode >= 200 && statusCode < 300) latency.record(Math.max(1, Math.round(responseTime * 1000)));
      });
      runs.push(instance);
      await sleep(1000 / connections);
    }
    results = await Promise.all(runs);
  } else {
    const instance = autocannon({ ...common, connections, ...(mode === 'burst' ? { overallRate: rate, ignoreCoordinatedOmission: true } : {}) });
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latency.record(Math.max(1, Math.round(responseTime * 1000)));
    });
    results = [await instance];
  }
  sampling = false;
  await sampler;
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const machine1 = machineCpu();
  const after = await server.usage();
  const sum = (key) => results.reduce((n, r) => n + r[key], 0);
  const serverCpu = (after.cpuMicros - before.cpuMicros) / 1e6;
  const loadGeneratorCpu = (cpu.user + cpu.system) / 1e6;
  return {
    rate: sum('2xx') / Math.max(...results.map((r) => r.duration)),
    latencyP50Ms: latency.percentile(50) / 1000,
    latencyP99Ms: latency.percentile(99) / 1000,
    latencyMaxMs: latency.max / 1000,
    errors: sum('errors') + sum('timeouts'),
    non2xx: sum('non2xx'),
    serverCpuCores: serverCpu / wall,
    loadGeneratorCpuCores: loadGeneratorCpu / wall,
    otherProcessesCores: foreignCores(machine0, machine1, serverCpu + loadGeneratorCpu, wall),
    peakRss: after.maxRss,
    rssSamples: samples,
  };
}

/** Fetches one token and checks FakeIAdvize opens it for the right user. */
async function checkEndpoint(server, iadvize, brandPublicPem) {
  const response = await fetch(server.url, { method: 'POST', headers: REQUEST_HEADERS });
  if (response.status !== 200) throw new Error(`the ${server.target} endpoint answered ${response.status} instead of 200`);
  const body = await response.json();
  const opened = await iadvize.open(body.token, brandPublicPem, { issuer: BENCH_ISSUER });
  if (opened.userId !== BENCH_IDENTITY.userId) throw new Error(`the ${server.target} endpoint minted a token for the wrong user`);
}

/**
 * Runs the HTTP benchmark.
 *
 * @param {object} options
 * @param {{ privatePem: string, publicPem: string }} options.brand
 * @param {import('nestjs-iadvize-auth/testing').FakeIAdvize} options.iadvize
 * @param {number} options.connections autocannon connections
 * @param {number} options.rounds interleaved peak rounds
 * @param {number} options.seconds duration of one peak run / one half-rate run
 * @param {number} options.warmupSeconds warm-up per server
 * @param {number} options.soakSeconds duration of the memory run
 * @param {number} options.trendWindowSeconds window compared at the start and end of the memory run
 * @param {'node'|'fastify'|'express'|'expressPlain'} options.soakTarget server of the memory run
 * @param {number} options.retries extra attempts of a run disturbed by other processes
 * @param {(line: string) => void} options.log
 */
export async function runHttpBench({ brand, iadvize, connections, rounds, seconds, warmupSeconds, soakSeconds, trendWindowSeconds, soakTarget, retries, log }) {
  const names = Object.keys(HTTP_TARGETS);
  const servers = Object.fromEntries(names.map((name) => [name, new ServerProcess(name)]));
  try {
    const keys = { privatePem: brand.privatePem, iadvizePublicPem: iadvize.publicKeyPem };
    await Promise.all(Object.values(servers).map((s) => s.start(keys)));
    for (const server of Object.values(servers)) {
      await checkEndpoint(server, iadvize, brand.publicPem);
      log(`  warm-up ${HTTP_TARGETS[server.target]}`);
      await load(server, { connections, seconds: warmupSeconds });
    }

    let repeatedRuns = 0;
    const quietly = async (server, options) => {
      const { run, repeated } = await measureQuietly(() => load(server, options), retries);
      repeatedRuns += repeated;
      return run;
    };
    const other = (run) => (run.otherProcessesCores === null ? 'n/a' : `${round(run.otherProcessesCores, 2)} cores`);
    const peaks = Object.fromEntries(names.map((name) => [name, []]));
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < names.length; i++) {
        const name = names[(i + r) % names.length];
        const run = await quietly(servers[name], { connections, seconds });
        peaks[name].push(run);
        log(`  round ${r + 1}/${rounds} ${HTTP_TARGETS[name].padEnd(36)} ${Math.round(run.rate)} req/s, p99 ${round(run.latencyP99Ms, 1)} ms, other processes ${other(run)}`);
      }
    }

    const results = {};
    for (const name of names) {
      const list = peaks[name];
      const best = list.reduce((a, b) => (b.rate > a.rate ? b : a));
      const halfRate = Math.max(1, Math.round(best.rate / 2));
      const paced = await quietly(servers[name], { connections, seconds, mode: 'paced', rate: halfRate });
      log(`  half rate, paced ${HTTP_TARGETS[name].padEnd(36)} ${halfRate} req/s offered, ${Math.round(paced.rate)} served, p99 ${round(paced.latencyP99Ms, 1)} ms, other processes ${other(paced)}`);
      const burst = await quietly(servers[name], { connections, seconds, mode: 'burst', rate: halfRate });
      log(`  half rate, bursts ${HTTP_TARGETS[name].padEnd(36)} ${halfRate} req/s offered, ${Math.round(burst.rate)} served, p99 ${round(burst.latencyP99Ms, 1)} ms, other processes ${other(burst)}`);
      const all = [...list, paced, burst];
      results[name] = {
        rate: best.rate,
        rateMedian: median(list.map((r) => r.rate)),
        rates: list.map((r) => r.rate),
        latencyP50Ms: median(list.map((r) => r.latencyP50Ms)),
        latencyP99Ms: median(list.map((r) => r.latencyP99Ms)),
        halfRateOffered: halfRate,
        halfRateServed: paced.rate,
        halfRateLatencyP50Ms: paced.latencyP50Ms,
        halfRateLatencyP99Ms: paced.latencyP99Ms,
        halfRateLatencyMaxMs: paced.latencyMaxMs,
        halfRateBurstServed: burst.rate,
        halfRateBurstLatencyP50Ms: burst.latencyP50Ms,
        halfRateBurstLatencyP99Ms: burst.latencyP99Ms,
        errors: all.reduce((n, r) => n + r.errors, 0),
        non2xx: all.reduce((n, r) => n + r.non2xx, 0),
        serverCpuCores: median(list.map((r) => r.serverCpuCores)),
        loadGeneratorCpuCores: median(list.map((r) => r.loadGeneratorCpuCores)),
        otherProcessesCores: list[0].otherProcessesCores === null ? null : median(all.map((r) => r.otherProcessesCores)),
        peakRssMb: Math.max(...all.map((r) => r.peakRss)) / 2 ** 20,
      };
    }

    log(`  memory: ${HTTP_TARGETS[soakTarget]} under full load for ${soakSeconds} s`);
    const soak = await load(servers[soakTarget], { connections, seconds: soakSeconds });
    const window = (from, to) => soak.rssSamples.filter((s) => s.t > from && s.t <= to).map((s) => s.rss);
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = window(0, trendWindowSeconds + 1);
    const last = window(soakSeconds - trendWindowSeconds, Infinity);
    if (first.length === 0 || last.length === 0) throw new Error(`too few RSS samples in the ${soakSeconds}-second memory run`);
    const memory = {
      target: soakTarget,
      seconds: soakSeconds,
      trendWindowSeconds,
      rate: soak.rate,
      errors: soak.errors,
      otherProcessesCores: soak.otherProcessesCores,
      non2xx: soak.non2xx,
      rssFirstWindowMb: mean(first) / 2 ** 20,
      rssLastWindowMb: mean(last) / 2 ** 20,
      rssGrowthPercent: ((mean(last) - mean(first)) / mean(first)) * 100,
      peakRssMb: soak.peakRss / 2 ** 20,
      rssSamplesMb: soak.rssSamples.map((s) => Math.round((s.rss / 2 ** 20) * 10) / 10),
    };
    return { connections, rounds, seconds, repeatedRuns, ...results, memory };
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }
}
