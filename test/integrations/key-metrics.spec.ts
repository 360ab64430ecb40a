import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { TokenService } from '../../lib/index.js';
import { IADVIZE_AUTH_CONFIG } from '../../lib/iadvize.constants.js';
import type { ResolvedIAdvizeAuthConfig } from '../../lib/startup/resolved-config.js';
import { provideIAdvizePrometheusMetrics } from '../../lib/integrations/prometheus.js';
import { authTestModule, authTestSetup } from '../support/auth-module.js';
import { rsaKeyPair, tempDir } from '../support/keys.js';

const SWITCH_MS = Date.parse('2027-01-15T09:00:00Z');

it('key switches and refused key file reloads are counted in Prometheus', async () => {
  const [setup, keyB, keyC] = await Promise.all([authTestSetup(), rsaKeyPair('metrics-b'), rsaKeyPair('metrics-c')]);
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'brand-2027.pem');
    writeFileSync(file, keyB.privatePem, { mode: 0o600 });
    const registry = new Registry();
    const clock = { now: SWITCH_MS - 1000 };
    const { moduleRef } = await authTestModule(setup, {
      options: {
        clock: () => clock.now,
        signingKey: {
          schedule: [
            { key: setup.moduleOptions.signingKey }, // key A: the setup's brand key
            { key: { file, watch: true, watchIntervalMs: 3_600_000 }, from: '2027-01-15T09:00:00Z' },
          ],
        },
        controller: false,
        extraProviders: [provideIAdvizePrometheusMetrics({ registry })],
      },
    });
    await moduleRef.init();
    const tokens = moduleRef.get(TokenService);
    const config = moduleRef.get<ResolvedIAdvizeAuthConfig>(IADVIZE_AUTH_CONFIG);

    writeFileSync(file, 'not a key at all %%', { mode: 0o600 });
    expect(await config.signingKeys?.checkNow()).toEqual(['refused']);
    clock.now = SWITCH_MS;
    await tokens.createToken({ userId: 'alice' });
    writeFileSync(file, keyC.privatePem, { mode: 0o600 });
    expect(await config.signingKeys?.checkNow()).toEqual(['reloaded']);

    const text = await registry.metrics();
    expect(text).toContain('iadvize_signing_key_switches_total{reason="schedule"} 1');
    expect(text).toContain('iadvize_signing_key_switches_total{reason="reload"} 1');
    expect(text).toContain('iadvize_signing_key_reload_failures_total 1');
    await moduleRef.close();
  } finally {
    cleanup();
  }
});
