/**
 * Replicas of a fleet for the Redis store specs: Nest apps in this process on
 * one real redis-server, each with a signer that counts (and can hold) its
 * signatures, a Prometheus registry, a capturing logger and its events.
 */
import type { INestApplication } from '@nestjs/common';
import { Registry } from 'prom-client';
import request from 'supertest';
import { IAdvizeAuthEvents, PemKeyProvider, type IAdvizeAuthEventMap, type IAdvizeAuthOptions, type KeyProvider, type SignOptions } from '../../lib/index.js';
import { provideIAdvizePrometheusMetrics } from '../../lib/integrations/prometheus.js';
import { RedisTokenStore, type RedisTokenStoreOptions } from '../../lib/redis/index.js';
import type { FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestApp, authTestBrandKey } from './auth-module.js';
import { CapturingLogger } from './capturing-logger.js';
import type { PlatformFactory } from './platforms.js';
import { HeaderUserGuard } from './test-guards.js';

/** Signs with a PEM key and counts signatures; `hold()` makes signatures wait until `release()`. */
export class CountingSigner implements KeyProvider {
  readonly alg = 'RS256' as const;
  readonly kind = 'counting-kms';
  readonly inProcess = true;
  calls = 0;
  private readonly inner: PemKeyProvider;
  private gate?: Promise<void>;
  private open?: () => void;

  constructor(pem: string) {
    this.inner = new PemKeyProvider({ pem });
  }
  async init(): Promise<void> {
    await this.inner.init();
  }
  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.open?.();
    this.gate = undefined;
  }
  async sign(input: Uint8Array, _options?: SignOptions): Promise<Uint8Array> {
    this.calls++;
    if (this.gate) await this.gate;
    return this.inner.sign(input);
  }
  getPublicKey() {
    return this.inner.getPublicKey();
  }
}

/** One replica: its app, signer, metrics, logs and the store events it emitted. */
export interface FleetReplica {
  app: INestApplication;
  signer: CountingSigner;
  registry: Registry;
  logger: CapturingLogger;
  events: { [E in keyof IAdvizeAuthEventMap]?: IAdvizeAuthEventMap[E][] };
}

/** What a replica is built from besides the store options. */
export interface FleetReplicaParts {
  /** The fake iAdvize set-up (issuer, iAdvize key); default: the fleet's. */
  setup?: FakeIAdvizeSetup;
  /** Module options merged over the set-up's. */
  options?: Partial<IAdvizeAuthOptions>;
}

/** Replicas on one Redis, closed together. */
export class Fleet {
  private readonly replicas: FleetReplica[] = [];

  constructor(
    private readonly setup: FakeIAdvizeSetup,
    private readonly url: () => string,
    private readonly secret: string,
  ) {}

  /** Starts a replica whose store has `store` over the fleet's defaults (url, secret, a generous command deadline). */
  async start(platform: PlatformFactory, store: Partial<RedisTokenStoreOptions>, parts: FleetReplicaParts = {}): Promise<FleetReplica> {
    const setup = parts.setup ?? this.setup;
    const signer = new CountingSigner(authTestBrandKey(this.setup).privatePem);
    const registry = new Registry();
    const logger = new CapturingLogger();
    const events: FleetReplica['events'] = {};
    const { app } = await authTestApp(setup, platform, {
      options: {
        signingKey: signer,
        selfCheck: false,
        // Generous command deadline: a busy test machine must not look like a Redis outage (which fails open).
        tokenStore: new RedisTokenStore({ url: this.url(), secret: this.secret, commandTimeoutMs: 3000, ...store }),
        extraProviders: [HeaderUserGuard, provideIAdvizePrometheusMetrics({ registry })],
        ...parts.options,
      },
      controller: { guards: [HeaderUserGuard] },
      logger,
    });
    const bus = app.get(IAdvizeAuthEvents);
    const record = <E extends keyof IAdvizeAuthEventMap>(name: E) => bus.on(name, (e) => void ((events[name] ??= []) as IAdvizeAuthEventMap[E][]).push(e));
    for (const name of ['store.rejected', 'store.error', 'store.recovered', 'store.coalesced', 'budget.refused'] as const) record(name);
    const replica = { app, signer, registry, logger, events };
    this.replicas.push(replica);
    return replica;
  }

  /** `POST /iadvize/token` as `user`. */
  post(r: FleetReplica, user: string) {
    return request(r.app.getHttpServer()).post('/iadvize/token').set('x-user', user);
  }

  /** Signatures made by `replicas`. */
  signatures(...replicas: FleetReplica[]): number {
    return replicas.reduce((n, r) => n + r.signer.calls, 0);
  }

  /** Closes every replica started since the last call. */
  async closeAll(): Promise<void> {
    for (const r of this.replicas.splice(0)) await r.app.close();
  }
}
