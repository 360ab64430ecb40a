import type { INestApplication, LoggerService } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { TestingModule } from '@nestjs/testing';

/** Both HTTP platforms NestJS supports; every e2e spec loops over them. */
export const PLATFORMS = [
  ['express', () => new ExpressAdapter()],
  ['fastify', () => new FastifyAdapter()],
] as const;

export type PlatformFactory = (typeof PLATFORMS)[number][1];

/** Creates and initialises an app on the given platform, ready for supertest (silent unless given a logger). */
export async function startApp(moduleRef: TestingModule, platform: PlatformFactory, logger: LoggerService | false = false): Promise<INestApplication> {
  const app = moduleRef.createNestApplication(platform(), { logger });
  await app.init();
  const instance = app.getHttpAdapter().getInstance() as { ready?: () => Promise<unknown> };
  if (typeof instance.ready === 'function') await instance.ready();
  return app;
}
