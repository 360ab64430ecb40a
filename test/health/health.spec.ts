import { TokenService } from '../../lib/index.js';
import { IAdvizeAuthEvents } from '../../lib/events/iadvize-auth-events.service.js';
import { IAdvizeHealthService } from '../../lib/health/iadvize-health.service.js';
import type { FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestModule, authTestSetup } from '../support/auth-module.js';
import { expectNoSecrets } from '../support/keys.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { kmsLikeSigner } from '../support/kms-like-signer.js';

let auth: FakeIAdvizeSetup;

beforeAll(async () => {
  auth = await authTestSetup();
});

/** A module whose clock the test moves, with a switchable signer (its startup self-check call is not counted). */
async function setup(signingTimeoutMs = 5000) {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const signer = kmsLikeSigner(auth.moduleOptions.signingKey.pem);
  const logger = new CapturingLogger();
  const { moduleRef } = await authTestModule(auth, {
    options: { signingKey: signer, signingTimeoutMs, clock: () => clock.now, controller: false },
    moduleLogger: logger,
  });
  signer.calls = 0;
  const health = moduleRef.get(IAdvizeHealthService);
  const checked: unknown[] = [];
  moduleRef.get(IAdvizeAuthEvents).on('health.checked', (e) => checked.push(e));
  return { health, signer, clock, logger, checked, tokens: moduleRef.get(TokenService) };
}

describe('IAdvizeHealthService', () => {
  it('signs a probe and verifies it with the cached public key: healthy', async () => {
    const { health, signer, tokens, clock } = await setup();
    const r = await health.check();
    expect(r).toEqual({
      healthy: true,
      signerKind: 'test-kms',
      signingKeyThumbprint: tokens.signingKeyThumbprint,
      checkedAt: clock.now,
      durationMs: expect.any(Number),
      cached: false,
    });
    expect(signer.calls).toBe(1);
  });

  it('reuses the result for 10 s by default, then checks again; maxAgeSeconds overrides it', async () => {
    const { health, signer, clock, checked } = await setup();
    const first = await health.check();
    clock.now += 9_999;
    const again = await health.check();
    expect(again).toEqual({ ...first, cached: true });
    expect(signer.calls).toBe(1);
    clock.now += 1;
    const fresh = await health.check();
    expect(fresh.cached).toBe(false);
    expect(fresh.checkedAt).toBe(clock.now);
    expect(signer.calls).toBe(2);
    await health.check({ maxAgeSeconds: 60 });
    expect(signer.calls).toBe(2);
    await health.check({ maxAgeSeconds: 0 });
    await health.check({ maxAgeSeconds: 0 });
    expect(signer.calls).toBe(4);
    expect(checked).toHaveLength(4);
    // A clock that went backwards does not pin a stale result.
    clock.now -= 60_000;
    await health.check();
    expect(signer.calls).toBe(5);
  });

  it('concurrent probes share one in-flight check', async () => {
    const { health, signer } = await setup();
    signer.mode = 'slow';
    const results = await Promise.all(Array.from({ length: 25 }, () => health.check({ maxAgeSeconds: 0 })));
    expect(signer.calls).toBe(1);
    expect(new Set(results.map((r) => r.checkedAt)).size).toBe(1);
    expect(results.every((r) => r.healthy)).toBe(true);
    // Results are copies: a caller mutating one does not change the cache.
    (results[0] as { healthy: boolean }).healthy = false;
    expect((await health.check()).healthy).toBe(true);
  });

  it('a failing signer: unhealthy with code, cached too, logged once, no backend message; recovers after the cache period', async () => {
    const { health, signer, clock, logger, checked } = await setup();
    signer.mode = 'fail';
    const down = await health.check();
    expect(down).toMatchObject({ healthy: false, code: 'IADVIZE_SIGNING_UNAVAILABLE', signerKind: 'test-kms', cached: false });
    expect(down.message).toBe('signing backend "test-kms" failed the health probe');
    for (let i = 0; i < 5; i++) expect(await health.check()).toMatchObject({ healthy: false, cached: true });
    expect(signer.calls).toBe(1);
    const warnings = logger.matching('signer health check failed', 'warn');
    expect(warnings).toEqual(['IADVIZE_SIGNING_UNAVAILABLE: signer health check failed: signing backend "test-kms" failed the health probe IAdvizeHealthService']); // message, then the Logger context
    expect(logger.all()).not.toMatch(/hunter2|ECONNREFUSED/);
    expectNoSecrets(JSON.stringify(down) + logger.all());
    signer.mode = 'ok';
    expect((await health.check()).healthy).toBe(false);
    clock.now += 10_000;
    expect(await health.check()).toMatchObject({ healthy: true, cached: false });
    expect(checked).toEqual([
      { healthy: false, signerKind: 'test-kms', durationMs: expect.any(Number), code: 'IADVIZE_SIGNING_UNAVAILABLE' },
      { healthy: true, signerKind: 'test-kms', durationMs: expect.any(Number) },
    ]);
  });

  it('a signer answering a signature that does not verify: IADVIZE_SIGNATURE_MISMATCH', async () => {
    const { health, signer } = await setup();
    signer.mode = 'wrong-signature';
    const r = await health.check();
    expect(r).toMatchObject({ healthy: false, code: 'IADVIZE_SIGNATURE_MISMATCH' });
    expect(r.message).toMatch(/does not verify with its public key/);
  });

  it('a hanging signer: unhealthy after signingTimeoutMs, and its request is aborted', async () => {
    const { health, signer } = await setup(200);
    signer.mode = 'hang';
    const started = Date.now();
    const r = await health.check();
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(r).toMatchObject({ healthy: false, code: 'IADVIZE_SIGNING_UNAVAILABLE' });
    expect(r.message).toMatch(/did not answer the health probe within 200 ms/);
    expect(signer.aborted).toBe(1);
  });

  it('rejects a nonsensical maxAgeSeconds', async () => {
    const { health } = await setup();
    await expect(health.check({ maxAgeSeconds: -1 })).rejects.toThrow(/maxAgeSeconds must be a number >= 0/);
    await expect(health.check({ maxAgeSeconds: Number.NaN })).rejects.toThrow(TypeError);
  });
});
