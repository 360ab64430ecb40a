// prom-client is CommonJS with no ESM dependency, so Jest's ESM mode loads it directly.
import { Controller, Get, Header, Inject, Injectable, type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { Registry } from 'prom-client';
import request from 'supertest';
import { UserResolver, type IAdvizeUser } from '../../lib/index.js';
import { IAdvizeAuthEvents } from '../../lib/events/iadvize-auth-events.service.js';
import { IAdvizeHealthService } from '../../lib/health/iadvize-health.service.js';
import { IAdvizePrometheusMetrics, provideIAdvizePrometheusMetrics } from '../../lib/integrations/prometheus.js';
import { authTestApp, authTestSetup } from '../support/auth-module.js';
import { PLATFORMS } from '../support/platforms.js';
import type { FakeKeyProvider } from '../../lib/testing/index.js';
import { kmsLikeSigner } from '../support/kms-like-signer.js';

const REGISTRY = Symbol('test registry');

@Controller('metrics')
class MetricsController {
  constructor(@Inject(REGISTRY) private readonly registry: Registry) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.registry.metrics();
  }
}

@Injectable()
class HeaderAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: unknown }>();
    const session = req.headers['x-session'];
    if (session) req.user = { id: session };
    return true;
  }
}

@Injectable()
class Resolver extends UserResolver {
  resolve(context: ExecutionContext): IAdvizeUser | null {
    const user = context.switchToHttp().getRequest<{ user?: { id: string } }>().user;
    if (!user) return null;
    return user.id === 'bad' ? { userId: 'x'.repeat(256) } : { userId: `customer-${user.id}` };
  }
}

/** Parses the text exposition into `series → value` (series as written, labels included). */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe.each(PLATFORMS)('Prometheus metrics on %s', (_name, platform) => {
  let app: INestApplication;
  let signer: FakeKeyProvider;
  const registry = new Registry();

  beforeAll(async () => {
    const setup = await authTestSetup();
    signer = kmsLikeSigner(setup.moduleOptions.signingKey.pem);
    ({ app } = await authTestApp(setup, platform, {
      options: { signingKey: signer, extraProviders: [provideIAdvizePrometheusMetrics({ registry })] },
      userResolver: Resolver,
      controller: { guards: [HeaderAuthGuard] },
      controllers: [MetricsController],
      providers: [{ provide: REGISTRY, useValue: registry }],
    }));
  });
  afterAll(() => app?.close());

  it('counts tokens by outcome and code and records signing latency, scraped over HTTP', async () => {
    const server = app.getHttpServer();
    const initial = parse((await request(server).get('/metrics').expect(200)).text);
    // Known error series exist at 0 from the first scrape.
    expect(initial.get('iadvize_token_errors_total{outcome="refused",code="IADVIZE_UNAUTHENTICATED"}')).toBe(0);
    expect(initial.get('iadvize_token_errors_total{outcome="failed",code="IADVIZE_SIGNATURE_MISMATCH"}')).toBe(0);

    for (const user of ['a', 'b', 'c']) await request(server).post('/iadvize/token').set('X-Session', user).expect(200);
    await request(server).post('/iadvize/token').expect(401);
    await request(server).get('/iadvize/token').expect(401);
    await request(server).post('/iadvize/token').set('X-Session', 'bad').expect(422);
    signer.mode = 'fail';
    await request(server).post('/iadvize/token').set('X-Session', 'a').expect(503);
    signer.mode = 'wrong-signature';
    await request(server).post('/iadvize/token').set('X-Session', 'a').expect(503);
    await app.get(IAdvizeHealthService).check();
    signer.mode = 'ok';

    const res = await request(server).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const m = parse(res.text);
    expect(m.get('iadvize_tokens_issued_total{signer="test-kms"}')).toBe(3);
    expect(m.get('iadvize_token_errors_total{outcome="refused",code="IADVIZE_UNAUTHENTICATED"}')).toBe(2);
    expect(m.get('iadvize_token_errors_total{outcome="refused",code="IADVIZE_INVALID_IDENTITY"}')).toBe(1);
    expect(m.get('iadvize_token_errors_total{outcome="failed",code="IADVIZE_SIGNING_UNAVAILABLE"}')).toBe(1);
    expect(m.get('iadvize_token_errors_total{outcome="failed",code="IADVIZE_SIGNATURE_MISMATCH"}')).toBe(1);
    expect(m.get('iadvize_signing_duration_seconds_count{signer="test-kms",outcome="issued"}')).toBe(3);
    expect(m.get('iadvize_signing_duration_seconds_count{signer="test-kms",outcome="failed"}')).toBe(2);
    const sum = m.get('iadvize_signing_duration_seconds_sum{signer="test-kms",outcome="issued"}')!;
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(15);
    expect(m.get('iadvize_signing_duration_seconds_bucket{le="+Inf",signer="test-kms",outcome="issued"}')).toBe(3);
    expect(m.get('iadvize_signer_up{signer="test-kms"}')).toBe(0);
    expect(res.text).toContain('# TYPE iadvize_signing_duration_seconds histogram');
    expect(res.text).toContain('# TYPE iadvize_tokens_issued_total counter');
    expect(res.text).toContain('# TYPE iadvize_signer_up gauge');
    // Buckets are cumulative and ordered.
    const buckets = [...m.entries()].filter(([k]) => k.startsWith('iadvize_signing_duration_seconds_bucket') && k.includes('outcome="issued"')).map(([, v]) => v);
    expect(buckets.length).toBeGreaterThan(5);
    expect(buckets).toEqual([...buckets].sort((x, y) => x - y));
    // Labels carry no user data.
    expect(res.text).not.toMatch(/customer-|userId|"a"|xxxxxxxx/);

    await app.get(IAdvizeHealthService).check({ maxAgeSeconds: 0 });
    expect(parse(await registry.metrics()).get('iadvize_signer_up{signer="test-kms"}')).toBe(1);
  });

  it('stops listening when the app closes', async () => {
    const events = app.get(IAdvizeAuthEvents);
    expect(app.get(IAdvizePrometheusMetrics)).toBeInstanceOf(IAdvizePrometheusMetrics);
    expect(events.listening('token.issued')).toBe(true);
    await app.close();
    expect(events.listening('token.issued')).toBe(false);
    expect(events.listening('health.checked')).toBe(false);
  });
});

describe('IAdvizePrometheusMetrics without Nest', () => {
  it('reuses metrics already in the registry, supports a prefix, and rejects an invalid one', () => {
    const registry = new Registry();
    const events = new IAdvizeAuthEvents();
    const a = new IAdvizePrometheusMetrics(events, { registry });
    const b = new IAdvizePrometheusMetrics(events, { registry });
    expect(b.tokensIssued).toBe(a.tokensIssued);
    events.emit('token.issued', { durationMs: 2, signerKind: 'pem' });
    a.dispose();
    b.dispose();
    events.emit('token.issued', { durationMs: 2, signerKind: 'pem' });
    const custom = new IAdvizePrometheusMetrics(events, { registry, prefix: 'myapp_iadvize_', buckets: [0.5, 1] });
    events.emit('token.issued', { durationMs: 700, signerKind: 'pem' });
    custom.dispose();
    return registry.metrics().then((text) => {
      const m = parse(text);
      expect(m.get('iadvize_tokens_issued_total{signer="pem"}')).toBe(2); // once per live subscriber, none after dispose
      expect(m.get('myapp_iadvize_tokens_issued_total{signer="pem"}')).toBe(1);
      expect(m.get('myapp_iadvize_signing_duration_seconds_bucket{le="0.5",signer="pem",outcome="issued"}')).toBe(0);
      expect(m.get('myapp_iadvize_signing_duration_seconds_bucket{le="1",signer="pem",outcome="issued"}')).toBe(1);
      expect(() => new IAdvizePrometheusMetrics(events, { registry, prefix: '9bad-' })).toThrow(/prefix "9bad-" is not a valid Prometheus metric name prefix/);
    });
  });
});
