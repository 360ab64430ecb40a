/**
 * The shared token store on the Redis deployments users run, each on REAL
 * redis-server processes started here on free loopback ports
 * (test/support/redis-deployments.ts): a 3-master Redis Cluster, scripts
 * flushed mid-run (NOSCRIPT), a master behind a Sentinel, a TLS-only server
 * and an ACL user limited to the commands the store needs. Two Nest apps in
 * this process play two replicas of a fleet; signatures are counted by the
 * key provider. One platform per deployment (Express or Fastify, in turn):
 * the HTTP layer is covered on both by redis-token.store.e2e.spec.ts. Under
 * CI a missing redis-server fails; locally it skips.
 */
import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { Cluster, Redis } from 'ioredis';
import request from 'supertest';
import { IAdvizeHealthService } from '../../lib/index.js';
import { RedisTokenStore, type RedisTokenStoreOptions } from '../../lib/redis/index.js';
import type { FakeIAdvize, FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestApp, authTestBrandKey, authTestSetup } from '../support/auth-module.js';
import type { TestKeyPair } from '../support/keys.js';
import { PLATFORMS, type PlatformFactory } from '../support/platforms.js';
import { RedisDeployments } from '../support/redis-deployments.js';
import { describeWithRedis } from '../support/redis-server.js';
import { CountingSigner } from '../support/redis-fleet.js';
import { HeaderUserGuard } from '../support/test-guards.js';

const ISSUER = 'https://brand.example';
const SECRET = 'a-test-secret-of-at-least-thirty-two-bytes!';
const [[, EXPRESS], [, FASTIFY]] = PLATFORMS;

/**
 * The commands the store needs (each one, taken away, fails the ACL test
 * below): GET, SET (the lock), EVAL (publish, unlock, budget, the health
 * round trip) and, inside the scripts, SET, GET, DEL and TIME; INFO only for
 * ioredis's ready check on connect (without it ioredis warns on every
 * connection and skips the check; `enableReadyCheck: false` does without).
 */
const STORE_COMMANDS = ['+get', '+set', '+del', '+eval', '+time', '+info'];

interface Replica {
  app: INestApplication;
  signer: CountingSigner;
}

/** Compares tokens without ever printing one (the suite's output check fails on tokens). */
function same(a: unknown, b: unknown): boolean {
  return typeof a === 'string' && a === b;
}

describeWithRedis('RedisTokenStore on the Redis deployments users run', () => {

  const deployments = new RedisDeployments();
  let setup: FakeIAdvizeSetup;
  let brand: TestKeyPair;
  let fake: FakeIAdvize;
  const replicas: Replica[] = [];
  /** Clients made for one test (the store never closes a client it was given). */
  const testClients: { disconnect(): void }[] = [];
  let prefixCounter = 0;

  beforeAll(async () => {
    setup = await authTestSetup(ISSUER);
    brand = authTestBrandKey(setup);
    fake = setup.iadvize;
  });

  afterAll(async () => {
    await deployments.stopAll();
  });

  afterEach(async () => {
    for (const r of replicas.splice(0)) await r.app.close();
    for (const c of testClients.splice(0)) c.disconnect();
  });

  /** A unique key prefix per test, so tests share no entries or budget. */
  const newPrefix = () => `d${++prefixCounter}-${Date.now()}:`;

  /** A client that never crashes the process on a connection error; disconnected after the test. */
  function forTest<T extends Redis | Cluster>(client: T): T {
    client.on('error', () => undefined);
    testClients.push(client);
    return client;
  }

  async function startReplica(platform: PlatformFactory, store: Omit<RedisTokenStoreOptions, 'secret'>): Promise<Replica> {
    const signer = new CountingSigner(brand.privatePem);
    const { app } = await authTestApp(setup, platform, {
      options: {
        signingKey: signer,
        selfCheck: false,
        // Generous command deadline: a busy test machine must not look like a Redis outage (which fails open).
        tokenStore: new RedisTokenStore({ secret: SECRET, commandTimeoutMs: 3000, ...store }),
        extraProviders: [HeaderUserGuard],
      },
      controller: { guards: [HeaderUserGuard] },
    });
    const replica = { app, signer };
    replicas.push(replica);
    return replica;
  }

  const post = (r: Replica, user: string) => request(r.app.getHttpServer()).post('/iadvize/token').set('x-user', user);
  const signatures = (...rs: Replica[]) => rs.reduce((n, r) => n + r.signer.calls, 0);
  /** The replica's health; the probe its check signs is not counted as a token signature. */
  async function health(r: Replica) {
    const before = r.signer.calls;
    const result = await r.app.get(IAdvizeHealthService).check();
    r.signer.calls = before;
    return result;
  }

  /** One replica mints `user`'s token, the other serves it from Redis without a signature; both report the store up. */
  async function expectShared(a: Replica, b: Replica, user: string): Promise<void> {
    const before = signatures(a, b);
    const first = await post(a, user).expect(200);
    expect(signatures(a, b)).toBe(before + 1);
    const second = await post(b, user).expect(200);
    expect(same(second.body.token, first.body.token)).toBe(true);
    expect(signatures(a, b)).toBe(before + 1);
    const opened = await fake.open(second.body.token as string, brand.publicPem, { issuer: ISSUER });
    expect(opened.userId).toBe(user);
    for (const r of [a, b]) expect(await health(r)).toMatchObject({ degraded: false, tokenStore: { kind: 'redis', up: true } });
  }

  /**
   * Six new identities, alternately on `a` and `b`, when the fleet budget (one signature
   * per 100 s) has `left` signatures left: exactly `left` are signed fleet-wide, the others
   * get 503. A replica falling back on its own share (Redis failing) would sign more.
   */
  async function expectFleetBudget(a: Replica, b: Replica, left: number): Promise<void> {
    const before = signatures(a, b);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await post(i % 2 ? a : b, `budget-user-${i}`)).status);
    expect(signatures(a, b) - before).toBe(left);
    expect(statuses.filter((s) => s === 200).length).toBe(left);
    expect(statuses.filter((s) => s === 503).length).toBe(6 - left);
  }

  describe('Redis Cluster (3 masters, ioredis Cluster client)', () => {
    let ports: number[];
    const nodes: Redis[] = [];

    beforeAll(async () => {
      ports = await deployments.startCluster(3);
      for (const port of ports) nodes.push(new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 }).on('error', () => undefined));
    }, 90_000);

    afterAll(() => {
      for (const n of nodes) n.disconnect();
    });

    const cluster = () => forTest(new Cluster([{ host: '127.0.0.1', port: ports[0] }]));
    const keysOnEachMaster = (prefix: string) => Promise.all(nodes.map((n) => n.keys(`${prefix}*`)));

    it('a token minted by one replica is served by another without a second signature (express)', async () => {
      const prefix = newPrefix();
      const a = await startReplica(EXPRESS, { client: cluster(), keyPrefix: prefix });
      const b = await startReplica(EXPRESS, { client: cluster(), keyPrefix: prefix });
      await expectShared(a, b, 'alice');
      await expectShared(b, a, 'bob');
      // The publish script (token and lock keys) ran: a CROSSSLOT error would have left no entry and the lock behind.
      const keys = (await keysOnEachMaster(prefix)).flat();
      expect(keys.filter((k) => k.endsWith(':t')).length).toBe(2);
      expect(keys.filter((k) => k.endsWith(':l'))).toEqual([]);
    });

    it('the fleet budget holds across the cluster (express)', async () => {
      const prefix = newPrefix();
      const budget = { signaturesPerSecond: 0.01, burst: 2, maxWaitMs: 0 };
      const a = await startReplica(EXPRESS, { client: cluster(), keyPrefix: prefix, budget });
      const b = await startReplica(EXPRESS, { client: cluster(), keyPrefix: prefix, budget });
      await expectFleetBudget(a, b, 2);
      // One budget key for the fleet, hash-tagged to one slot: `<prefix>{<app tag>}:b`.
      expect((await keysOnEachMaster(prefix)).flat().filter((k) => k.endsWith(':b')).length).toBe(1);
      for (const r of [a, b]) expect((await health(r)).degraded).toBe(false);
    });

    it('keys of many identities land on more than one master, each entry whole on its own slot (express)', async () => {
      const prefix = newPrefix();
      const a = await startReplica(EXPRESS, { client: cluster(), keyPrefix: prefix });
      const b = await startReplica(EXPRESS, { client: cluster(), keyPrefix: prefix });
      const users = Array.from({ length: 30 }, (_, i) => `spread-${i}`);
      const minted = new Map<string, unknown>();
      for (const user of users) minted.set(user, (await post(a, user).expect(200)).body.token);
      const perMaster = await keysOnEachMaster(prefix);
      expect(perMaster.filter((keys) => keys.length > 0).length).toBeGreaterThan(1);
      const keys = perMaster.flat();
      expect(keys.length).toBe(users.length);
      for (const key of keys) {
        expect(key.startsWith(`${prefix}{`) && key.endsWith('}:t')).toBe(true);
        // The publish script's two keys (entry, lock) hash to one slot, wherever the identity lands.
        expect(await nodes[0].cluster('KEYSLOT', key.replace(/:t$/, ':l'))).toBe(await nodes[0].cluster('KEYSLOT', key));
      }
      // Every identity is served by the other replica, from whichever master holds it.
      for (const user of users) expect(same((await post(b, user).expect(200)).body.token, minted.get(user))).toBe(true);
      expect(signatures(b)).toBe(0);
      expect(signatures(a)).toBe(users.length);
    });
  });

  describe('a plain server', () => {
    let port: number;
    let admin: Redis;

    beforeAll(async () => {
      port = await deployments.startServer();
      admin = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      admin.on('error', () => undefined);
    }, 60_000);

    afterAll(() => admin?.disconnect());

    const url = () => `redis://127.0.0.1:${port}`;

    it('SCRIPT FLUSH between requests (NOSCRIPT): the budget and publish scripts still run, tokens are still shared (fastify)', async () => {
      const prefix = newPrefix();
      // Three signatures at once fleet-wide; a replica on its own share (Redis failing, expectedReplicas 1) could sign three each.
      const budget = { signaturesPerSecond: 0.01, burst: 3, maxWaitMs: 0 };
      const a = await startReplica(FASTIFY, { url: url(), keyPrefix: prefix, budget });
      const b = await startReplica(FASTIFY, { url: url(), keyPrefix: prefix, budget });
      for (const [i, user] of ['nick', 'olga', 'paul'].entries()) {
        expect(await admin.script('FLUSH')).toBe('OK');
        await expectShared(i % 2 ? a : b, i % 2 ? b : a, user);
      }
      // The fourth identity is over the fleet budget: the budget script ran on Redis after the flushes.
      expect(await admin.script('FLUSH')).toBe('OK');
      const refused = await post(a, 'quinn').expect(503);
      expect(refused.body.code).toBe('IADVIZE_SIGNING_UNAVAILABLE');
      expect(signatures(a, b)).toBe(3);
      for (const r of [a, b]) expect((await health(r)).degraded).toBe(false);
    });

    /** A user limited to `prefix` and `commands` (ACL SETUSER with a fresh password); returns its name and password. */
    async function aclUser(prefix: string, commands: readonly string[]): Promise<{ user: string; password: string }> {
      const user = `store-${prefix.replace(/[^a-z0-9-]/g, '')}`;
      const password = `pw-${prefix.replace(/[^a-z0-9]/g, '')}-x`;
      expect(await admin.call('ACL', 'SETUSER', user, 'reset', 'on', `>${password}`, `~${prefix}*`, 'resetchannels', '-@all', ...commands)).toBe('OK');
      return { user, password };
    }

    it.each([
      ['ioredis defaults', STORE_COMMANDS, {}],
      ['the ready check off (enableReadyCheck: false)', STORE_COMMANDS.filter((c) => c !== '+info'), { enableReadyCheck: false }],
    ])('an ACL user with only the commands the store needs, %s: mint, share, budget, health (fastify)', async (_name, commands, redisOptions) => {
      const prefix = newPrefix();
      const { user, password } = await aclUser(prefix, commands);
      const budget = { signaturesPerSecond: 0.01, burst: 3, maxWaitMs: 0 };
      const store = { url: `redis://${user}:${password}@127.0.0.1:${port}`, redisOptions, keyPrefix: prefix, budget };
      const a = await startReplica(FASTIFY, store);
      const b = await startReplica(FASTIFY, store);
      await expectShared(a, b, 'rita');
      // 'rita' took one of the three.
      await expectFleetBudget(a, b, 2);
      for (const r of [a, b]) expect(await health(r)).toMatchObject({ degraded: false, tokenStore: { up: true } });
      // Every lock was released (DEL inside the publish script is allowed).
      expect((await admin.keys(`${prefix}*`)).filter((k) => k.endsWith(':l'))).toEqual([]);
    });

    it('commands called inside the scripts are ACL-checked too: a user without TIME cannot hold the fleet budget (fastify)', async () => {
      const prefix = newPrefix();
      const { user, password } = await aclUser(prefix, STORE_COMMANDS.filter((c) => c !== '+time'));
      const budget = { signaturesPerSecond: 0.01, burst: 2, maxWaitMs: 0 };
      const store = { url: `redis://${user}:${password}@127.0.0.1:${port}`, keyPrefix: prefix, budget };
      const a = await startReplica(FASTIFY, store);
      const b = await startReplica(FASTIFY, store);
      // Each replica falls back on its own share of the budget (two each): four signatures for a fleet budget of two.
      for (let i = 0; i < 6; i++) await post(i % 2 ? a : b, `no-time-${i}`);
      expect(signatures(a, b)).toBe(4);
    });
  });

  describe('Sentinel (one master, one sentinel, ioredis sentinel client)', () => {
    let sentinelPort: number;
    let admin: Redis;

    beforeAll(async () => {
      const masterPort = await deployments.startServer();
      sentinelPort = await deployments.startSentinel(masterPort, 'mymaster');
      admin = new Redis(masterPort, '127.0.0.1', { maxRetriesPerRequest: 1 });
      admin.on('error', () => undefined);
    }, 60_000);

    afterAll(() => admin?.disconnect());

    const viaSentinel = () => forTest(new Redis({ sentinels: [{ host: '127.0.0.1', port: sentinelPort }], name: 'mymaster' }));

    it('a token minted by one replica is served by another without a second signature (fastify)', async () => {
      const prefix = newPrefix();
      const a = await startReplica(FASTIFY, { client: viaSentinel(), keyPrefix: prefix });
      const b = await startReplica(FASTIFY, { client: viaSentinel(), keyPrefix: prefix });
      await expectShared(a, b, 'sybil');
      await expectShared(b, a, 'trent');
      // The entries are on the master the sentinel named.
      expect((await admin.keys(`${prefix}*`)).filter((k) => k.endsWith(':t')).length).toBe(2);
    });
  });

  describe('TLS (rediss:// URL, server certificate from a test CA)', () => {
    let tlsPort: number;
    let ca: string;

    beforeAll(async () => {
      ({ port: tlsPort, ca } = await deployments.startTls());
    }, 60_000);

    it('replicas given the CA share tokens over TLS (express)', async () => {
      const prefix = newPrefix();
      const store = { url: `rediss://127.0.0.1:${tlsPort}`, redisOptions: { tls: { ca } }, keyPrefix: prefix };
      const a = await startReplica(EXPRESS, store);
      const b = await startReplica(EXPRESS, store);
      await expectShared(a, b, 'uma');
      await expectShared(b, a, 'victor');
    });

    it('a replica without the CA reports the store down and serves by its failure policy, without crashing (express)', async () => {
      const prefix = newPrefix();
      // A short command deadline: the first request waits (bounded by it) for a connection that never comes.
      // A short disconnectTimeout: ioredis keeps a timer that long after disconnecting a client whose TLS handshake failed.
      const store = { url: `rediss://127.0.0.1:${tlsPort}`, redisOptions: { disconnectTimeout: 100 }, keyPrefix: prefix, commandTimeoutMs: 250 };
      const lost = await startReplica(EXPRESS, store);
      const closed = await startReplica(EXPRESS, { ...store, failurePolicy: 'closed' });
      await post(lost, 'wendy').expect(200);
      expect(signatures(lost)).toBe(1);
      expect(await health(lost)).toMatchObject({ healthy: true, degraded: true, tokenStore: { kind: 'redis', up: false, failurePolicy: 'open' } });
      const refused = await post(closed, 'wendy').expect(503);
      expect(refused.body.code).toBe('IADVIZE_SIGNING_UNAVAILABLE');
      expect(signatures(closed)).toBe(0);
      expect(await health(closed)).toMatchObject({ degraded: true, tokenStore: { up: false } });
    });
  });
});
