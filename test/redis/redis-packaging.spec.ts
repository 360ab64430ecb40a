/**
 * `ioredis` stays an optional peer: only the `nestjs-iadvize-auth/redis`
 * subpath reaches it, lazily (when the store connects), and without it the
 * store fails with MissingDependencyError ("npm install ioredis").
 * Reads the built dist/ (run `npm run build` first; `npm test` does).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(process.cwd());
const dist = join(root, 'dist');

describe('ioredis is an optional peer of the /redis subpath', () => {
  let sandbox: string;

  beforeAll(() => {
    if (!existsSync(join(dist, 'redis', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    sandbox = mkdtempSync(join(tmpdir(), 'iadvize-no-ioredis-'));
    cpSync(dist, join(sandbox, 'dist'), { recursive: true });
    writeFileSync(join(sandbox, 'package.json'), JSON.stringify({ name: 'no-ioredis-check', type: 'module' }));
    const from = join(root, 'node_modules');
    mkdirSync(join(sandbox, 'node_modules'));
    for (const entry of readdirSync(from)) {
      if (entry.startsWith('.') || entry === 'ioredis') continue;
      symlinkSync(join(from, entry), join(sandbox, 'node_modules', entry), 'dir');
    }
  });

  afterAll(() => {
    if (sandbox) rmSync(sandbox, { recursive: true, force: true });
  });

  it('is imported only lazily, and only by the redis store', () => {
    // The store's connection (redis-link.js) imports it when it connects; no file of the subpath imports it statically.
    const link = readFileSync(join(dist, 'redis', 'redis-link.js'), 'utf8');
    expect(link).toMatch(/import\(\s*['"]ioredis['"]\s*\)/);
    for (const file of readdirSync(join(dist, 'redis')).filter((f) => f.endsWith('.js'))) {
      expect(readFileSync(join(dist, 'redis', file), 'utf8')).not.toMatch(/^\s*import\s[^;]*from\s*['"]ioredis['"]/m);
    }
    expect(readFileSync(join(dist, 'index.js'), 'utf8')).not.toContain('ioredis');
  });

  it('a store without ioredis installed fails with "npm install ioredis" when it connects', () => {
    const script = `
      import { RedisTokenStore } from './dist/redis/index.js';
      import { IAdvizeAuthEvents, MissingDependencyError } from './dist/index.js';
      const store = new RedisTokenStore({ url: 'redis://127.0.0.1:1', secret: 'x'.repeat(32) })
        .open({ tokenTtlSeconds: 60, issuer: 'https://brand.example', iadvizeKeyThumbprint: 'k', signingTimeoutMs: 1000, clock: Date.now, events: new IAdvizeAuthEvents() });
      try { await store.connect(); console.log('NO ERROR'); }
      catch (e) { console.log(JSON.stringify({ missing: e instanceof MissingDependencyError, code: e.code, message: e.message })); }
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: sandbox, stdio: 'pipe', timeout: 60_000 }).toString().trim();
    expect(JSON.parse(out.split('\n').at(-1) as string)).toEqual({ missing: true, code: 'IADVIZE_MISSING_DEPENDENCY', message: expect.stringContaining('npm install ioredis') });
  });
});
