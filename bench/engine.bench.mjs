/**
 * In-process part of the benchmark: raw RSA signing (the ceiling), the
 * library's token engine and the two reference pipelines, each kept
 * saturated with the same number of calls in flight, interleaved in rounds so
 * that noise from other processes hits every target alike.
 */
import { sign as cryptoSign, webcrypto } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import { IAdvizeAuthModule, TokenService } from 'nestjs-iadvize-auth';
import { createJoseReference } from './references/jose.reference.mjs';
import { createJsonwebtokenNodeJoseReference } from './references/jsonwebtoken-node-jose.reference.mjs';
import { measureCekRandomness } from './randomness.bench.mjs';
import { BENCH_IDENTITY, BENCH_ISSUER, BENCH_TTL_SECONDS, measureQuietly, median, round as roundTo, saturate } from './measure.util.mjs';

const round2 = (n) => roundTo(n, 2);

/** Names of the in-process targets, in report order. */
export const ENGINE_TARGETS = Object.freeze({
  rawSignCallback: 'raw crypto.sign (callback)',
  rawSubtleSign: 'raw WebCrypto subtle.sign',
  engine: 'engine TokenService.createToken',
  engineLibuv: 'engine, signingThreads: 0 (libuv pool)',
  jose: 'reference: jose SignJWT + CompactEncrypt',
  jsonwebtokenNodeJose: 'reference: jsonwebtoken + node-jose',
});

/**
 * A signing input of the same length as the engine's (header + claims of
 * {@link BENCH_IDENTITY}), so raw signing hashes as many bytes as a token.
 */
function representativeSigningInput() {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    'https://iadvize.com/userId': BENCH_IDENTITY.userId,
    iss: BENCH_ISSUER,
    iat: now,
    exp: now + BENCH_TTL_SECONDS,
    'https://iadvize.com/visitorData': BENCH_IDENTITY.visitorData,
  };
  const b64 = (s) => Buffer.from(s).toString('base64url');
  return Buffer.from(`${b64('{"alg":"RS256"}')}.${b64(JSON.stringify(claims))}`);
}

/**
 * Runs the in-process benchmark.
 *
 * @param {object} options
 * @param {{ privateKey: import('node:crypto').KeyObject, privatePem: string, publicPem: string }} options.brand the brand's signing key pair
 * @param {import('nestjs-iadvize-auth/testing').FakeIAdvize} options.iadvize the fake recipient (opens tokens)
 * @param {number} options.concurrency calls in flight
 * @param {number} options.rounds interleaved rounds
 * @param {number} options.durationMs duration of one target in one round
 * @param {number} options.warmupMs warm-up per target before the rounds
 * @param {number} options.retries extra attempts of a run disturbed by other processes
 * @param {(line: string) => void} options.log progress output (stderr)
 */
export async function runEngineBench({ brand, iadvize, concurrency, rounds, durationMs, warmupMs, retries, log }) {
  const app = await NestFactory.createApplicationContext(
    IAdvizeAuthModule.forRoot({ issuer: BENCH_ISSUER, signingKey: { pem: brand.privatePem }, iadvizePublicKey: iadvize.publicKeyPem, controller: false }),
    { logger: false },
  );
  // The same engine signing on libuv's thread pool: what the default's dedicated signing threads cost at saturation.
  const appLibuv = await NestFactory.createApplicationContext(
    IAdvizeAuthModule.forRoot({ issuer: BENCH_ISSUER, signingKey: { pem: brand.privatePem, signingThreads: 0 }, iadvizePublicKey: iadvize.publicKeyPem, controller: false }),
    { logger: false },
  );
  try {
    const tokens = app.get(TokenService);
    const tokensLibuv = appLibuv.get(TokenService);
    const referenceOptions = { privatePem: brand.privatePem, iadvizePublicPem: iadvize.publicKeyPem, issuer: BENCH_ISSUER, ttlSeconds: BENCH_TTL_SECONDS };
    const mintWithJose = await createJoseReference(referenceOptions);
    const mintWithJsonwebtokenNodeJose = await createJsonwebtokenNodeJoseReference(referenceOptions);

    const data = representativeSigningInput();
    const subtleKey = await webcrypto.subtle.importKey(
      'pkcs8',
      brand.privateKey.export({ type: 'pkcs8', format: 'der' }),
      { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    const signWithCallback = () =>
      new Promise((resolve, reject) => cryptoSign('sha256', data, brand.privateKey, (err, signature) => (err ? reject(err) : resolve(signature))));
    const signWithSubtle = () => webcrypto.subtle.sign('RSASSA-PKCS1-v1_5', subtleKey, data);
    const mintWithEngine = () => tokens.createToken(BENCH_IDENTITY);
    const mintWithEngineLibuv = () => tokensLibuv.createToken(BENCH_IDENTITY);

    // Honest comparison: every pipeline must produce a token iAdvize would open.
    const tokenBytes = {};
    for (const [name, mint] of [
      ['engine', async () => (await mintWithEngine()).token],
      ['engineLibuv', async () => (await mintWithEngineLibuv()).token],
      ['jose', () => mintWithJose(BENCH_IDENTITY)],
      ['jsonwebtokenNodeJose', () => mintWithJsonwebtokenNodeJose(BENCH_IDENTITY)],
    ]) {
      const token = await mint();
      const opened = await iadvize.open(token, brand.publicPem, { issuer: BENCH_ISSUER });
      if (opened.userId !== BENCH_IDENTITY.userId || opened.visitorData?.email !== BENCH_IDENTITY.visitorData.email) {
        throw new Error(`the ${name} pipeline produced a token that opens but carries the wrong identity`);
      }
      tokenBytes[name] = Buffer.byteLength(token);
    }

    const targets = [
      ['rawSignCallback', signWithCallback],
      ['rawSubtleSign', signWithSubtle],
      ['engine', mintWithEngine],
      ['engineLibuv', mintWithEngineLibuv],
      ['jose', () => mintWithJose(BENCH_IDENTITY)],
      ['jsonwebtokenNodeJose', () => mintWithJsonwebtokenNodeJose(BENCH_IDENTITY)],
    ];
    for (const [name, fn] of targets) {
      log(`  warm-up ${ENGINE_TARGETS[name]}`);
      await saturate(fn, { concurrency, durationMs: warmupMs });
    }
    const runs = Object.fromEntries(targets.map(([name]) => [name, []]));
    let repeatedRuns = 0;
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round so no target always runs first or last.
      for (let i = 0; i < targets.length; i++) {
        const [name, fn] = targets[(i + round) % targets.length];
        const { run, repeated } = await measureQuietly(() => saturate(fn, { concurrency, durationMs }), retries);
        repeatedRuns += repeated;
        runs[name].push(run);
        log(
          `  round ${round + 1}/${rounds} ${ENGINE_TARGETS[name].padEnd(44)} ${Math.round(run.rate)}/s` +
            `, other processes ${run.otherProcessesCores === null ? 'n/a' : `${round2(run.otherProcessesCores)} cores`}${repeated ? ` (${repeated} disturbed run(s) repeated)` : ''}`,
        );
      }
    }
    const summary = {};
    for (const [name, list] of Object.entries(runs)) summary[name] = summarize(list);
    // Per-token CEK/IV randomness, against this run's token cost (see randomness.bench.mjs).
    const randomness = measureCekRandomness(summary.engine.rate);
    log(`  CEK/IV randomness: fresh ${Math.round(randomness.freshNsPerToken)} ns, pooled ${Math.round(randomness.pooledNsPerToken)} ns per token; a pool would save ${randomness.savedShareOfTokenPercent.toFixed(2)} % of a token`);
    return { concurrency, rounds, durationMs, repeatedRuns, tokenBytes, ...summary, randomness };
  } finally {
    await app.close();
    await appLibuv.close();
  }
}

/** Best and median rate over the rounds; delays and latencies as medians over the rounds. */
function summarize(list) {
  return {
    rate: Math.max(...list.map((r) => r.rate)),
    rateMedian: median(list.map((r) => r.rate)),
    rates: list.map((r) => r.rate),
    latencyP50Ms: median(list.map((r) => r.latencyP50Ms)),
    latencyP99Ms: median(list.map((r) => r.latencyP99Ms)),
    eventLoopDelayP99Ms: median(list.map((r) => r.eventLoopDelayP99Ms)),
    eventLoopDelayMaxMs: Math.max(...list.map((r) => r.eventLoopDelayMaxMs)),
    cpuCores: median(list.map((r) => r.cpuCores)),
    otherProcessesCores: list[0].otherProcessesCores === null ? null : median(list.map((r) => r.otherProcessesCores)),
  };
}
