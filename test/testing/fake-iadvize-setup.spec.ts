import 'reflect-metadata';
import { Injectable, type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { IADVIZE_AUTH_MODULE_OPTIONS, IAdvizeAuthModule, type IAdvizeAuthOptions } from '../../lib/index.js';
import { FakeIAdvizeError, FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { PLATFORMS, startApp } from '../support/platforms.js';

/** Signs in `Bearer user-<id>` as `{ id }`. */
@Injectable()
class BearerGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: unknown }>();
    const match = /^Bearer user-(\S+)$/.exec(req.headers.authorization ?? '');
    if (match) req.user = { id: match[1] };
    return true;
  }
}

/** An options class standing for a ConfigService-based one: its keys are not the setup's. */
@Injectable()
class ProductionLikeOptions {
  createIAdvizeAuthOptions(): IAdvizeAuthOptions {
    return { issuer: 'https://prod.example', signingKey: { env: 'NO_SUCH_VARIABLE_IN_TESTS' } };
  }
}

// forRoot / forRootAsync written by hand on purpose: the documented user set-up is what this file checks.
describe('FakeIAdvizeSetup', () => {
  let setup: FakeIAdvizeSetup;
  beforeAll(async () => {
    setup = await FakeIAdvizeSetup.create({ issuer: 'https://shop.example' });
  });

  it('gives module options connecting a brand key to the fake iAdvize (a fresh object each time)', () => {
    const options = setup.moduleOptions;
    expect(options.issuer).toBe('https://shop.example');
    expect(options.iadvizePublicKey).toBe(setup.iadvize.publicKeyPem);
    expect(Object.keys(options).sort()).toEqual(['iadvizePublicKey', 'issuer', 'signingKey']);
    expect(setup.moduleOptions).not.toBe(options);
    expect(setup.brandPublicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
  });

  describe.each(PLATFORMS)('on %s', (_name, platform) => {
    let app: INestApplication | undefined;
    afterEach(async () => {
      await app?.close();
      app = undefined;
    });

    async function token(): Promise<string> {
      const res = await request(app!.getHttpServer()).post('/iadvize/token').set('Authorization', 'Bearer user-7').expect(200);
      return res.body.token as string;
    }

    it('forRoot({ ...setup.moduleOptions }): tokens open with setup.open()', async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [IAdvizeAuthModule.forRoot({ ...setup.moduleOptions, controller: { guards: [BearerGuard] } })],
      }).compile();
      app = await startApp(moduleRef, platform);
      const opened = await setup.open(await token());
      expect(opened.userId).toBe('7');
      expect(opened.claims.iss).toBe('https://shop.example');
    });

    it('forRootAsync (useClass) overridden through IADVIZE_AUTH_MODULE_OPTIONS', async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [IAdvizeAuthModule.forRootAsync({ useClass: ProductionLikeOptions, controller: { guards: [BearerGuard] } })],
      })
        .overrideProvider(IADVIZE_AUTH_MODULE_OPTIONS)
        .useValue({ ...setup.moduleOptions, tokenTtlSeconds: 120 })
        .compile();
      app = await startApp(moduleRef, platform);
      const opened = await setup.open(await token());
      expect(opened.userId).toBe('7');
      expect((opened.claims.exp as number) - (opened.claims.iat as number)).toBe(120);
    });
  });

  it('refuses a token of another setup, and checks its own issuer', async () => {
    const other = await FakeIAdvizeSetup.create();
    const moduleRef = await Test.createTestingModule({
      imports: [IAdvizeAuthModule.forRoot({ ...other.moduleOptions, controller: { guards: [BearerGuard] } })],
    }).compile();
    const app = await startApp(moduleRef, PLATFORMS[0][1]);
    try {
      const res = await request(app.getHttpServer()).post('/iadvize/token').set('Authorization', 'Bearer user-7').expect(200);
      await expect(setup.open(res.body.token)).rejects.toMatchObject({ reason: 'DECRYPTION_FAILED' });
      await expect(other.open(res.body.token, { issuer: 'https://elsewhere.example' })).rejects.toBeInstanceOf(FakeIAdvizeError);
      expect((await other.open(res.body.token)).claims.iss).toBe('https://www.example.com');
    } finally {
      await app.close();
    }
  });
});
