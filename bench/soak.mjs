#!/usr/bin/env node
/**
 * Bounded soak of the token endpoint (issue 8).
 *
 *   node bench/soak.mjs [--requests N] [--connections C] [--adapter fastify|express]
 *                       [--sample-every K] [--warmup N] [--max-rss-growth-mb M]
 *                       [--max-heap-growth-mb M] [--max-seconds S]
 *
 * Starts the endpoint in a child process on 127.0.0.1 (bench/soak-server.mjs),
 * warms it up, then sends N POST requests over C keep-alive connections with
 * autocannon. Each connection is a distinct signed-in user (its own bearer
 * session). It checks that:
 * - every response is a 200 carrying `{ token, expiresAt }` (no error, no
 *   timeout, no other status, no other body shape);
 * - every K-th response's token opens (FakeIAdvize, the iAdvize side) to the
 *   user of the connection that received it;
 * - after a forced GC, the server's heap and RSS grew less than the bounds
 *   between the end of the warm-up and the end of the run;
 * - the server's output holds no key, no token, no PEM block.
 * It stops by itself: after N requests, or after S seconds (then it fails).
 *
 * Prints one JSON summary line on stdout (progress goes to stderr) and exits
 * 0 when every check passed, 1 otherwise. Imports the built package: run
 * `npm run build` first. Defaults: 50,000 requests, 64 connections, Fastify,
 * a sample every 500 responses, RSS growth ≤ 64 MiB, heap growth ≤ 16 MiB.
 */
import { fork } from 'node:child_process';
import { generateKeyPair, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';

const USAGE = `usage: node bench/soak.mjs [options]
  --requests N            requests of the measured run (default 50000)
  --connections C         concurrent connections = distinct users (default 64)
  --adapter NAME          fastify (default) or express
  --sample-every K        open the token of every K-th response (default 500)
  --warmup N              requests before the memory baseline (default min(2000, N/10), at least 200)
  --max-rss-growth-mb M   bound on the server's RSS growth after GC (default 64)
  --max-heap-growth-mb M  bound on the server's heap growth after GC (default 16)
  --max-seconds S         give up (and fail) after S seconds (default 900)
  --help                  this text`;

const ISSUER = 'https://soak.brand.example';
const PATH = '/iadvize/token';
const MiB = 1024 * 1024;

function fail(message) {
  console.error(`soak: ${message}`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { requests: 50_000, connections: 64, adapter: 'fastify', sampleEvery: 500, warmup: undefined, maxRssGrowthMb: 64, maxHeapGrowthMb: 16, maxSeconds: 900 };
  const numeric = { '--requests': 'requests', '--connections': 'connections', '--sample-every': 'sampleEvery', '--warmup': 'warmup', '--max-rss-growth-mb': 'maxRssGrowthMb', '--max-heap-growth-mb': 'maxHeapGrowthMb', '--max-seconds': 'maxSeconds' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (arg === '--adapter') {
      o.adapter = argv[++i];
      if (o.adapter !== 'fastify' && o.adapter !== 'express') fail('--adapter must be fastify or express');
    } else if (numeric[arg]) {
      const raw = argv[++i];
      const value = Number(raw);
      if (raw === undefined || !Number.isFinite(value)) fail(`${arg} needs a number\n${USAGE}`);
      o[numeric[arg]] = value;
    } else fail(`unknown option "${arg}"\n${USAGE}`);
  }
  for (const k of ['requests', 'connections', 'sampleEvery', 'maxSeconds']) {
    if (!Number.isInteger(o[k]) || o[k] < 1) fail(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be a whole number ≥ 1`);
  }
  if (o.connections > o.requests) fail('--connections must not exceed --requests');
  o.warmup ??= Math.max(200, Math.min(2000, Math.floor(o.requests / 10)));
  return o;
}

/** Text that must never leave the server: PEM blocks, private JWK members, compact JOSE objects. */
function leaksIn(text) {
  const leaks = [];
  if (/-----BEGIN [A-Z0-9 ]*-----/.test(text)) leaks.push('pem-block');
  if (/"(?:d|p|q|dp|dq|qi)"\s*:/.test(text)) leaks.push('private-jwk-member');
  if (/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+/.test(text)) leaks.push('jose-compact-token');
  return leaks;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const failures = [];
  let testing;
  try {
    testing = await import('nestjs-iadvize-auth/testing');
  } catch {
    fail('cannot import nestjs-iadvize-auth/testing: run `npm run build` first');
  }
  const { FakeIAdvize } = testing;

  const gen = promisify(generateKeyPair);
  const [brand, iadvize] = await Promise.all([gen('rsa', { modulusLength: 2048 }), FakeIAdvize.create()]);
  const brandPublicPem = brand.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const sessions = Array.from({ length: options.connections }, (_, i) => [`s${i}_${randomBytes(18).toString('base64url')}`, `soak-user-${i}`]);

  // The server, in its own process, loopback only.
  const child = fork(fileURLToPath(new URL('./soak-server.mjs', import.meta.url)), [], {
    execArgv: ['--expose-gc'],
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let serverOutput = '';
  child.stdout.on('data', (d) => (serverOutput += d));
  child.stderr.on('data', (d) => (serverOutput += d));
  let childExited = false;
  child.on('exit', () => (childExited = true));

  const watchdog = setTimeout(() => {
    console.error(`soak: still running after ${options.maxSeconds} s: giving up`);
    child.kill('SIGKILL');
    console.log(JSON.stringify({ ok: false, failures: [`did not finish within --max-seconds ${options.maxSeconds}`] }));
    process.exit(1);
  }, options.maxSeconds * 1000);
  watchdog.unref();

  const waitFor = (type) =>
    new Promise((resolve, reject) => {
      const onMessage = (m) => {
        if (m?.type === type) {
          child.off('message', onMessage);
          child.off('exit', onExit);
          resolve(m);
        } else if (m?.type === 'error') {
          reject(new Error(`server failed: ${m.message}`));
        }
      };
      const onExit = (code) => reject(new Error(`server exited (${code}) before "${type}":\n${serverOutput}`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const memory = async (gc) => {
    const reply = waitFor('memory');
    child.send({ type: 'memory', gc });
    return reply;
  };

  const ready = waitFor('ready');
  child.send({ type: 'start', adapter: options.adapter, privatePem: brand.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), iadvizePublicPem: iadvize.publicKeyPem, issuer: ISSUER, sessions });
  const { host, port } = await ready;
  if (host !== '127.0.0.1') throw new Error(`the server must listen on loopback only, got ${host}`);
  const url = `http://127.0.0.1:${port}${PATH}`;

  /** One autocannon run; every connection is one user; samples every K-th body. */
  async function run(amount, sampleEvery) {
    let nextConnection = 0;
    let seen = 0;
    let badBodies = 0;
    const samples = [];
    const result = await autocannon({
      url,
      method: 'POST',
      connections: options.connections,
      amount,
      timeout: 10,
      setupClient(client) {
        const [secret, userId] = sessions[nextConnection++ % sessions.length];
        client.setHeaders({ authorization: `Bearer ${secret}` });
        client.on('body', (buffer) => {
          seen++;
          const text = buffer.toString('utf8');
          let body;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          const good = body && typeof body.token === 'string' && body.token.split('.').length === 5 && Number.isInteger(body.expiresAt) && Object.keys(body).length === 2;
          if (!good) badBodies++;
          if (good && sampleEvery && seen % sampleEvery === 0) samples.push({ userId, token: body.token });
        });
      },
    });
    return { result, badBodies, samples, seen };
  }

  console.error(`soak: warm-up, ${options.warmup} requests on ${options.adapter}…`);
  const warm = await run(options.warmup, 0);
  if (warm.result.errors || warm.result.timeouts || warm.result.non2xx) failures.push('the warm-up had errors');
  const baseline = await memory(true);

  let peakRss = baseline.rss;
  let sampling = true;
  const sampler = (async () => {
    while (sampling && !childExited) {
      await sleep(1000);
      if (!sampling || childExited) break;
      const m = await memory(false).catch(() => undefined);
      if (m) peakRss = Math.max(peakRss, m.rss);
    }
  })();

  console.error(`soak: ${options.requests} requests, ${options.connections} connections (one user each)…`);
  const main = await run(options.requests, options.sampleEvery);
  sampling = false;
  await sampler;
  const final = await memory(true);
  peakRss = Math.max(peakRss, final.rss);

  // Sampled tokens must open, on the iAdvize side, to the user of their own connection.
  let opened = 0;
  const sampleFailures = [];
  for (const s of main.samples) {
    try {
      const { userId } = await iadvize.open(s.token, brandPublicPem, { issuer: ISSUER });
      if (userId === s.userId) opened++;
      else sampleFailures.push(`a token for ${s.userId} opened to another user`);
    } catch (e) {
      sampleFailures.push(`a token for ${s.userId} did not open (${e?.reason ?? e?.name})`);
    }
  }

  child.send({ type: 'stop' });
  await Promise.race([new Promise((r) => child.once('exit', r)), sleep(5000).then(() => child.kill('SIGKILL'))]);

  const r = main.result;
  const expectedSamples = Math.floor(options.requests / options.sampleEvery);
  const rssGrowthMb = (final.rss - baseline.rss) / MiB;
  const heapGrowthMb = (final.heapUsed - baseline.heapUsed) / MiB;
  if (r.errors > 0) failures.push(`${r.errors} connection errors`);
  if (r.timeouts > 0) failures.push(`${r.timeouts} timeouts`);
  if (r.non2xx > 0) failures.push(`${r.non2xx} non-2xx responses`);
  if (r.requests.total < options.requests) failures.push(`only ${r.requests.total} of ${options.requests} requests completed`);
  if (main.badBodies > 0) failures.push(`${main.badBodies} responses were not { token, expiresAt }`);
  if (main.seen < options.requests) failures.push(`only ${main.seen} response bodies seen`);
  if (main.samples.length < expectedSamples) failures.push(`only ${main.samples.length} of ${expectedSamples} samples taken`);
  failures.push(...sampleFailures);
  if (rssGrowthMb > options.maxRssGrowthMb) failures.push(`RSS grew ${rssGrowthMb.toFixed(1)} MiB (bound ${options.maxRssGrowthMb})`);
  if (heapGrowthMb > options.maxHeapGrowthMb) failures.push(`heap grew ${heapGrowthMb.toFixed(1)} MiB (bound ${options.maxHeapGrowthMb})`);
  const leaks = leaksIn(serverOutput);
  if (leaks.length > 0) failures.push(`the server printed secrets: ${leaks.join(', ')}`);

  const summary = {
    ok: failures.length === 0,
    adapter: options.adapter,
    requests: options.requests,
    connections: options.connections,
    distinctUsers: new Set(sessions.map(([, u]) => u)).size,
    completed: r.requests.total,
    durationSeconds: Number(r.duration.toFixed(2)),
    requestsPerSecond: Math.round(r.requests.average),
    latencyMs: { p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max },
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    badBodies: main.badBodies,
    statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, v.count])),
    samples: { every: options.sampleEvery, taken: main.samples.length, openedToOwnUser: opened },
    memory: {
      baselineRssMb: Number((baseline.rss / MiB).toFixed(1)),
      finalRssMb: Number((final.rss / MiB).toFixed(1)),
      peakRssMb: Number((peakRss / MiB).toFixed(1)),
      rssGrowthMb: Number(rssGrowthMb.toFixed(1)),
      heapGrowthMb: Number(heapGrowthMb.toFixed(1)),
      bounds: { rssGrowthMb: options.maxRssGrowthMb, heapGrowthMb: options.maxHeapGrowthMb },
    },
    serverOutputLeaks: leaks,
    wallSeconds: Number(((Date.now() - started) / 1000).toFixed(1)),
    failures,
  };
  clearTimeout(watchdog);
  console.log(JSON.stringify(summary));
  process.exit(summary.ok ? 0 : 1);
}

main().catch((e) => {
  console.error(`soak: ${e?.stack ?? e}`);
  console.log(JSON.stringify({ ok: false, failures: [String(e?.message ?? e)] }));
  process.exit(1);
});
