import type { INestApplication } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { TestingModule } from '@nestjs/testing';

/** Both HTTP platforms NestJS supports; every e2e spec loops over them. */
export const PLATFORMS = [
  ['express', () => new ExpressAdapter()],
  ['fastify', () => new FastifyAdapter()],
] as const;

export type PlatformFactory = (typeof PLATFORMS)[number][1];

/** Creates and initialises an app on the given platform, ready for supertest. */
export async function startApp(moduleRef: TestingModule, platform: PlatformFactory): Promise<INestApplication> {
  const app = moduleRef.createNestApplication(platform(), { logger: false });
  await app.init();
  const instance = app.getHttpAdapter().getInstance() as { ready?: () => Promise<unknown> };
  if (typeof instance.ready === 'function') await instance.ready();
  return app;
}
