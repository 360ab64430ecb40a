/**
 * One replica of the fleet benchmark (bench/fleet.bench.mjs): a Nest app on
 * Fastify with `IAdvizeAuthModule`, signing with `AwsKmsKeyProvider` against
 * the AWS KMS stand-in, and either the shared `RedisTokenStore` or the
 * in-process `tokenCache` alone. The parent sends its configuration over IPC.
 *
 * Time compression: the module clock runs `compression` times faster than the
 * wall clock from `t0`, so token lifetimes and reuse windows pass faster;
 * KMS quotas, budgets and latencies stay in real time.
 *
 * BENCHMARK ONLY: the user id comes from the `x-user` header through a
 * test-only guard. A real app takes it from its session.
 */
import 'reflect-metadata';
import { Controller, Get, Inject, Injectable } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { IAdvizeAuthEvents, IAdvizeAuthModule } from 'nestjs-iadvize-auth';
import { AwsKmsKeyProvider } from 'nestjs-iadvize-auth/aws-kms';
import { RedisTokenStore } from 'nestjs-iadvize-auth/redis';

/** Test-only authentication: trusts the `x-user` header. */
class HeaderAuthGuard {
  canActivate(context) {
    const request = context.switchToHttp().getRequest();
    const id = request.headers['x-user'];
    if (typeof id !== 'string' || id === '') return false;
    request.user = { id };
    return true;
  }
}

/** `GET /fleet/status`: the token store's status (no signature: unlike the health check, it never calls the KMS). */
class StatusController {
  async status() {
    return tokenStore ? tokenStore.status() : { kind: 'none', up: true };
  }
}
Controller('fleet')(StatusController);
Get('status')(StatusController.prototype, 'status', Object.getOwnPropertyDescriptor(StatusController.prototype, 'status'));
Injectable()(StatusController);

/** The store this replica was started with (undefined: in-process cache only). */
let tokenStore;

/** Counts what the store does, for the parent's report. */
const counters = { storeHits: 0, staleHits: 0, coalesced: 0, coalescedTimeouts: 0, budgetRefusals: 0, budgetRefusedServedCached: 0, storeErrors: 0, issued: 0, cached: 0, signerFailures: 0 };

class EventCounter {
  constructor(events) {
    events.on('store.hit', (e) => {
      counters.storeHits++;
      if (e.stale) counters.staleHits++;
    });
    events.on('store.coalesced', (e) => (e.outcome === 'shared' ? counters.coalesced++ : counters.coalescedTimeouts++));
    events.on('budget.refused', (e) => (e.served === 'cached' ? counters.budgetRefusedServedCached++ : counters.budgetRefusals++));
    events.on('store.error', () => counters.storeErrors++);
    events.on('token.issued', (e) => (e.cached ? counters.cached++ : counters.issued++));
    events.on('signer.failure', () => counters.signerFailures++);
  }
}
Inject(IAdvizeAuthEvents)(EventCounter, undefined, 0);
Injectable()(EventCounter);

async function start(config) {
  const clock = () => config.t0 + (Date.now() - config.t0) * config.compression;
  const kmsKey = (keyId) =>
    new AwsKmsKeyProvider({
      keyId,
      clientConfig: {
        region: 'us-east-1',
        endpoint: config.kmsUrl,
        credentials: { accessKeyId: 'AKIDSTANDIN', secretAccessKey: 'standin-secret' },
      },
    });
  // With a key switch: a schedule, the second key taking over at an instant of the module clock.
  const signingKey = config.switchKeyAt
    ? { schedule: [{ key: kmsKey(config.keyId) }, { key: kmsKey(config.rotatedKeyId), from: new Date(config.switchKeyAt) }] }
    : kmsKey(config.keyId);
  const options = {
    issuer: config.issuer,
    signingKey,
    iadvizePublicKey: config.iadvizePublicPem,
    tokenTtlSeconds: config.tokenTtlSeconds,
    clock,
    controller: { guards: [new HeaderAuthGuard()] },
    extraProviders: [EventCounter],
  };
  if (config.redisUrl) {
    options.tokenStore = new RedisTokenStore({
      url: config.redisUrl,
      secret: config.storeSecret,
      keyPrefix: config.keyPrefix,
      // A visitor with no token yet may wait up to 2 s for budget (default 1 s) rather than get a 503.
      budget: { signaturesPerSecond: config.budgetPerSecond, maxWaitMs: 2000 },
      expectedReplicas: config.replicas,
      // Generous for a benchmark sharing its cores with the load generator and the KMS stand-in.
      commandTimeoutMs: 2000,
    });
    tokenStore = options.tokenStore;
  } else {
    options.tokenCache = { ttlSeconds: Math.floor(config.tokenTtlSeconds / 2) };
  }
  const module = IAdvizeAuthModule.forRoot(options);
  module.controllers = [...(module.controllers ?? []), StatusController];
  const app = await NestFactory.create(module, new FastifyAdapter(), { logger: false });
  app.get(EventCounter);
  await app.listen(0, '127.0.0.1');
  return { port: app.getHttpServer().address().port, close: () => app.close() };
}

let server;
process.on('message', async (message) => {
  try {
    if (message.type === 'start') {
      server = await start(message.config);
      process.send({ type: 'ready', port: server.port });
    } else if (message.type === 'counters') {
      process.send({ type: 'counters', counters });
    } else if (message.type === 'stop') {
      await server?.close();
      process.disconnect();
    }
  } catch (e) {
    console.error(`fleet-replica.child.mjs: ${e?.stack ?? e}`);
    process.exit(1);
  }
});
