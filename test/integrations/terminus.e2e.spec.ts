// @nestjs/terminus 12 is ESM, so it loads in Jest's ESM mode (no child process needed).
import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import request from 'supertest';
import { IAdvizeHealthIndicator } from '../../lib/integrations/terminus.js';
import { authTestApp, authTestSetup } from '../support/auth-module.js';
import { expectNoSecrets } from '../support/keys.js';
import { PLATFORMS } from '../support/platforms.js';
import type { FakeKeyProvider } from '../../lib/testing/index.js';
import { kmsLikeSigner } from '../support/kms-like-signer.js';

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly iadvize: IAdvizeHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.iadvize.isHealthy()]);
  }

  @Get('fresh')
  @HealthCheck()
  fresh() {
    return this.health.check([() => this.iadvize.isHealthy('token-signer', { maxAgeSeconds: 0 })]);
  }
}

/** The app's health module: terminus + the indicator, with IAdvizeAuthModule registered globally elsewhere. */
@Module({ imports: [TerminusModule], controllers: [HealthController], providers: [IAdvizeHealthIndicator] })
class HealthModule {}

describe.each(PLATFORMS)('terminus health indicator on %s', (_name, platform) => {
  let app: INestApplication;
  let signer: FakeKeyProvider;
  const clock = { now: Date.UTC(2026, 0, 1) };

  beforeAll(async () => {
    const setup = await authTestSetup();
    signer = kmsLikeSigner(setup.moduleOptions.signingKey.pem);
    ({ app } = await authTestApp(setup, platform, { options: { signingKey: signer, clock: () => clock.now, isGlobal: true }, imports: [HealthModule] }));
  });
  afterAll(() => app.close());

  it('is up with a good signer, down (503) with a failing one, cached for 10 s, and recovers', async () => {
    const server = app.getHttpServer();
    signer.calls = 0;
    const up = await request(server).get('/health').expect(200);
    expect(up.body).toEqual({
      status: 'ok',
      info: { iadvize: { status: 'up', signer: 'test-kms', checkedAt: new Date(clock.now).toISOString(), durationMs: expect.any(Number), cached: false } },
      error: {},
      details: { iadvize: expect.objectContaining({ status: 'up' }) },
    });

    signer.mode = 'fail';
    const cached = await request(server).get('/health').expect(200);
    expect(cached.body.info.iadvize).toMatchObject({ status: 'up', cached: true });
    expect(signer.calls).toBe(1);

    clock.now += 10_000;
    const down = await request(server).get('/health').expect(503);
    expect(down.body.status).toBe('error');
    expect(down.body.error.iadvize).toEqual({
      status: 'down',
      signer: 'test-kms',
      checkedAt: new Date(clock.now).toISOString(),
      durationMs: expect.any(Number),
      cached: false,
      code: 'IADVIZE_SIGNING_UNAVAILABLE',
    });
    expect(down.text).not.toContain('failed the health probe'); // the message stays in the log
    expect(down.text).not.toMatch(/hunter2|ECONNREFUSED/);
    expectNoSecrets(down.text);

    signer.mode = 'wrong-signature';
    const mismatch = await request(server).get('/health/fresh').expect(503);
    expect(mismatch.body.error['token-signer']).toMatchObject({ status: 'down', code: 'IADVIZE_SIGNATURE_MISMATCH' });

    signer.mode = 'ok';
    await request(server).get('/health').expect(503); // still cached
    clock.now += 10_000;
    expect((await request(server).get('/health').expect(200)).body.info.iadvize.status).toBe('up');
  });
});
