/**
 * The shared token store believes nothing it reads back from Redis: a REAL
 * redis-server (started on a free loopback port) written to by a hostile
 * "neighbour" (an admin client), on Express and on Fastify. Every finding of
 * the Redis review has its case here: values copied between identities, junk
 * in every key the store writes, a rolling deploy that changes what a token
 * means, a Redis that reads but refuses writes, two apps on one Redis,
 * coalescing with a gated holder, and 503s that do not flood the log.
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { IAdvizeHealthService, TokenService } from '../../lib/index.js';
import { RedisTokenStore } from '../../lib/redis/index.js';
import type { FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestBrandKey, authTestModule, authTestSetup } from '../support/auth-module.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { PLATFORMS } from '../support/platforms.js';
import { Fleet } from '../support/redis-fleet.js';
import { describeWithRedis, freePort, RedisServer } from '../support/redis-server.js';

const ISSUER = 'https://brand.example';
const SECRET = 'a-test-secret-of-at-least-thirty-two-bytes!';
const OTHER_SECRET = 'another-apps-secret-of-at-least-32-bytes!!';

describeWithRedis('RedisTokenStore against a hostile Redis', () => {

  let redis: RedisServer;
  let setup: FakeIAdvizeSetup;
  /** Another fake iAdvize (another iAdvize public key), same issuer. */
  let rotated: FakeIAdvizeSetup;
  let admin: Redis;
  let fleet: Fleet;
  let prefixCounter = 0;
  const newPrefix = () => `h${++prefixCounter}-${Date.now()}:`;

  beforeAll(async () => {
    [redis, setup, rotated] = await Promise.all([RedisServer.start(), authTestSetup(ISSUER), authTestSetup(ISSUER)]);
    admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    admin.on('error', () => undefined);
    await admin.connect();
    fleet = new Fleet(setup, () => redis.url, SECRET);
  });

  afterAll(async () => {
    admin?.disconnect();
    await redis?.stop();
  });

  afterEach(async () => {
    await fleet.closeAll();
  });

  /** The user a token opens to, with the fleet's brand key, as iAdvize would open it (throws if it would not). */
  const userOf = async (token: unknown, s: FakeIAdvizeSetup = setup) => (await s.iadvize.open(token as string, authTestBrandKey(setup).publicPem, { issuer: ISSUER })).userId;

  /** The token keys (`…:t`) under `prefix` that appeared while `run` ran. */
  async function newTokenKeys(prefix: string, run: () => Promise<unknown>): Promise<string[]> {
    const before = new Set(await admin.keys(`${prefix}*:t`));
    await run();
    return (await admin.keys(`${prefix}*:t`)).filter((k) => !before.has(k));
  }

  /** The budget key under `prefix` (the one key that is neither a token, a lock nor a health probe). */
  async function budgetKeyOf(prefix: string): Promise<string> {
    const keys = (await admin.keys(`${prefix}*`)).filter((k) => !/:[tl]$/.test(k) && !/:h:/.test(k));
    expect(keys).toHaveLength(1);
    return keys[0] as string;
  }

  describe.each(PLATFORMS)('on %s', (_name, platform) => {
    it("a value copied from Alice's key to Mallory's is never served: Mallory gets a token that opens to Mallory", async () => {
      const prefix = newPrefix();
      const a = await fleet.start(platform, { keyPrefix: prefix });
      const [aliceKey] = await newTokenKeys(prefix, () => fleet.post(a, 'alice').expect(200));
      const [malloryKey] = await newTokenKeys(prefix, () => fleet.post(a, 'mallory').expect(200));
      expect(aliceKey && malloryKey).toBeTruthy();
      // The neighbour copies Alice's entry over Mallory's, keeping a long TTL.
      await admin.set(malloryKey as string, (await admin.get(aliceKey as string)) as string, 'PX', 60_000);
      // A replica with nothing in memory reads Mallory's key.
      const b = await fleet.start(platform, { keyPrefix: prefix });
      const reply = await fleet.post(b, 'mallory').expect(200);
      expect(await userOf(reply.body.token)).toBe('mallory');
      expect(fleet.signatures(b)).toBe(1);
      expect(b.events['store.rejected']).toEqual([{ store: 'redis', reason: 'unauthenticated' }]);
      expect(await b.registry.metrics()).toMatch(/iadvize_token_store_rejected_total\{reason="unauthenticated"\} 1/);
    });

    it('a value written by someone without the secret is never served, whatever its shape', async () => {
      const prefix = newPrefix();
      const a = await fleet.start(platform, { keyPrefix: prefix });
      const [key] = await newTokenKeys(prefix, () => fleet.post(a, 'mallory').expect(200));
      const kid = a.app.get(TokenService).signingKeyThumbprint;
      const forged = [
        // The entry format this library wrote before values were sealed.
        JSON.stringify({ token: { token: 'attacker <script>', expiresAt: 99_999_999_999 }, mintedAt: Date.now(), kid }),
        // A sealed-looking value with a made-up MAC.
        `2.${'A'.repeat(43)}.${JSON.stringify({ v: 'a.b.c.d.e', e: Math.floor(Date.now() / 1000) + 60, m: Date.now() })}`,
        'garbage',
        '',
        'x'.repeat(64 * 1024),
      ];
      for (const value of forged) {
        await admin.set(key as string, value, 'PX', 60_000);
        const b = await fleet.start(platform, { keyPrefix: prefix });
        const reply = await fleet.post(b, 'mallory').expect(200);
        expect(reply.text).not.toContain('attacker');
        expect(await userOf(reply.body.token)).toBe('mallory');
        expect(fleet.signatures(b)).toBe(1);
        expect(b.events['store.rejected']?.length).toBe(1);
      }
    });

    it('a rolling deploy that changes the iAdvize key, the issuer or the token lifetime never serves the old replicas\' tokens', async () => {
      const prefix = newPrefix();
      const old = await fleet.start(platform, { keyPrefix: prefix });
      const first = await fleet.post(old, 'walter').expect(200);
      // New iAdvize public key: the new replica's token opens with the new iAdvize key (and not the old one's).
      const newKey = await fleet.start(platform, { keyPrefix: prefix }, { setup: rotated });
      const second = await fleet.post(newKey, 'walter').expect(200);
      expect(second.body.token === first.body.token).toBe(false); // never print a token (the suite's output check)
      expect(await userOf(second.body.token, rotated)).toBe('walter');
      // New issuer.
      const newIssuer = await fleet.start(platform, { keyPrefix: prefix }, { options: { issuer: 'https://other-brand.example' } });
      const third = await fleet.post(newIssuer, 'walter').expect(200);
      const opened = await setup.iadvize.open(third.body.token as string, authTestBrandKey(setup).publicPem, { issuer: 'https://other-brand.example' });
      expect(opened.userId).toBe('walter');
      // New lifetime.
      const longer = await fleet.start(platform, { keyPrefix: prefix }, { options: { tokenTtlSeconds: 120 } });
      const fourth = await fleet.post(longer, 'walter').expect(200);
      expect(fourth.body.expiresAt - Math.floor(Date.now() / 1000)).toBeGreaterThan(100);
      expect(fleet.signatures(old, newKey, newIssuer, longer)).toBe(4);
      // Old and new replicas live side by side without raising alarms (each context has its own keys).
      for (const r of [old, newKey, newIssuer, longer]) expect(r.events['store.rejected']).toBeUndefined();
    });

    it('junk in the budget key neither hangs a request nor lifts the limit: the state is repaired to "spent"', async () => {
      const junk: [string, (key: string) => Promise<unknown>][] = [
        ['inf', (k) => admin.set(k, 'inf')],
        ['-inf', (k) => admin.set(k, '-inf')],
        ['nan', (k) => admin.set(k, 'nan')],
        ['1e309', (k) => admin.set(k, '1e309')],
        ['garbage', (k) => admin.set(k, 'garbage')],
        ['far future', (k) => admin.set(k, String(Date.now() + 10 ** 12))],
        ['a hash', async (k) => (await admin.del(k), admin.hset(k, 'x', '1'))],
      ];
      for (const [what, write] of junk) {
        const prefix = newPrefix();
        // One signature per 100 s, 2 at once, requests may wait 300 ms for budget.
        const a = await fleet.start(platform, { keyPrefix: prefix, budget: { signaturesPerSecond: 0.01, burst: 2, maxWaitMs: 300 } });
        await fleet.post(a, 'first').expect(200);
        await write(await budgetKeyOf(prefix));
        const replies = await Promise.all(['u1', 'u2', 'u3', 'u4'].map((u) => fleet.post(a, u)));
        const statuses = replies.map((r) => r.status);
        // Refused with a bounded Retry-After, never a 500, never past the burst.
        expect({ what, statuses }).toEqual({ what, statuses: [503, 503, 503, 503] });
        for (const r of replies) expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(5);
        expect(fleet.signatures(a)).toBe(1);
        expect(a.events['store.rejected']?.some((e) => e.reason === 'budget-state')).toBe(true);
        await fleet.closeAll();
      }
    });

    it('a lock key held forever by someone else costs a bounded wait, then the replica signs itself', async () => {
      const prefix = newPrefix();
      const a = await fleet.start(platform, { keyPrefix: prefix, commandTimeoutMs: 500 }, { options: { signingTimeoutMs: 1000 } });
      const [key] = await newTokenKeys(prefix, () => fleet.post(a, 'oscar').expect(200));
      const lockKey = (key as string).replace(/:t$/, ':l');
      await admin.del(key as string);
      await admin.set(lockKey, 'not-a-replica'); // no TTL
      const b = await fleet.start(platform, { keyPrefix: prefix, commandTimeoutMs: 500 }, { options: { signingTimeoutMs: 1000 } });
      await fleet.post(b, 'oscar').expect(200);
      expect(b.events['store.coalesced']).toEqual([{ outcome: 'timeout', waitedMs: expect.any(Number) }]);
    });

    it('a value of another type under a token or lock key is removed, not taken for an outage', async () => {
      const prefix = newPrefix();
      const a = await fleet.start(platform, { keyPrefix: prefix, failurePolicy: 'closed' });
      const [key] = await newTokenKeys(prefix, () => fleet.post(a, 'trent').expect(200));
      const lockKey = (key as string).replace(/:t$/, ':l');
      await admin.del(key as string);
      await admin.hset(key as string, 'x', '1');
      await admin.hset(lockKey, 'x', '1'); // no TTL
      const b = await fleet.start(platform, { keyPrefix: prefix, failurePolicy: 'closed' });
      // Failing closed, a WRONGTYPE taken for an outage would be a 503: it is a 200, signed once, and the keys are repaired.
      const reply = await fleet.post(b, 'trent').expect(200);
      expect(await userOf(reply.body.token)).toBe('trent');
      expect(fleet.signatures(b)).toBe(1);
      expect(b.events['store.rejected']?.map((e) => e.reason)).toEqual(['malformed', 'malformed']);
      expect(b.events['store.error']).toBeUndefined();
      expect(await admin.type(key as string)).toBe('string');
      expect((await b.app.get(IAdvizeHealthService).check()).healthy).toBe(true);
      // And the next replica is served the repaired entry.
      const c = await fleet.start(platform, { keyPrefix: prefix, failurePolicy: 'closed' });
      expect((await fleet.post(c, 'trent').expect(200)).body.token === reply.body.token).toBe(true);
      expect(fleet.signatures(c)).toBe(0);
    });

    it('two apps on one Redis with the same prefix and different secrets share no budget and no tokens', async () => {
      const prefix = newPrefix();
      const small = await fleet.start(platform, { keyPrefix: prefix, budget: { signaturesPerSecond: 0.01, burst: 3, maxWaitMs: 0 } });
      const other = new Fleet(setup, () => redis.url, OTHER_SECRET);
      try {
        const big = await other.start(platform, { keyPrefix: prefix, budget: { signaturesPerSecond: 1000, burst: 100, maxWaitMs: 0 } });
        for (const u of ['a1', 'a2', 'a3']) await fleet.post(small, u).expect(200);
        await fleet.post(small, 'a4').expect(503);
        // App B's budget is its own: A spending all of its own leaves B untouched.
        for (const u of ['b1', 'b2', 'b3', 'b4', 'b5']) await other.post(big, u).expect(200);
        // And B never serves A's token for the same user.
        const reply = await other.post(big, 'a1').expect(200);
        expect(other.signatures(big)).toBe(6);
        expect(await userOf(reply.body.token)).toBe('a1');
        expect(big.events['store.rejected']).toBeUndefined();
      } finally {
        await other.closeAll();
      }
    });

    it('coalescing holds while the holder is slower than any fixed wait: the others wait for its token, one signature', async () => {
      const prefix = newPrefix();
      const a = await fleet.start(platform, { keyPrefix: prefix }, { options: { signingTimeoutMs: 10_000 } });
      const b = await fleet.start(platform, { keyPrefix: prefix }, { options: { signingTimeoutMs: 10_000 } });
      a.signer.hold();
      b.signer.hold();
      const pending = Array.from({ length: 10 }, (_, i) => fleet.post(i % 2 ? a : b, 'carol').then((r) => r));
      // The holder is gated for longer than the 3 s waiters used to give it: nobody else may sign meanwhile.
      const deadline = Date.now() + 20_000;
      while (fleet.signatures(a, b) === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      await new Promise((resolve) => setTimeout(resolve, 3500));
      expect(fleet.signatures(a, b)).toBe(1);
      a.signer.release();
      b.signer.release();
      const replies = await Promise.all(pending);
      expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
      expect(new Set(replies.map((r) => r.body.token as string)).size).toBe(1);
      expect(fleet.signatures(a, b)).toBe(1);
    });

    it('budget refusals are counted on every request but logged once per interval, with a count', async () => {
      const prefix = newPrefix();
      const a = await fleet.start(platform, { keyPrefix: prefix, budget: { signaturesPerSecond: 0.01, burst: 1, maxWaitMs: 0 } });
      await fleet.post(a, 'z0').expect(200);
      for (let i = 1; i <= 30; i++) await fleet.post(a, `z${i}`).expect(503);
      expect(a.events['budget.refused']).toHaveLength(30);
      expect(a.logger.matching('signing budget', 'error')).toHaveLength(1);
    });
  });

  describe.each(PLATFORMS)('a Redis that reads but refuses writes, on %s', (_name, platform) => {
    async function refusingWrites(how: 'read-only replica' | 'out of memory', run: () => Promise<void>): Promise<void> {
      if (how === 'read-only replica') {
        await admin.replicaof('127.0.0.1', await freePort()); // a master that is not there: reads served, writes refused
      } else {
        await admin.config('SET', 'maxmemory-policy', 'noeviction');
        await admin.config('SET', 'maxmemory', '1');
      }
      try {
        await run();
      } finally {
        if (how === 'read-only replica') await admin.replicaof('NO', 'ONE');
        else await admin.config('SET', 'maxmemory', '0');
      }
    }

    it.each(['read-only replica', 'out of memory'] as const)('%s: one log line per transition, health degraded (open) or unhealthy (closed), recovery once writes work', async (how) => {
      const prefix = newPrefix();
      const open = await fleet.start(platform, { keyPrefix: prefix });
      const closed = await fleet.start(platform, { keyPrefix: prefix, failurePolicy: 'closed' });
      const cached = await fleet.post(open, 'peggy').expect(200);
      await refusingWrites(how, async () => {
        // Reads still work: the shared token is still served, by both.
        expect((await fleet.post(closed, 'peggy').expect(200)).body.token === cached.body.token).toBe(true);
        for (let i = 0; i < 10; i++) await fleet.post(open, `ro${i}`).expect(200);
        const refused = await fleet.post(closed, 'quentin').expect(503);
        expect(refused.body.code).toBe('IADVIZE_SIGNING_UNAVAILABLE');
        const openHealth = await open.app.get(IAdvizeHealthService).check();
        expect(openHealth).toMatchObject({ healthy: true, degraded: true, tokenStore: { up: false, failurePolicy: 'open' } });
        expect(openHealth.tokenStore?.message).toMatch(how === 'read-only replica' ? /read-only replica/ : /out of memory/);
        expect(await closed.app.get(IAdvizeHealthService).check()).toMatchObject({ healthy: false, degraded: true, code: 'IADVIZE_SIGNING_UNAVAILABLE' });
      });
      // No flapping: a read that works is not a recovery.
      expect(open.events['store.recovered']).toBeUndefined();
      const lines = [open, closed].flatMap((r) => r.logger.texts('warn', 'log')).filter((t) => /Redis/.test(t));
      // One line per replica (each goes down once), whatever the number of requests.
      expect(lines.filter((t) => /refuses writes/.test(t))).toHaveLength(2);
      expect(lines.filter((t) => /takes writes again after/.test(t))).toHaveLength(0);
      // Writes work again: each replica comes back once, by itself.
      const deadline = Date.now() + 20_000;
      while ((await open.app.get(IAdvizeHealthService).check()).degraded && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect((await open.app.get(IAdvizeHealthService).check()).degraded).toBe(false);
      expect(open.events['store.recovered']).toHaveLength(1);
    });
  });

  it('the startup line names the store and its budget, never the secret or the address', async () => {
    const logger = new CapturingLogger();
    const prefix = newPrefix();
    const { moduleRef } = await authTestModule(setup, {
      options: { tokenStore: new RedisTokenStore({ url: redis.url, secret: SECRET, keyPrefix: prefix, budget: { signaturesPerSecond: 40 }, expectedReplicas: 4 }) },
      controller: false,
      moduleLogger: logger,
    });
    await moduleRef.close();
    const [line] = logger.matching('Signing with', 'log');
    expect(line).toContain(`token store: redis (reuse 30 s, signing budget 40/s + burst 4 across 4 expected replica(s), failurePolicy "open", key prefix "${prefix}")`);
    expect(line).not.toContain(SECRET);
    expect(line).not.toContain(String(redis.port));
  });

  it('a password with #, / and ? works percent-encoded, from the built package, and nothing prints it (Node warnings included)', async () => {
    const password = 'p#ss/w?rd@1';
    await admin.config('SET', 'requirepass', password);
    try {
      const script = `
        import { RedisTokenStore } from './dist/redis/index.js';
        import { IAdvizeAuthEvents } from './dist/index.js';
        const store = new RedisTokenStore({ url: process.env.TEST_REDIS_URL, secret: 'x'.repeat(32), commandTimeoutMs: 3000 })
          .open({ tokenTtlSeconds: 60, issuer: 'https://brand.example', iadvizeKeyThumbprint: 'k', signingTimeoutMs: 1000, clock: Date.now, events: new IAdvizeAuthEvents() });
        await store.connect();
        console.log(JSON.stringify(await store.status()));
        await store.close();
      `;
      const url = `redis://:${encodeURIComponent(password)}@127.0.0.1:${redis.port}`;
      const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((done, fail) =>
        execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: resolve(import.meta.dirname, '../..'), env: { ...process.env, TEST_REDIS_URL: url, NODE_OPTIONS: '' }, timeout: 60_000 }, (e, out, err) =>
          e ? fail(new Error(`child failed: ${String(err).replace(password, '<password>')}`)) : done({ stdout: out, stderr: err }),
        ),
      );
      expect(JSON.parse(stdout.trim().split('\n').at(-1) as string)).toMatchObject({ kind: 'redis', up: true });
      for (const text of [stdout, stderr]) {
        expect(text).not.toContain('p#ss');
        expect(text).not.toContain(encodeURIComponent(password));
        expect(text).not.toContain('DEP0170');
      }
    } finally {
      await admin.config('SET', 'requirepass', '');
    }
  });
});
