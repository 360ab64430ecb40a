/**
 * Ratios, targets (from issue 7) and the human-readable table of a benchmark
 * result. A missed target is reported as FAIL; it never fails the process.
 */
import { ENGINE_TARGETS } from './engine.bench.mjs';
import { FLOOD_TARGETS } from './flood.bench.mjs';
import { HTTP_REFERENCES, HTTP_TARGETS } from './http.bench.mjs';
import { round } from './measure.util.mjs';

/** Tolerated RSS growth between the first and the last window of the memory run, in percent. */
export const RSS_GROWTH_LIMIT_PERCENT = 10;

/**
 * Ratios the targets are stated in, computed from figures of the same run.
 * Each rate is the best of the interleaved rounds; `*Median` ratios use the
 * median rounds instead, as a noise check.
 */
export function computeRatios(engine, http, flood) {
  const ratios = {};
  if (engine) {
    const rawBest = Math.max(engine.rawSignCallback.rate, engine.rawSubtleSign.rate);
    const rawMedian = Math.max(engine.rawSignCallback.rateMedian, engine.rawSubtleSign.rateMedian);
    engine.rawReference = {
      source: engine.rawSignCallback.rate >= engine.rawSubtleSign.rate ? 'rawSignCallback' : 'rawSubtleSign',
      rate: rawBest,
    };
    Object.assign(ratios, {
      engineToRawSign: engine.engine.rate / rawBest,
      engineToRawSignMedian: engine.engine.rateMedian / rawMedian,
      engineLibuvToRawSign: engine.engineLibuv.rate / rawBest,
      engineLibuvToRawSignMedian: engine.engineLibuv.rateMedian / rawMedian,
      engineToJose: engine.engine.rate / engine.jose.rate,
      engineToJsonwebtokenNodeJose: engine.engine.rate / engine.jsonwebtokenNodeJose.rate,
      joseToRawSign: engine.jose.rate / rawBest,
    });
  }
  if (http) {
    Object.assign(ratios, {
      fastifyToNode: http.fastify.rate / http.node.rate,
      expressToNode: http.express.rate / http.node.rate,
      fastifyToNodeMedian: http.fastify.rateMedian / http.node.rateMedian,
      expressToNodeMedian: http.express.rateMedian / http.node.rateMedian,
      expressPlainToNode: http.expressPlain.rate / http.node.rate,
      expressToExpressPlain: http.express.rate / http.expressPlain.rate,
    });
    if (engine) ratios.fastifyToRawSign = http.fastify.rate / engine.rawReference.rate;
  }
  if (flood) {
    Object.assign(ratios, {
      floodedToUnloadedP99: flood.engine.p99Ratio,
      floodedToUnloadedP99Libuv: flood.engineLibuv.p99Ratio,
    });
  }
  return ratios;
}

/** Most a thread-pool flood may multiply the token p99 latency by (issue 13). */
export const FLOOD_P99_RATIO_LIMIT = 3;

/** The targets of issues 7 and 13 with the measured value and PASS/FAIL. */
export function evaluateTargets(engine, http, ratios, flood) {
  const targets = [];
  const add = (name, value, op, threshold, unit = '') =>
    targets.push({ name, value: round(value, 3), op, threshold, unit, pass: op === '>=' ? value >= threshold : value <= threshold });
  if (engine) {
    add('engine / raw RSA sign (64 in flight)', ratios.engineToRawSign, '>=', 0.9, '×');
    add('engine event-loop delay p99 (saturated)', engine.engine.eventLoopDelayP99Ms, '<=', 10, 'ms');
    add('engine / jose SignJWT + CompactEncrypt', ratios.engineToJose, '>=', 1.35, '×');
    add('engine / jsonwebtoken + node-jose', ratios.engineToJsonwebtokenNodeJose, '>=', 4, '×');
  }
  if (http) {
    add('HTTP Nest + Fastify / bare node:http', ratios.fastifyToNode, '>=', 0.9, '×');
    add('HTTP Nest + Express / bare node:http', ratios.expressToNode, '>=', 0.75, '×');
    // The latency target is the endpoint's: the reference servers are reported, not judged.
    for (const name of Object.keys(HTTP_TARGETS).filter((n) => !HTTP_REFERENCES.includes(n))) {
      add(`HTTP ${name}: p99 latency at half peak rate (paced)`, http[name].halfRateLatencyP99Ms, '<=', 10, 'ms');
    }
    for (const name of Object.keys(HTTP_TARGETS)) {
      add(`HTTP ${name}: errors + non-2xx`, http[name].errors + http[name].non2xx, '<=', 0);
    }
    add(`HTTP memory: RSS growth over ${http.memory.seconds} s (${http.memory.target})`, http.memory.rssGrowthPercent, '<=', RSS_GROWTH_LIMIT_PERCENT, '%');
    add('HTTP memory run: errors + non-2xx', http.memory.errors + http.memory.non2xx, '<=', 0);
  }
  if (flood) {
    add('token p99 under a thread-pool flood / unloaded', ratios.floodedToUnloadedP99, '<=', FLOOD_P99_RATIO_LIMIT, '×');
  }
  return targets;
}

function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const int = (n) => Math.round(n).toLocaleString('en-US');
const ms = (n) => (n === undefined ? '' : `${round(n, 1)}`);
const cores = (n) => (n === null || n === undefined ? 'n/a' : `${round(n, 2)}`);

/** Other processes' CPU (cores, median) above which the report warns that figures are noisy. */
export const NOISE_WARNING_CORES = 0.25;

/** Formats a whole result as text tables. */
export function formatReport(result) {
  const { machine, engine, flood, http, ratios, targets } = result;
  const out = [];
  out.push(`nestjs-iadvize-auth benchmark (${result.mode}), ${result.finishedAt}`);
  out.push(
    `machine: ${machine.cores} cores (${machine.cpuModel}${machine.avx512ifma === null ? '' : machine.avx512ifma ? ', AVX-512 IFMA' : ', no AVX-512 IFMA'}), ` +
      `${machine.platform}, Node ${machine.node}, OpenSSL ${machine.openssl}, libuv ${machine.libuv}, ` +
      `UV_THREADPOOL_SIZE=${machine.uvThreadpoolSize}, load average at start ${machine.loadAverageAtStart.join(' ')}`,
  );
  out.push(`key: RSA-${result.keySize} (signing and iAdvize keys)`);
  if (engine) {
    out.push('');
    out.push(`In process, ${engine.concurrency} in flight, best of ${engine.rounds} interleaved rounds of ${engine.durationMs / 1000} s${engine.repeatedRuns ? ` (${engine.repeatedRuns} run(s) repeated because other processes were busy)` : ''}`);
    out.push(
      table(
        ['target', 'ops/s (best)', 'ops/s (median)', 'latency p50 ms', 'p99 ms', 'loop delay p99 ms', 'CPU cores', 'other procs cores', 'token bytes'],
        Object.entries(ENGINE_TARGETS).map(([key, label]) => [
          label,
          int(engine[key].rate),
          int(engine[key].rateMedian),
          ms(engine[key].latencyP50Ms),
          ms(engine[key].latencyP99Ms),
          ms(engine[key].eventLoopDelayP99Ms),
          round(engine[key].cpuCores, 2),
          cores(engine[key].otherProcessesCores),
          engine.tokenBytes[key] ?? '',
        ]),
      ),
    );
    out.push(`raw reference: ${ENGINE_TARGETS[engine.rawReference.source]} (the better raw rate)`);
    if (engine.randomness) {
      const r = engine.randomness;
      out.push(
        `CEK/IV randomness per token: fresh ${int(r.freshNsPerToken)} ns (the engine's way), pooled ${int(r.pooledNsPerToken)} ns; ` +
          `a pool would save ${round(r.savedShareOfTokenPercent, 2)} % of a token's cost (${int(r.tokenCostNs)} ns) and keep future content keys in memory`,
      );
    }
  }
  if (flood) {
    out.push('');
    out.push(
      `Thread-pool flood, in process: ${flood.ratePerSecond} tokens/s asked for (open loop, latency from when each was due), median of ${flood.rounds} interleaved rounds of ${flood.durationMs / 1000} s, ` +
        `without and with a flood keeping libuv's ${flood.uvThreadpoolSize} threads busy (per thread: 2 scrypt N=${flood.scrypt.N} r=${flood.scrypt.r}, 1 gzip of 256 KiB, 1 read of 1 MiB in flight)`,
    );
    out.push(
      table(
        ['engine', 'p50 ms', 'p99 ms', 'p50 ms flooded', 'p99 ms flooded', 'max ms flooded', 'p99 flooded / unloaded', 'flood jobs/s', 'CPU cores flooded', 'other procs cores'],
        Object.entries(FLOOD_TARGETS).map(([key, label]) => {
          const r = flood[key];
          return [
            label,
            ms(r.unloadedLatencyP50Ms),
            ms(r.unloadedLatencyP99Ms),
            ms(r.floodedLatencyP50Ms),
            ms(r.floodedLatencyP99Ms),
            ms(r.floodedLatencyMaxMs),
            `${round(r.p99Ratio, 2)} ×`,
            int(r.floodJobsPerSecond),
            round(r.floodedCpuCores, 2),
            cores(r.otherProcessesCores),
          ];
        }),
      ),
    );
  }
  if (http) {
    out.push('');
    out.push(`HTTP POST /iadvize/token, autocannon ${http.connections} connections, best of ${http.rounds} interleaved rounds of ${http.seconds} s${http.repeatedRuns ? ` (${http.repeatedRuns} run(s) repeated because other processes were busy)` : ''}; server in a child process, load generator in this one (they share the ${machine.cores} cores)`);
    out.push(
      table(
        ['server', 'req/s (best)', 'req/s (median)', 'p50 ms', 'p99 ms', 'half rate', 'p99 ms @half paced', 'p99 ms @half bursts', 'errors', 'non-2xx', 'server cores', 'loadgen cores', 'other procs cores', 'peak RSS MB'],
        Object.entries(HTTP_TARGETS).map(([key, label]) => {
          const r = http[key];
          return [
            label,
            int(r.rate),
            int(r.rateMedian),
            ms(r.latencyP50Ms),
            ms(r.latencyP99Ms),
            int(r.halfRateOffered),
            ms(r.halfRateLatencyP99Ms),
            ms(r.halfRateBurstLatencyP99Ms),
            r.errors,
            r.non2xx,
            round(r.serverCpuCores, 2),
            round(r.loadGeneratorCpuCores, 2),
            cores(r.otherProcessesCores),
            round(r.peakRssMb, 1),
          ];
        }),
      ),
    );
    const m = http.memory;
    out.push(
      `memory (${HTTP_TARGETS[m.target]}, ${m.seconds} s at full load, ${int(m.rate)} req/s): RSS first ${m.trendWindowSeconds} s ${round(m.rssFirstWindowMb, 1)} MB, ` +
        `last ${m.trendWindowSeconds} s ${round(m.rssLastWindowMb, 1)} MB (${m.rssGrowthPercent >= 0 ? '+' : ''}${round(m.rssGrowthPercent, 1)} %), peak ${round(m.peakRssMb, 1)} MB`,
    );
  }
  const busy = [
    ...(engine ? Object.keys(ENGINE_TARGETS).map((k) => engine[k].otherProcessesCores) : []),
    ...(http ? Object.keys(HTTP_TARGETS).map((k) => http[k].otherProcessesCores) : []),
  ].filter((n) => typeof n === 'number');
  if (busy.length > 0 && Math.max(...busy) > NOISE_WARNING_CORES) {
    out.push('');
    out.push(
      `WARNING: other processes used up to ${round(Math.max(...busy), 2)} cores during the measurements (median per target); ` +
        'the figures are noisy: rerun when the machine is quieter.',
    );
  }
  out.push('');
  out.push('Ratios (same run)');
  out.push(table(['ratio', 'value'], Object.entries(ratios).map(([k, v]) => [k, round(v, 3)])));
  out.push('');
  out.push('Targets (issues 7 and 13): a miss is reported, not an error');
  out.push(table(['target', 'measured', 'target', 'result'], targets.map((t) => [t.name, `${t.value}${t.unit ? ` ${t.unit}` : ''}`, `${t.op} ${t.threshold}${t.unit ? ` ${t.unit}` : ''}`, t.pass ? 'PASS' : 'FAIL'])));
  return out.join('\n');
}
