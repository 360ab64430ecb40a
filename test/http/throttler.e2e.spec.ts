import { fileURLToPath } from 'node:url';
import request from 'supertest';
import type { FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestSetup } from '../support/auth-module.js';
import { startChildApp, type ChildApp } from '../support/child-app.js';

const script = fileURLToPath(new URL('../fixtures/throttler-app.mjs', import.meta.url));

describe.each(['express', 'fastify'])('per-user rate limit with @nestjs/throttler on %s', (platform) => {
  let app: ChildApp;
  let setup: FakeIAdvizeSetup;
  beforeAll(async () => {
    setup = await authTestSetup();
    app = await startChildApp(script, [platform], { TEST_BRAND_KEY: setup.moduleOptions.signingKey.pem, TEST_IADVIZE_PUBLIC_KEY: setup.iadvize.publicKeyPem });
  });
  afterAll(() => app?.stop());

  it('answers 429 after the limit, counted per user', async () => {
    for (let i = 0; i < 3; i++) await request(app.url).post('/iadvize/token').set('X-Session', 'alice').expect(200);
    const limited = await request(app.url).post('/iadvize/token').set('X-Session', 'alice').expect(429);
    expect(limited.text).not.toContain('eyJ');
    expect(limited.body).toEqual({ statusCode: 429, error: 'Too Many Requests', message: 'Too many token requests; retry later', code: 'IADVIZE_RATE_LIMITED' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0); // the throttler's header survives the library's error body
    const res = await request(app.url).post('/iadvize/token').set('X-Session', 'bob').expect(200);
    expect((await setup.open(res.body.token)).userId).toBe('bob');
    await request(app.url).post('/iadvize/token').expect(401);
  });
});
