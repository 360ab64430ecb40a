/**
 * The shared token store on a REAL redis-server (started on a free loopback
 * port): two Nest apps in this process play two replicas of a fleet sharing
 * one Redis, on Express and on Fastify. Signatures are counted by the key
 * provider itself. Under CI a missing redis-server fails; locally it skips.
 */
import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import request from 'supertest';
import { IAdvizeHealthService, TokenService, type IAdvizeAuthOptions } from '../../lib/index.js';
import { provideIAdvizePrometheusMetrics } from '../../lib/integrations/prometheus.js';
import { RedisTokenStore, type RedisTokenStoreOptions } from '../../lib/redis/index.js';
import type { FakeIAdvize, FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestApp, authTestBrandKey, authTestModuleBuilder, authTestSetup } from '../support/auth-module.js';
import { rsaKeyPair, type TestKeyPair } from '../support/keys.js';
import { PLATFORMS, type PlatformFactory } from '../support/platforms.js';
import { describeWithRedis, RedisServer } from '../support/redis-server.js';
import { CountingSigner } from '../support/redis-fleet.js';
import { HeaderUserGuard } from '../support/test-guards.js';

const ISSUER = 'https://brand.example';
const SECRET = 'a-test-secret-of-at-least-thirty-two-bytes!';

interface Replica {
  app: INestApplication;
  signer: CountingSigner;
  registry: Registry;
}

/** One clock for every replica (their clocks agree), moved by the tests. */
const clock = { now: Date.now() };

/** Compares tokens without ever printing one (the suite's output check fails on tokens). */
function same(a: unknown, b: unknown): boolean {
  return typeof a === 'string' && a === b;
}

describeWithRedis('RedisTokenStore on a real redis-server', () => {

  let redis: RedisServer;
  let setup: FakeIAdvizeSetup;
  let brand: TestKeyPair;
  let otherBrand: TestKeyPair;
  let fake: FakeIAdvize;
  let admin: Redis;
  const replicas: Replica[] = [];
  let prefixCounter = 0;

  beforeAll(async () => {
    [redis, setup, otherBrand] = await Promise.all([RedisServer.start(), authTestSetup(ISSUER), rsaKeyPair('other')]);
    brand = authTestBrandKey(setup);
    fake = setup.iadvize;
    admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    admin.on('error', () => undefined);
    await admin.connect();
  });

  afterAll(async () => {
    admin?.disconnect();
    await redis?.stop();
  });

  beforeEach(() => {
    clock.now = Date.now();
  });

  afterEach(async () => {
    for (const r of replicas.splice(0)) await r.app.close();
  });

  /** A unique key prefix per test, so tests share no entries or budget. */
  const newPrefix = () => `t${++prefixCounter}-${Date.now()}:`;

  async function startReplica(platform: PlatformFactory, store: Partial<RedisTokenStoreOptions>, pem = brand.privatePem, signingKey?: IAdvizeAuthOptions['signingKey']): Promise<Replica> {
    const signer = new CountingSigner(pem);
    const registry = new Registry();
    const { app } = await authTestApp(setup, platform, {
      options: {
        signingKey: signingKey ?? signer,
        selfCheck: false,
        clock: () => clock.now,
        // Generous command deadline: a busy test machine must not look like a Redis outage (which fails open).
        tokenStore: new RedisTokenStore({ url: redis.url, secret: SECRET, commandTimeoutMs: 3000, ...store }),
        extraProviders: [HeaderUserGuard, provideIAdvizePrometheusMetrics({ registry })],
      },
      controller: { guards: [HeaderUserGuard] },
    });
    const replica = { app, signer, registry };
    replicas.push(replica);
    return replica;
  }

  const post = (r: Replica, user: string) => request(r.app.getHttpServer()).post('/iadvize/token').set('x-user', user);
  const signatures = (...rs: Replica[]) => rs.reduce((n, r) => n + r.signer.calls, 0);

  async function waitForStore(r: Replica, up: boolean): Promise<void> {
    const health = r.app.get(IAdvizeHealthService);
    for (let i = 0; i < 500; i++) {
      if ((await health.check()).tokenStore?.up === up) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`the token store never reported up=${up}`);
  }

  describe.each(PLATFORMS)('on %s', (_name, platform) => {
    it('a token minted by one replica is served by another without a signature', async () => {
      const prefix = newPrefix();
      const a = await startReplica(platform, { keyPrefix: prefix });
      const b = await startReplica(platform, { keyPrefix: prefix });
      const first = await post(a, 'alice').expect(200);
      expect(signatures(a, b)).toBe(1);
      const second = await post(b, 'alice').expect(200);
      expect(same(second.body.token, first.body.token)).toBe(true);
      expect(signatures(a, b)).toBe(1);
      // The token opens as a valid iAdvize token for that user.
      const opened = await fake.open(second.body.token as string, brand.publicPem, { issuer: ISSUER });
      expect(opened.userId).toBe('alice');
      // Another user costs its own signature.
      await post(b, 'bob').expect(200);
      expect(signatures(a, b)).toBe(2);
      const metrics = await b.registry.metrics();
      expect(metrics).toMatch(/iadvize_token_store_hits_total\{source="shared",stale="false"\} 1/);
    });

    it('concurrent misses for one identity on two replicas cost one signature', async () => {
      const prefix = newPrefix();
      const a = await startReplica(platform, { keyPrefix: prefix });
      const b = await startReplica(platform, { keyPrefix: prefix });
      a.signer.hold();
      b.signer.hold();
      const pending = Array.from({ length: 10 }, (_, i) => post(i % 2 ? a : b, 'carol').then((r) => r));
      // Let every request reach the store, then let the one signature through.
      while (signatures(a, b) === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      await new Promise((resolve) => setTimeout(resolve, 200));
      a.signer.release();
      b.signer.release();
      const replies = await Promise.all(pending);
      for (const r of replies) expect(r.status).toBe(200);
      expect(new Set(replies.map((r) => r.body.token as string)).size).toBe(1);
      expect(signatures(a, b)).toBe(1);
    });

    it('the fleet budget caps signatures: cached tokens are served past the reuse window, others get 503 + Retry-After', async () => {
      const prefix = newPrefix();
      // One signature per 100 s across the fleet, two at once.
      const budget = { signaturesPerSecond: 0.01, burst: 2, maxWaitMs: 0 };
      const a = await startReplica(platform, { keyPrefix: prefix, budget });
      const b = await startReplica(platform, { keyPrefix: prefix, budget });
      const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
      const replies = [];
      for (const [i, user] of users.entries()) replies.push(await post(i % 2 ? a : b, user));
      expect(signatures(a, b)).toBe(2);
      const ok = replies.filter((r) => r.status === 200);
      const refused = replies.filter((r) => r.status === 503);
      expect(ok.length).toBe(2);
      expect(refused.length).toBe(4);
      for (const r of refused) {
        expect(r.body.code).toBe('IADVIZE_SIGNING_UNAVAILABLE');
        const retryAfter = Number(r.headers['retry-after']);
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(5);
      }
      // Past the reuse window (30 s of a 60 s token) u1's token still has 29 s left (≥ 12 s): served, no signature.
      clock.now += 31_000;
      const stale = await post(a, 'u1').expect(200);
      expect(same(stale.body.token, ok[0].body.token)).toBe(true);
      expect(signatures(a, b)).toBe(2);
      // Past "enough validity" (under 12 s left) it is not served any more: 503.
      clock.now += 20_000;
      const expired = await post(a, 'u1').expect(503);
      expect(expired.body.code).toBe('IADVIZE_SIGNING_UNAVAILABLE');
      expect(signatures(a, b)).toBe(2);
      expect(await a.registry.metrics()).toMatch(/iadvize_signing_budget_refusals_total\{scope="fleet",served="cached"\} 1/);
    });

    it('a replica signing with another key never serves the other key\'s token (keys carry the signing-key thumbprint)', async () => {
      const prefix = newPrefix();
      const a = await startReplica(platform, { keyPrefix: prefix });
      const b = await startReplica(platform, { keyPrefix: prefix }, otherBrand.privatePem);
      expect(a.app.get(TokenService).signingKeyThumbprint).not.toBe(b.app.get(TokenService).signingKeyThumbprint);
      const first = await post(a, 'dave').expect(200);
      const second = await post(b, 'dave').expect(200);
      expect(same(second.body.token, first.body.token)).toBe(false);
      expect(signatures(a, b)).toBe(2);
      await fake.open(second.body.token as string, otherBrand.publicPem, { issuer: ISSUER });
    });

    it('after a scheduled key switch no replica serves a token signed with the old key, even within the reuse window', async () => {
      const prefix = newPrefix();
      const from = new Date(clock.now + 10_000);
      const schedule = { schedule: [{ key: { pem: brand.privatePem } }, { key: { pem: otherBrand.privatePem }, from }] };
      const a = await startReplica(platform, { keyPrefix: prefix }, brand.privatePem, schedule);
      const b = await startReplica(platform, { keyPrefix: prefix }, brand.privatePem, schedule);
      const before = await post(a, 'judy').expect(200);
      expect(same((await post(b, 'judy').expect(200)).body.token, before.body.token)).toBe(true);
      await fake.open(before.body.token as string, brand.publicPem, { issuer: ISSUER, currentDate: new Date(clock.now) });
      // 11 s later: inside the 30 s reuse window, but past the switch.
      clock.now += 11_000;
      const after = await post(b, 'judy').expect(200);
      expect(same(after.body.token, before.body.token)).toBe(false);
      await fake.open(after.body.token as string, otherBrand.publicPem, { issuer: ISSUER, currentDate: new Date(clock.now) });
      // The other replica gets the new-key token from Redis, never its own old-key copy.
      const shared = await post(a, 'judy').expect(200);
      expect(same(shared.body.token, after.body.token)).toBe(true);
    });

    it('Redis keys and values carry no user id or visitor data', async () => {
      const prefix = newPrefix();
      const a = await startReplica(platform, { keyPrefix: prefix, budget: { signaturesPerSecond: 100 } });
      await post(a, 'erin-4242').expect(200);
      await post(a, 'erin-4242').expect(200);
      const keys = await admin.keys(`${prefix}*`);
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) {
        expect(key).not.toContain('erin');
        expect(key).not.toContain('4242');
        // Identity keys: <prefix>{HMAC}:t|l; this app's own keys: <prefix>{app tag}:b (budget) or :h:<replica> (health).
        expect(key.startsWith(prefix)).toBe(true);
        expect(key.slice(prefix.length)).toMatch(/^(\{[A-Za-z0-9_-]{43}\}:[tl]|\{[A-Za-z0-9_-]{22}\}:(b|h:[A-Za-z0-9_-]+))$/);
      }
      const value = await admin.get(keys.find((k) => k.endsWith(':t')) as string);
      expect(value).not.toContain('erin');
      expect(value).not.toContain('4242');
    });

    it('Redis down: fail open serves and signs locally, fail closed answers 503, health is degraded; all recover when Redis is back', async () => {
      const prefix = newPrefix();
      const open = await startReplica(platform, { keyPrefix: prefix, expectedReplicas: 2, budget: { signaturesPerSecond: 100 } });
      const other = await startReplica(platform, { keyPrefix: prefix });
      const closed = await startReplica(platform, { keyPrefix: prefix, failurePolicy: 'closed' });
      const cached = await post(open, 'frank').expect(200);
      expect((await open.app.get(IAdvizeHealthService).check()).degraded).toBe(false);

      await redis.stop();
      try {
        // Default policy (open): the in-process cache still serves, and new identities are signed locally.
        const again = await post(open, 'frank').expect(200);
        expect(same(again.body.token, cached.body.token)).toBe(true);
        const before = signatures(open);
        await post(open, 'grace').expect(200);
        expect(signatures(open)).toBe(before + 1);
        const health = await open.app.get(IAdvizeHealthService).check();
        expect(health.degraded).toBe(true);
        expect(health.tokenStore).toMatchObject({ kind: 'redis', up: false, failurePolicy: 'open' });
        expect(health.healthy).toBe(true);
        // failurePolicy "closed": no signature without the fleet.
        const refused = await post(closed, 'heidi').expect(503);
        expect(refused.body.code).toBe('IADVIZE_SIGNING_UNAVAILABLE');
        expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(signatures(closed)).toBe(0);
        expect(await open.registry.metrics()).toMatch(/iadvize_token_store_up\{store="redis"\} 0/);
      } finally {
        await redis.restart();
      }
      // Every replica reconnects by itself.
      await Promise.all([open, other, closed].map((r) => waitForStore(r, true)));
      expect((await open.app.get(IAdvizeHealthService).check()).degraded).toBe(false);
      const before = signatures(other);
      const fresh = await post(closed, 'ivan').expect(200);
      const shared = await post(other, 'ivan').expect(200);
      expect(same(shared.body.token, fresh.body.token)).toBe(true);
      expect(signatures(other)).toBe(before);
      expect(await open.registry.metrics()).toMatch(/iadvize_token_store_up\{store="redis"\} 1/);
    });
  });

  it('rejects bad store options at startup, naming the option without echoing values', async () => {
    const signer = new CountingSigner(brand.privatePem);
    const bad = authTestModuleBuilder(setup, {
      options: {
        signingKey: signer,
        tokenTtlSeconds: 60,
        tokenStore: new RedisTokenStore({ url: 'redis://:hunter2-password@127.0.0.1:1', secret: 'short-secret-value', reuseSeconds: 31 }),
      },
      controller: false,
    }).builder.compile();
    const error = await bad.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/tokenStore: secret: must be at least 32 bytes/);
    expect(error?.message).toMatch(/tokenStore: reuseSeconds: must be at most 30/);
    expect(error?.message).not.toContain('hunter2');
    expect(error?.message).not.toContain('short-secret-value');
  });
});
