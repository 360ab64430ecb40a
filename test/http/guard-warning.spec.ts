import 'reflect-metadata';
import { Injectable, Module, type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { IAdvizeAuthModule, UserResolver, type IAdvizeAuthModuleExtras, type IAdvizeUser } from '../../lib/index.js';
import type { FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestApp, authTestSetup } from '../support/auth-module.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { PLATFORMS, startApp } from '../support/platforms.js';

/**
 * Forgetting the authentication guard is safe (every request gets 401) but
 * must not be silent: one startup warning naming the option, and a debug
 * line on each refusal saying where `request.user` was expected to come from.
 */
@Injectable()
class HeaderAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: unknown }>();
    if (req.headers['x-user']) req.user = { id: req.headers['x-user'] };
    return true;
  }
}

@Module({ providers: [{ provide: APP_GUARD, useClass: HeaderAuthGuard }] })
class GlobalGuardModule {}

@Injectable()
class NobodyResolver extends UserResolver {
  resolve(): IAdvizeUser | null {
    return null;
  }
}

const WARNING = 'has no authentication guard in front of it';

describe('startup warning when nothing authenticates the token endpoint', () => {
  let setup: FakeIAdvizeSetup;
  let app: INestApplication | undefined;
  beforeAll(async () => {
    setup = await authTestSetup();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function start(extras: IAdvizeAuthModuleExtras, imports: unknown[] = [], async = false): Promise<CapturingLogger> {
    const logger = new CapturingLogger();
    if (!async) {
      ({ app } = await authTestApp(setup, PLATFORMS[0][1], { options: extras, imports: imports as never[], logger }));
      return logger;
    }
    // Hand-written on purpose: the forRootAsync path is what this case checks.
    const moduleRef = await Test.createTestingModule({
      imports: [IAdvizeAuthModule.forRootAsync({ useFactory: () => setup.moduleOptions, ...extras }), ...(imports as never[])],
    }).compile();
    app = await startApp(moduleRef, PLATFORMS[0][1], logger);
    return logger;
  }

  it.each<[string, IAdvizeAuthModuleExtras, boolean]>([
    ['forRoot without a controller option', {}, false],
    ['forRoot with controller: { path } (no guards)', { controller: { path: 'secret-route/token' } }, false],
    ['forRootAsync with controller.guards: []', { controller: { path: 'secret-route/token', guards: [] } }, true],
  ])('%s: warns once, naming controller.guards and APP_GUARD, without the configured path', async (_name, extras, async) => {
    const logger = await start(extras, [], async);
    const warnings = logger.matching(WARNING, 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('controller.guards');
    expect(warnings[0]).toContain('APP_GUARD');
    expect(warnings[0]).not.toContain('secret-route'); // a configured value: never echoed
  });

  it('no warning with controller.guards', async () => {
    const logger = await start({ controller: { guards: [HeaderAuthGuard] } });
    expect(logger.matching(WARNING)).toEqual([]);
  });

  it('no warning with a global APP_GUARD', async () => {
    const logger = await start({}, [GlobalGuardModule]);
    expect(logger.matching(WARNING)).toEqual([]);
  });

  it('no warning when the controller is disabled', async () => {
    const logger = await start({ controller: false });
    expect(logger.matching(WARNING)).toEqual([]);
  });
});

describe.each(PLATFORMS)('debug line when the identity guard refuses (%s)', (_name, platform) => {
  let setup: FakeIAdvizeSetup;
  let app: INestApplication | undefined;
  beforeAll(async () => {
    setup = await authTestSetup();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('an empty request.user: says it is set by controller.guards or a global APP_GUARD, at debug level', async () => {
    const logger = new CapturingLogger();
    ({ app } = await authTestApp(setup, platform, { controller: { guards: [HeaderAuthGuard] }, logger }));
    await request(app.getHttpServer()).post('/iadvize/token').expect(401);
    const lines = logger.matching('request.user');
    expect(lines).toHaveLength(1);
    expect(logger.lines.find((l) => l.text === lines[0])?.level).toBe('debug');
    expect(lines[0]).toContain('controller.guards');
    expect(lines[0]).toContain('APP_GUARD');
    // A signed-in request logs nothing of the kind.
    await request(app.getHttpServer()).post('/iadvize/token').set('x-user', 'u1').expect(200);
    expect(logger.matching('request.user')).toHaveLength(1);
  });

  it('a custom resolver that returns null: names the resolver class instead', async () => {
    const logger = new CapturingLogger();
    ({ app } = await authTestApp(setup, platform, { userResolver: NobodyResolver, controller: { guards: [HeaderAuthGuard] }, logger }));
    await request(app.getHttpServer()).post('/iadvize/token').set('x-user', 'u1').expect(401);
    const lines = logger.lines.filter((l) => l.level === 'debug' && l.text.includes('NobodyResolver'));
    expect(lines).toHaveLength(1);
    expect(lines[0].text).toContain('returned no identity');
  });
});
