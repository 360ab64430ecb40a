/**
 * What authenticating a shared entry adds to a store hit (part of
 * `npm run bench:fleet`): the Redis store seals every value it writes
 * (`StoreKeys.seal`: HMAC-SHA-256 over the key name, the signing key, the
 * context and the payload) and checks it on every read (`StoreKeys.open`).
 *
 * Against the bench's real redis-server, through one ioredis client, one
 * `GET` at a time (a hit is one round trip): the sealed value of a real token
 * followed by `open`, versus the same token stored as plain JSON followed by
 * `JSON.parse` and the shape checks the store did before sealing. The two
 * variants run in alternating batches (ABBA) so that drift and other
 * processes hit both alike; the figure, `authOverheadOnSharedHit`, is the
 * median over the pairs of (sealed − plain) / plain: a ratio within the run,
 * never an absolute time (the ratio of the totals is reported too). The
 * in-process cost of `open` alone is measured the same way.
 *
 * Imports the built package (`dist/`): run `npm run build` first.
 */
import 'reflect-metadata';
import { generateKeyPair, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { IAdvizeAuthModule, TokenService, thumbprintOf } from 'nestjs-iadvize-auth';
import { BENCH_IDENTITY, median, round } from './measure.util.mjs';

/**
 * Most authentication may add to a store hit as a visitor gets it (a page view
 * served from the shared store, the headline's p50), in percent (the issue's
 * goal). Against a bare loopback GET (15–35 µs) the same few µs are a large
 * share, so that figure is reported for information, without a goal.
 */
export const AUTH_OVERHEAD_GOAL_PERCENT = 2;

/**
 * Hits per variant, per batch (small batches: a stall of the shared machine
 * spoils one pair, which the median drops) and in-process calls per variant.
 */
const PLAN = {
  full: { hits: 20_000, batch: 50, inProcess: 50_000 },
  quick: { hits: 6_000, batch: 50, inProcess: 20_000 },
};

/** What the store did with a value before sealing (0.1.0's `parseSharedEntry`): JSON.parse and shape checks. */
function parsePlain(value) {
  if (value === null || value === undefined) return undefined;
  try {
    const e = JSON.parse(value);
    if (typeof e?.token?.token !== 'string' || typeof e.token.expiresAt !== 'number' || typeof e.mintedAt !== 'number' || typeof e.kid !== 'string') return undefined;
    return e;
  } catch {
    return undefined;
  }
}

/** A real token of the library (RS256 JWT in an RSA-OAEP-256/A256GCM JWE) and its signing key's thumbprint. */
async function mintToken({ issuer, iadvizePublicKeyPem, tokenTtlSeconds }) {
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
  const app = await NestFactory.createApplicationContext(
    IAdvizeAuthModule.forRoot({
      issuer,
      signingKey: { pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
      iadvizePublicKey: iadvizePublicKeyPem,
      tokenTtlSeconds,
      controller: false,
    }),
    { logger: false },
  );
  try {
    const token = await app.get(TokenService).createToken(BENCH_IDENTITY);
    return { token, kid: await thumbprintOf(publicKey) };
  } finally {
    await app.close();
  }
}

/**
 * Times `pairs` pairs of batches, `run('a')` and `run('b')` (each one batch),
 * alternating which goes first. Returns the total ms of each variant and the
 * per-pair ratios b / a.
 */
async function interleave(pairs, run) {
  const a = [];
  const b = [];
  for (let i = 0; i < pairs; i++) {
    const order = i % 2 === 0 ? ['a', 'b'] : ['b', 'a'];
    for (const which of order) {
      const t0 = performance.now();
      await run(which);
      (which === 'a' ? a : b).push(performance.now() - t0);
    }
  }
  const sum = (xs) => xs.reduce((s, x) => s + x, 0);
  return { aMs: sum(a), bMs: sum(b), pairRatios: a.map((x, i) => b[i] / x) };
}

/**
 * Measures the cost of authentication on a shared store hit.
 *
 * @param {object} options
 * @param {string} options.redisUrl the bench's redis-server
 * @param {string} options.issuer issuer of the token and of the store's context
 * @param {string} options.iadvizePublicKeyPem iAdvize's (FakeIAdvize's) public key
 * @param {boolean} options.quick fewer hits
 * @param {(...args: unknown[]) => void} options.log progress (stderr)
 */
export async function measureSharedHitAuth({ redisUrl, issuer, iadvizePublicKeyPem, quick, log }) {
  const plan = quick ? PLAN.quick : PLAN.full;
  const tokenTtlSeconds = 300;
  // StoreKeys is internal: imported from the built file, as the store uses it.
  const { StoreKeys } = await import('../dist/redis/shared-entry.js');
  const { token, kid } = await mintToken({ issuer, iadvizePublicKeyPem, tokenTtlSeconds });
  const keys = new StoreKeys(randomBytes(32), `bench-hit-${Date.now()}:`, { issuer, iadvizeKeyThumbprint: kid, tokenTtlSeconds });
  const base = keys.identityBase(BENCH_IDENTITY, kid);
  const sealedKey = keys.tokenKey(base);
  const plainKey = `${sealedKey}:plain`;
  // An entry as the store writes it (minted now; the token expires tokenTtlSeconds later).
  const entry = { token, mintedAt: (token.expiresAt - tokenTtlSeconds) * 1000, kid };
  const sealed = keys.seal(sealedKey, entry);
  const plain = JSON.stringify(entry);
  const opened = keys.open(sealedKey, kid, sealed);
  if (typeof opened !== 'object' || opened.token.token !== token.token) throw new Error(`the sealed entry does not open: ${String(opened)}`);
  if (parsePlain(plain)?.token.token !== token.token) throw new Error('the plain entry does not parse');

  const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  let sink = 0;
  try {
    await client.set(sealedKey, sealed);
    await client.set(plainKey, plain);
    if ((await client.get(sealedKey)) !== sealed || (await client.get(plainKey)) !== plain) throw new Error('redis-server did not return the values written');
    const hitBatch = async (which) => {
      if (which === 'a') {
        for (let i = 0; i < plan.batch; i++) if (parsePlain(await client.get(plainKey))) sink++;
      } else {
        for (let i = 0; i < plan.batch; i++) if (typeof keys.open(sealedKey, kid, await client.get(sealedKey)) === 'object') sink++;
      }
    };
    log(`shared hit: ${plan.hits} GET + open vs ${plan.hits} GET + JSON.parse, alternating batches of ${plan.batch}`);
    await interleave(2, hitBatch); // warm-up: JIT, connection
    const hits = await interleave(plan.hits / plan.batch, hitBatch);

    // In process: open alone versus JSON.parse alone (no round trip).
    const inBatch = plan.inProcess / 20;
    const parseBatch = async (which) => {
      if (which === 'a') {
        for (let i = 0; i < inBatch; i++) if (parsePlain(plain)) sink++;
      } else {
        for (let i = 0; i < inBatch; i++) if (typeof keys.open(sealedKey, kid, sealed) === 'object') sink++;
      }
    };
    await interleave(2, parseBatch);
    const local = await interleave(20, parseBatch);
    if (sink === 0) throw new Error('nothing was opened');

    const plainHitUs = (hits.aMs * 1000) / plan.hits;
    const sealedHitUs = (hits.bMs * 1000) / plan.hits;
    const plainParseUs = (local.aMs * 1000) / plan.inProcess;
    const openUs = (local.bMs * 1000) / plan.inProcess;
    const percent = (median(hits.pairRatios) - 1) * 100;
    return {
      method: 'one GET at a time through ioredis on the bench redis-server, then StoreKeys.open (sealed) or JSON.parse + shape checks (plain, as before sealing); alternating batches',
      hitsPerVariant: plan.hits,
      batch: plan.batch,
      tokenBytes: token.token.length,
      sealedValueBytes: Buffer.byteLength(sealed),
      plainValueBytes: Buffer.byteLength(plain),
      plainHitUs: round(plainHitUs, 2),
      sealedHitUs: round(sealedHitUs, 2),
      pairs: hits.pairRatios.length,
      // Median over the interleaved pairs of batches of (sealed - plain) / plain: the headline.
      authOverheadOnSharedHitPercent: round(percent, 2),
      // The same from the totals of every batch (more sensitive to a stall of the machine).
      authOverheadOfTotalsPercent: round(((hits.bMs - hits.aMs) / hits.aMs) * 100, 2),
      openUs: round(openUs, 2),
      plainParseUs: round(plainParseUs, 2),
      // The in-process difference over a plain hit: the same figure without the round trip's noise.
      inProcessExtraShareOfHitPercent: round(((openUs - plainParseUs) / plainHitUs) * 100, 2),
    };
  } finally {
    await client.del(sealedKey, plainKey).catch(() => undefined);
    client.disconnect();
  }
}
