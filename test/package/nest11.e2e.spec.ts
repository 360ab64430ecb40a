// The core token-endpoint e2e against NestJS 11, on Express and Fastify.
//
// @nestjs/*@11 cannot be installed as npm aliases in the root (their peers
// resolve to the root's v12: ERESOLVE), so test/fixtures/nest11 has its own
// package.json + package-lock.json, installed here with `npm ci` when its
// node_modules is missing (a few seconds from the npm cache). The built dist is
// copied (not symlinked) into that node_modules, so the library's own
// `@nestjs/common` / `@nestjs/core` imports load v11; the first test proves it.
// The CommonJS app of test/fixtures/cjs-app is copied there too
// (node_modules/.cjs-app/main.cjs), so its require()s resolve to v11: a
// CommonJS NestJS 11 app loading the library's CommonJS build (dist/cjs).
// Run `npm run build` first.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import type { FakeIAdvize } from '../../lib/testing/index.js';
import { authTestSetup } from '../support/auth-module.js';
import { startChildApp, type ChildApp } from '../support/child-app.js';
import { expectNoSecrets } from '../support/keys.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixtureDir = join(root, 'test', 'fixtures', 'nest11');
const fixtureModules = join(fixtureDir, 'node_modules');
const ISSUER = 'https://brand.example';

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

/** True when node_modules holds every package at the version package-lock.json pins. */
function installMatchesLock(): boolean {
  const locked = readJson(join(fixtureDir, 'package-lock.json')).packages as Record<string, { version?: string; optional?: boolean }>;
  return Object.entries(locked).every(([path, entry]) => {
    if (path === '' || entry.optional) return true; // optional entries may be for another platform
    const manifest = join(fixtureDir, path, 'package.json');
    return existsSync(manifest) && readJson(manifest).version === entry.version;
  });
}

/** Installs the fixture's locked NestJS 11 packages when missing, then copies the built library into them. */
function prepareFixture(): void {
  if (!installMatchesLock()) {
    execFileSync('npm', ['ci', '--prefix', 'test/fixtures/nest11', '--no-audit', '--no-fund', '--ignore-scripts'], {
      cwd: root,
      stdio: 'pipe',
      timeout: 180_000,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
  }
  const dist = join(root, 'dist');
  if (!existsSync(join(dist, 'index.js'))) throw new Error('dist/index.js is missing: run `npm run build` before this spec');
  const target = join(fixtureModules, 'nestjs-iadvize-auth');
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  cpSync(dist, join(target, 'dist'), { recursive: true });
  const pkg = readJson(join(root, 'package.json'));
  const { name, version, type, main, types, exports, dependencies, peerDependencies } = pkg;
  writeFileSync(join(target, 'package.json'), JSON.stringify({ name, version, type, main, types, exports, dependencies, peerDependencies }, null, 2));
  mkdirSync(join(fixtureModules, '.cjs-app'), { recursive: true });
  cpSync(join(root, 'test', 'fixtures', 'cjs-app', 'main.cjs'), CJS_APP);
}

const CJS_APP = join(fixtureModules, '.cjs-app', 'main.cjs');

let iadvize: FakeIAdvize;
let brandPublicPem: string;
const apps = new Map<string, ChildApp>();

beforeAll(async () => {
  prepareFixture();
  const setup = await authTestSetup();
  brandPublicPem = setup.brandPublicKeyPem;
  iadvize = setup.iadvize;
  const env = { TEST_BRAND_KEY: setup.moduleOptions.signingKey.pem, TEST_IADVIZE_PUBLIC_KEY: iadvize.publicKeyPem };
  const script = join(fixtureDir, 'app.mjs');
  await Promise.all(['express', 'fastify'].map(async (p) => apps.set(p, await startChildApp(script, [p], env))));
  await Promise.all(['express', 'fastify'].map(async (p) => apps.set(`cjs/${p}`, await startChildApp(CJS_APP, [p], env))));
}, 240_000);
afterAll(() => Promise.all([...apps.values()].map((a) => a.stop())));

describe.each(['express', 'fastify'])('NestJS 11 on %s', (platform) => {
  const app = () => apps.get(platform)!;
  const http = () => request(app().url);
  const open = (token: string) => iadvize.open(token, brandPublicPem, { issuer: ISSUER });

  it('runs the library on @nestjs/core, @nestjs/common and @nestjs/terminus 11.x from the fixture', async () => {
    const res = await http().get('/test/versions').expect(200);
    expect(res.body.app.core).toMatch(/^11\./);
    expect(res.body.app.common).toMatch(/^11\./);
    expect(res.body.app.terminus).toMatch(/^11\./);
    expect(res.body.library).toEqual(res.body.app);
    expect(res.body.libraryEntry.startsWith(join(fixtureModules, 'nestjs-iadvize-auth'))).toBe(true);
    expect(res.body.coreLoadedFrom.startsWith(join(fixtureModules, '@nestjs', 'core'))).toBe(true);
  });

  it('POST and GET return a token for the signed-in user, with no-store', async () => {
    const post = await http().post('/iadvize/token').set('Authorization', 'Bearer tok-alice').expect(200);
    expect(post.headers['cache-control']).toBe('no-store');
    expect(Object.keys(post.body).sort()).toEqual(['expiresAt', 'token']);
    const opened = await open(post.body.token);
    expect(opened.userId).toBe('alice');
    expect(opened.claims.exp).toBe(post.body.expiresAt);
    const get = await http().get('/iadvize/token').set('Authorization', 'Bearer tok-numeric').expect(200);
    expect((await open(get.body.token)).userId).toBe('1234');
  });

  it('401 for anonymous or forged sessions; the body never chooses the user; the global guard runs first', async () => {
    const res = await http().post('/iadvize/token').expect(401);
    expect(res.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: 'Sign in to get an iAdvize token', code: 'IADVIZE_UNAUTHENTICATED' });
    await http().post('/iadvize/token').set('Authorization', 'Bearer forged').expect(401);
    const spoof = await http().post('/iadvize/token?userId=bob').set('Authorization', 'Bearer tok-alice').send({ userId: 'bob' }).expect(200);
    expect((await open(spoof.body.token)).userId).toBe('alice');
    await http().post('/iadvize/token').set('Authorization', 'Bearer tok-alice').set('X-Blocked', 'yes').expect(403);
  });

  it('an identity iAdvize would refuse gets 422, logged once, nothing echoed', async () => {
    const before = app().output().split('\n').filter((l) => l.includes('IADVIZE_INVALID_IDENTITY')).length;
    const res = await http().post('/iadvize/token').set('Authorization', 'Bearer tok-bad').expect(422);
    expect(res.body.code).toBe('IADVIZE_INVALID_IDENTITY');
    expect(res.text).not.toContain('xxxxxxxxxx');
    expect(res.text).not.toContain('leak@example.com');
    await new Promise((r) => setTimeout(r, 50)); // let the log line arrive
    const lines = app().output().split('\n').filter((l) => l.includes('IADVIZE_INVALID_IDENTITY'));
    expect(lines.length - before).toBe(1);
  });

  it("the app's own controller injects TokenService and IAdvizeIdentityGuard", async () => {
    const res = await http().post('/chat/token').set('Authorization', 'Bearer tok-bob').expect(200);
    expect((await open(res.body.token)).userId).toBe('bob');
    await http().post('/chat/token').expect(401);
  });

  it('a failing or hanging signer gives 503 with Retry-After and unhealthy readiness and terminus checks, then recovers; events and metrics count each outcome', async () => {
    const before = (await http().get('/test/events').expect(200)).body as Record<string, number>;
    const delta = async () => {
      const now = (await http().get('/test/events').expect(200)).body as Record<string, number>;
      return Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => v !== 0));
    };
    try {
      await http().post('/test/signer/fail').expect(200);
      let res = await http().post('/iadvize/token').set('Authorization', 'Bearer tok-alice').expect(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.body).toEqual({ statusCode: 503, error: 'Service Unavailable', message: 'Token signing is temporarily unavailable; retry later', code: 'IADVIZE_SIGNING_UNAVAILABLE' });
      expect(res.text).not.toMatch(/hunter2|ECONNREFUSED/);
      const down = (await http().get('/ready').expect(200)).body;
      expect(down).toMatchObject({ healthy: false, code: 'IADVIZE_SIGNING_UNAVAILABLE', signerKind: 'flaky-kms', cached: false });
      const terminusDown = await http().get('/health').expect(503);
      expect(terminusDown.body.error.iadvize).toMatchObject({ status: 'down', code: 'IADVIZE_SIGNING_UNAVAILABLE', signer: 'flaky-kms' });

      await http().post('/test/signer/hang').expect(200);
      const started = Date.now();
      res = await http().post('/iadvize/token').set('Authorization', 'Bearer tok-alice').expect(503);
      expect(Date.now() - started).toBeLessThan(3000);

      await http().post('/test/signer/ok').expect(200);
      res = await http().post('/iadvize/token').set('Authorization', 'Bearer tok-alice').expect(200);
      expect((await open(res.body.token)).userId).toBe('alice');
      expect((await http().get('/ready').expect(200)).body).toMatchObject({ healthy: true, signerKind: 'flaky-kms' });
      expect((await http().get('/health').expect(200)).body.info.iadvize).toMatchObject({ status: 'up', signer: 'flaky-kms' });
      await http().post('/iadvize/token').expect(401);

      expect(await delta()).toEqual({
        'signer.failure:IADVIZE_SIGNING_UNAVAILABLE': 2,
        'health.checked:IADVIZE_SIGNING_UNAVAILABLE': 2,
        'health.checked': 2,
        'token.issued': 1,
        'token.refused:IADVIZE_UNAUTHENTICATED': 1,
      });
      const metrics = (await http().get('/metrics').expect(200)).text;
      expect(metrics).toMatch(/^iadvize_token_errors_total\{outcome="failed",code="IADVIZE_SIGNING_UNAVAILABLE"\} [1-9]/m);
      expect(metrics).toMatch(/^iadvize_signer_up\{signer="flaky-kms"\} 1$/m);
      expect(metrics).toMatch(/^iadvize_tokens_issued_total\{signer="flaky-kms"\} [1-9]/m);
      const output = app().output();
      expect(output).not.toContain('hunter2');
      expectNoSecrets(output, [res.body.token]);
    } finally {
      await http().post('/test/signer/ok');
    }
  });
});

describe.each(['express', 'fastify'])('a CommonJS app on NestJS 11 (the CommonJS build) on %s', (platform) => {
  const http = () => request(apps.get(`cjs/${platform}`)!.url);
  const open = (token: string) => iadvize.open(token, brandPublicPem, { issuer: ISSUER });

  it('loads the CommonJS build through require() on @nestjs/core 11 (the ESM build only through import)', async () => {
    const res = await http().get('/compat').expect(200);
    expect(res.body).toEqual({
      moduleSystem: 'commonjs',
      requireModule: true,
      node: process.versions.node,
      nestCore: expect.stringMatching(/^11\./),
      requireResolves: 'dist/cjs/index.js',
      sameModuleClass: false,
      injectedIsOwnTokenService: true,
      injectedIsOtherBuildsTokenService: false,
    });
  });

  it('serves tokens from the built-in endpoint and from its own controller; anonymous gets 401; terminus 11 reports up', async () => {
    const builtIn = await http().post('/iadvize/token').set('X-Session', 'alice').expect(200);
    expect(builtIn.headers['cache-control']).toBe('no-store');
    expect((await open(builtIn.body.token)).userId).toBe('alice');
    const own = await http().post('/chat/token').set('X-Session', 'bob').expect(200);
    expect((await open(own.body.token)).userId).toBe('bob');
    const anonymous = await http().post('/iadvize/token').expect(401);
    expect(anonymous.body.code).toBe('IADVIZE_UNAUTHENTICATED');
    const health = await http().get('/health').expect(200);
    expect(health.body.info.iadvize).toMatchObject({ status: 'up', signer: 'env' });
  });
});
