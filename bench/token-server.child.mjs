/**
 * Child process of the HTTP benchmark: serves the token endpoint with one of
 * four front ends, all calling the same `TokenService`:
 * - `fastify`: a Nest app with `IAdvizeAuthModule.forRoot` on the Fastify adapter;
 * - `express`: the same app on the Express adapter;
 * - `node`: a bare `node:http` server calling `TokenService.createToken`;
 * - `expressPlain`: a bare Express 5 app (no Nest) calling it and writing the
 *   reply exactly as the bare `node` server does (`writeHead` + `end`, no
 *   `res.json`, no ETag): the only difference from `node` is Express's own
 *   request handling, so this is the ceiling any Express app can reach.
 *
 * The parent sends the keys over IPC (never through files or argv), then asks
 * for resource usage while it loads the server with autocannon. Run only by
 * bench/http.bench.mjs.
 *
 * BENCHMARK ONLY: the user id comes from the `x-bench-user` header through a
 * test-only guard. A real app takes it from its session or verified access token.
 */
import 'reflect-metadata';
import { createServer } from 'node:http';
import { Injectable } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { IAdvizeAuthModule, TokenService, UserResolver } from 'nestjs-iadvize-auth';
import { BENCH_IDENTITY, BENCH_ISSUER } from './measure.util.mjs';

/** Route of the token endpoint on every front end (the module's default). */
const TOKEN_PATH = '/iadvize/token';
/** Header the test-only guard maps to `request.user.id`. */
const USER_HEADER = 'x-bench-user';

/** Test-only authentication: trusts a fixed header (a real guard verifies a session or token). */
class HeaderAuthGuard {
  canActivate(context) {
    const request = context.switchToHttp().getRequest();
    const id = request.headers[USER_HEADER];
    if (typeof id !== 'string' || id === '') return false;
    request.user = { id };
    return true;
  }
}

/** Resolver adding the visitor data a real app would read from its user store. */
class BenchUserResolver extends UserResolver {
  resolve(context) {
    const user = context.switchToHttp().getRequest().user;
    return user ? { userId: user.id, visitorData: BENCH_IDENTITY.visitorData } : null;
  }
}
Injectable()(BenchUserResolver);

function moduleOptions(config, controller) {
  return {
    issuer: BENCH_ISSUER,
    signingKey: { pem: config.privatePem },
    iadvizePublicKey: config.iadvizePublicPem,
    controller,
    userResolver: BenchUserResolver,
  };
}

async function startNest(target, config) {
  const module = IAdvizeAuthModule.forRoot(moduleOptions(config, { guards: [new HeaderAuthGuard()] }));
  let app;
  if (target === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    app = await NestFactory.create(module, new FastifyAdapter(), { logger: false });
  } else {
    app = await NestFactory.create(module, { logger: false });
  }
  await app.listen(0, '127.0.0.1');
  return { port: app.getHttpServer().address().port, close: () => app.close() };
}

/** Stops an HTTP server (dropping keep-alive connections), then the Nest context behind it. */
async function closeServer(server, app) {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await app.close();
}

/** The engine alone, in a Nest application context without HTTP. */
async function startEngine(config) {
  const app = await NestFactory.createApplicationContext(IAdvizeAuthModule.forRoot(moduleOptions(config, false)), { logger: false });
  return { app, tokens: app.get(TokenService) };
}

/**
 * The token handler of both bare servers, written with node's own
 * `writeHead` + `end`: 401 without the bench header, 200 with one JSON body,
 * 503 when the engine fails. Sharing it leaves Express's request handling as
 * the only difference between the two.
 */
function serveToken(tokens, req, res) {
  const id = req.headers[USER_HEADER];
  if (typeof id !== 'string' || id === '') {
    res.writeHead(401).end();
    return;
  }
  tokens.createToken({ userId: id, visitorData: BENCH_IDENTITY.visitorData }).then(
    (token) => {
      const body = JSON.stringify(token);
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
        pragma: 'no-cache',
      });
      res.end(body);
    },
    () => res.writeHead(503, { 'retry-after': '1' }).end(),
  );
}

async function startBareExpress(config) {
  const { app, tokens } = await startEngine(config);
  const { default: express } = await import('express');
  const web = express();
  web.post(TOKEN_PATH, (req, res) => serveToken(tokens, req, res));
  const server = await new Promise((resolve) => {
    const s = web.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    port: server.address().port,
    close: () => closeServer(server, app),
  };
}

async function startBareNode(config) {
  const { app, tokens } = await startEngine(config);
  const server = createServer((req, res) => {
    req.resume();
    if (req.method !== 'POST' || req.url !== TOKEN_PATH) {
      res.writeHead(404).end();
      return;
    }
    serveToken(tokens, req, res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    close: () => closeServer(server, app),
  };
}

function usage() {
  const cpu = process.cpuUsage();
  return {
    type: 'usage',
    at: Date.now(),
    rss: process.memoryUsage.rss(),
    maxRss: process.resourceUsage().maxRSS * 1024,
    cpuMicros: cpu.user + cpu.system,
  };
}

const target = process.argv[2];
const STARTERS = { node: startBareNode, expressPlain: startBareExpress, fastify: (c) => startNest('fastify', c), express: (c) => startNest('express', c) };
if (!Object.hasOwn(STARTERS, target)) {
  console.error(`token-server.child.mjs: unknown target "${target}" (expected ${Object.keys(STARTERS).join(', ')})`);
  process.exit(2);
}
let server;
process.on('message', async (message) => {
  try {
    if (message.type === 'start') {
      server = await STARTERS[target](message);
      process.send({ type: 'ready', port: server.port });
    } else if (message.type === 'usage') {
      process.send(usage());
    } else if (message.type === 'stop') {
      await server?.close();
      process.disconnect();
    }
  } catch (e) {
    console.error(`token-server.child.mjs (${target}): ${e?.stack ?? e}`);
    process.exit(1);
  }
});
