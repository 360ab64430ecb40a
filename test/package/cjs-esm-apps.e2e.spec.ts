// A CommonJS app (the CommonJS build, dist/cjs) and an ESM app, each a real NestJS 12 app in its
// own Node process using the built package (run `npm run build` first), on
// Express and Fastify. Jest's ESM mode cannot require() ESM on Node 20, hence
// the child processes (test/support/child-app.ts).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import type { FakeIAdvize } from '../../lib/testing/index.js';
import { authTestSetup } from '../support/auth-module.js';
import { startChildApp, type ChildApp } from '../support/child-app.js';
import { expectNoSecrets } from '../support/keys.js';

const fixture = (p: string) => fileURLToPath(new URL(`../fixtures/${p}`, import.meta.url));
const rootNestCore = JSON.parse(readFileSync(fileURLToPath(new URL('../../node_modules/@nestjs/core/package.json', import.meta.url)), 'utf8')).version as string;

const APPS = [
  ['CommonJS (require)', 'cjs-app/main.cjs', 'commonjs'],
  ['ESM (import)', 'esm-app/main.mjs', 'esm'],
] as const;
const CASES = APPS.flatMap(([label, script, moduleSystem]) => (['express', 'fastify'] as const).map((platform) => [label, platform, script, moduleSystem] as const));

/** Value of one sample line of a Prometheus text exposition. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

let iadvize: FakeIAdvize;
let brandPublicPem: string;
const apps = new Map<string, ChildApp>();

beforeAll(async () => {
  const setup = await authTestSetup();
  brandPublicPem = setup.brandPublicKeyPem;
  iadvize = setup.iadvize;
  const env = { TEST_BRAND_KEY: setup.moduleOptions.signingKey.pem, TEST_IADVIZE_PUBLIC_KEY: iadvize.publicKeyPem };
  await Promise.all(CASES.map(async ([label, platform, script]) => apps.set(`${label}/${platform}`, await startChildApp(fixture(script), [platform], env))));
}, 60_000);
afterAll(() => Promise.all([...apps.values()].map((a) => a.stop())));

describe.each(CASES)('%s app on %s', (label, platform, _script, moduleSystem) => {
  const url = () => apps.get(`${label}/${platform}`)!.url;

  it('gets the CommonJS build through require() and the ESM build through import, on NestJS 12; DI uses the app\'s own', async () => {
    const res = await request(url()).get('/compat').expect(200);
    expect(res.body).toEqual({
      moduleSystem,
      requireModule: true,
      node: process.versions.node,
      nestCore: rootNestCore,
      requireResolves: 'dist/cjs/index.js',
      ...(moduleSystem === 'esm' ? { importResolves: 'dist/index.js' } : {}),
      // One instance per module system (docs/compatibility.md, "CommonJS build"):
      sameModuleClass: false,
      injectedIsOwnTokenService: true,
      injectedIsOtherBuildsTokenService: false,
    });
    expect(rootNestCore).toMatch(/^12\./);
  });

  it('serves tokens from the built-in endpoint and from its own controller; anonymous gets 401', async () => {
    const builtIn = await request(url()).post('/iadvize/token').set('X-Session', 'alice').expect(200);
    expect(builtIn.headers['cache-control']).toBe('no-store');
    expect((await iadvize.open(builtIn.body.token, brandPublicPem, { issuer: 'https://brand.example' })).userId).toBe('alice');

    const own = await request(url()).post('/chat/token').set('X-Session', 'bob').expect(200);
    expect((await iadvize.open(own.body.token, brandPublicPem, { issuer: 'https://brand.example' })).userId).toBe('bob');

    const anonymous = await request(url()).post('/iadvize/token').expect(401);
    expect(anonymous.body.code).toBe('IADVIZE_UNAUTHENTICATED');
    await request(url()).post('/chat/token').expect(401);
  });

  it('reports health through terminus and counts tokens in Prometheus metrics', async () => {
    const health = await request(url()).get('/health').expect(200);
    expect(health.body.status).toBe('ok');
    expect(health.body.info.iadvize).toMatchObject({ status: 'up', signer: 'env' });

    const metrics = await request(url()).get('/metrics').expect(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(sample(metrics.text, 'iadvize_tokens_issued_total{signer="env"}')).toBe(2);
    expect(sample(metrics.text, 'iadvize_token_errors_total{outcome="refused",code="IADVIZE_UNAUTHENTICATED"}')).toBe(2);
    expect(sample(metrics.text, 'iadvize_signing_duration_seconds_count{signer="env",outcome="issued"}')).toBe(2);
    expect(sample(metrics.text, 'iadvize_signer_up{signer="env"}')).toBe(1);
    expect(metrics.text).not.toMatch(/alice|bob/);
    expectNoSecrets(metrics.text + health.text);
  });
});
