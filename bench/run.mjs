#!/usr/bin/env node
/**
 * Benchmark of nestjs-iadvize-auth (issue 7): `npm run bench` (build + this).
 *
 *   node bench/run.mjs [--quick] [--json] [--pool N] [--key-size 2048|3072|4096]
 *                      [--skip-engine] [--skip-http] [--skip-flood] [--soak-target node|fastify|express]
 *
 * Measures, in one run: raw RSA signing, the token engine, two reference
 * pipelines, token latency while the app floods libuv's thread pool, and the
 * token endpoint over HTTP on Fastify, Express and bare node:http. Prints a table (or, with --json, one JSON object on stdout;
 * progress always goes to stderr). Missed targets print FAIL but the exit code
 * stays 0: only errors (a pipeline that mints unopenable tokens, a server that
 * does not start) exit non-zero. Imports the built package: run `npm run build` first.
 */
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { generateKeyPair } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const USAGE = `usage: node bench/run.mjs [options]
  --quick              smoke run, under a minute (default: full run, about 5 minutes)
  --json               print one JSON object on stdout instead of the table
  --pool N             UV_THREADPOOL_SIZE for this run (default: the env var, else the core count)
  --key-size N         RSA modulus of both keys: 2048 (default), 3072 or 4096
  --skip-engine        skip the in-process part
  --skip-http          skip the HTTP part
  --skip-flood         skip the thread-pool flood part
  --soak-target NAME   server of the memory run: fastify (default), express, node or expressPlain
  --help               this text`;

function parseArgs(argv) {
  const options = { quick: false, json: false, pool: undefined, keySize: 2048, engine: true, http: true, flood: true, soakTarget: 'fastify' };
  const value = (i, name) => {
    if (i + 1 >= argv.length) fail(`${name} needs a value\n${USAGE}`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') options.quick = true;
    else if (arg === '--json') options.json = true;
    else if (arg === '--skip-engine') options.engine = false;
    else if (arg === '--skip-http') options.http = false;
    else if (arg === '--skip-flood') options.flood = false;
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (arg === '--pool') {
      options.pool = value(i++, arg);
      if (!/^[1-9]\d{0,2}$/.test(options.pool)) fail('--pool must be a whole number from 1 to 999 (the libuv thread pool size)');
    } else if (arg === '--key-size') {
      options.keySize = Number(value(i++, arg));
      if (![2048, 3072, 4096].includes(options.keySize)) fail('--key-size must be 2048, 3072 or 4096');
    } else if (arg === '--soak-target') {
      options.soakTarget = value(i++, arg);
      if (!['fastify', 'express', 'node', 'expressPlain'].includes(options.soakTarget)) fail('--soak-target must be fastify, express, node or expressPlain');
    } else fail(`unknown option "${arg}"\n${USAGE}`);
  }
  return options;
}

function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}

const options = parseArgs(process.argv.slice(2));

// libuv reads UV_THREADPOOL_SIZE once, when the pool first starts, which has
// already happened while this module was loading: re-run in a child process
// with the wanted size in its environment.
const wantedPool = options.pool ?? process.env.UV_THREADPOOL_SIZE ?? String(availableParallelism());
if (process.env.UV_THREADPOOL_SIZE !== wantedPool) {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, UV_THREADPOOL_SIZE: wantedPool },
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  main().catch((e) => {
    console.error(`bench: error: ${e?.stack ?? e}`);
    process.exit(1);
  });
}

async function main() {
  const log = (line) => console.error(line);
  let FakeIAdvize;
  let runEngineBench;
  let runHttpBench;
  let runFloodBench;
  let report;
  let measure;
  try {
    ({ FakeIAdvize } = await import('nestjs-iadvize-auth/testing'));
    ({ runEngineBench } = await import('./engine.bench.mjs'));
    ({ runHttpBench } = await import('./http.bench.mjs'));
    ({ runFloodBench } = await import('./flood.bench.mjs'));
    report = await import('./report.format.mjs');
    measure = await import('./measure.util.mjs');
  } catch (e) {
    if (e?.code === 'ERR_MODULE_NOT_FOUND' && /nestjs-iadvize-auth/.test(String(e.message))) {
      fail('the package is not built: run `npm run build` first (or `npm run bench`, which builds)');
    }
    throw e;
  }
  const quick = options.quick;
  const plan = quick
    ? {
        engine: { rounds: 2, durationMs: 1000, warmupMs: 400, retries: 0 },
        flood: { rounds: 1, durationMs: 600, warmupMs: 200 },
        http: { rounds: 1, seconds: 2, warmupSeconds: 1, soakSeconds: 6, trendWindowSeconds: 2, retries: 0 },
      }
    : {
        engine: { rounds: 4, durationMs: 3000, warmupMs: 1500, retries: 2 },
        flood: { rounds: 3, durationMs: 3000, warmupMs: 1000 },
        http: { rounds: 3, seconds: 8, warmupSeconds: 3, soakSeconds: 60, trendWindowSeconds: 10, retries: 2 },
      };
  const startedAt = new Date();
  const machine = measure.machineInfo();
  log(`bench: ${quick ? 'quick' : 'full'} run, ${machine.cores} cores, Node ${machine.node}, OpenSSL ${machine.openssl}, UV_THREADPOOL_SIZE=${machine.uvThreadpoolSize}, RSA-${options.keySize}`);

  const generate = promisify(generateKeyPair);
  const { privateKey, publicKey } = await generate('rsa', { modulusLength: options.keySize });
  const brand = {
    privateKey,
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
  const iadvize = await FakeIAdvize.create({ modulusLength: options.keySize });

  let engine;
  if (options.engine) {
    log('bench: in-process (raw RSA, engine, reference pipelines)');
    engine = await runEngineBench({ brand, iadvize, concurrency: 64, ...plan.engine, log });
  }
  let flood;
  if (options.flood) {
    log('bench: thread-pool flood (token latency while scrypt, zlib and fs keep libuv\'s pool busy)');
    flood = await runFloodBench({ brand, iadvize, ratePerSecond: 200, ...plan.flood, log });
  }
  let http;
  if (options.http) {
    log('bench: HTTP (bare node:http, Nest + Fastify, Nest + Express)');
    http = await runHttpBench({ brand, iadvize, connections: 50, soakTarget: options.soakTarget, ...plan.http, log });
  }
  const ratios = report.computeRatios(engine, http, flood);
  const targets = report.evaluateTargets(engine, http, ratios, flood);
  const result = {
    benchmark: 'nestjs-iadvize-auth',
    schemaVersion: 1,
    mode: quick ? 'quick' : 'full',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine,
    keySize: options.keySize,
    engine,
    flood,
    http,
    ratios,
    targets,
    targetsPassed: targets.filter((t) => t.pass).length,
    targetsTotal: targets.length,
  };
  const json = JSON.stringify(result, (_key, value) => (typeof value === 'number' && !Number.isInteger(value) ? measure.round(value, 4) : value), 2);
  try {
    const dir = fileURLToPath(new URL('./results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    writeFileSync(new URL(`./results/bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`, import.meta.url), json);
    writeFileSync(new URL('./results/latest.json', import.meta.url), json);
    log('bench: JSON written to bench/results/latest.json');
  } catch (e) {
    log(`bench: could not write bench/results/ (${e?.code ?? e}); the result is only printed`);
  }
  if (options.json) process.stdout.write(`${json}\n`);
  else process.stdout.write(`${report.formatReport(result)}\n`);
}
