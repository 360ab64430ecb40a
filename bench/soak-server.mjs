/**
 * Child process of the soak (bench/soak.mjs): the token endpoint of a Nest app
 * (`IAdvizeAuthModule.forRoot`, Fastify or Express) behind a bearer-session
 * guard, listening on 127.0.0.1 only.
 *
 * The parent sends the keys and the session table over IPC (never argv, files
 * or the environment), then asks for memory figures (after a forced GC: run
 * with `--expose-gc`) while it loads the server, and finally asks it to stop.
 * It never prints a key or a token.
 *
 * Messages in:  { type: 'start', adapter, privatePem, iadvizePublicPem, issuer, sessions: [[secret, userId], …] }
 *               { type: 'memory', gc: boolean } · { type: 'stop' }
 * Messages out: { type: 'ready', host, port } · { type: 'memory', rss, heapUsed, external, arrayBuffers }
 *               { type: 'error', message }
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { IAdvizeAuthModule, UserResolver } from 'nestjs-iadvize-auth';

/** The app's authentication: `Authorization: Bearer <session secret>` → `request.user`. */
function bearerSessionGuard(sessions) {
  return {
    canActivate(context) {
      const request = context.switchToHttp().getRequest();
      const match = /^Bearer ([A-Za-z0-9_-]+)$/.exec(request.headers.authorization ?? '');
      const userId = match ? sessions.get(match[1]) : undefined;
      if (userId) request.user = { id: userId };
      return true;
    },
  };
}

/** Adds the visitor data a real app reads from its user store (tokens of realistic size). */
class SoakUserResolver extends UserResolver {
  resolve(context) {
    const user = context.switchToHttp().getRequest().user;
    return user ? { userId: user.id, visitorData: { firstName: 'Soak', lastName: user.id, email: `${user.id}@example.com`, country: 'France' } } : null;
  }
}
Injectable()(SoakUserResolver);

let app;

async function start(message) {
  const sessions = new Map(message.sessions);
  const module = IAdvizeAuthModule.forRoot({
    issuer: message.issuer,
    signingKey: { pem: message.privatePem },
    iadvizePublicKey: message.iadvizePublicPem,
    userResolver: SoakUserResolver,
    controller: { guards: [bearerSessionGuard(sessions)] },
  });
  let adapter;
  if (message.adapter === 'express') {
    const { ExpressAdapter } = await import('@nestjs/platform-express');
    adapter = new ExpressAdapter();
  } else {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    adapter = new FastifyAdapter();
  }
  app = await NestFactory.create(module, adapter, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  process.send({ type: 'ready', host: address.address, port: address.port });
}

function memory(runGc) {
  if (runGc && typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  process.send({ type: 'memory', rss, heapUsed, external, arrayBuffers });
}

process.on('message', (message) => {
  if (message?.type === 'start') {
    start(message).catch((e) => {
      process.send({ type: 'error', message: `${e?.name ?? 'Error'}: ${e?.message ?? e}` });
      process.exit(1);
    });
  } else if (message?.type === 'memory') {
    memory(message.gc);
  } else if (message?.type === 'stop') {
    Promise.resolve(app?.close()).finally(() => process.exit(0));
  }
});

// The parent going away (or its IPC channel closing) ends the child: the soak never leaves a server behind.
process.on('disconnect', () => process.exit(0));
