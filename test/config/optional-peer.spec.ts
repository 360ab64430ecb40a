// The static part reads lib/ sources; the last block loads the built package
// (run `npm run build` first) in an app where @nestjs/config is not installed.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const LIB = fileURLToPath(new URL('../../lib/', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

/** Every bare package imported (statically or dynamically) by `entry` and the lib files it reaches. */
function packagesReachedFrom(entry: string): { packages: Set<string>; files: Set<string> } {
  const packages = new Set<string>();
  const files = new Set<string>();
  const queue = [resolve(LIB, entry)];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (files.has(file)) continue;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    const specifiers = [
      ...source.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm),
      ...source.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm),
      ...source.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g),
    ].map((m) => m[1]);
    for (const spec of specifiers) {
      if (spec.startsWith('.')) queue.push(join(dirname(file), spec.replace(/\.js$/, '.ts')));
      else if (!spec.startsWith('node:')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
    }
  }
  return { packages, files };
}

describe('@nestjs/config stays an optional peer', () => {
  it('is never reached from the main entry', () => {
    const { packages, files } = packagesReachedFrom('index.ts');
    expect(files.size).toBeGreaterThan(10);
    expect(packages).toContain('@nestjs/common');
    expect(packages).not.toContain('@nestjs/config');
  });

  it('is never reached from the CLI, which needs only node built-ins, jose and the library', () => {
    const { packages, files } = packagesReachedFrom('cli/main.ts');
    expect([...files].some((f) => f.endsWith('iadvize-env.options.ts'))).toBe(true);
    expect(packages).not.toContain('@nestjs/config');
    for (const p of packages) expect(['jose', '@nestjs/common', '@nestjs/core', 'reflect-metadata', 'rxjs']).toContain(p);
  });

  it('is reached from the /config subpath, through iadvizeAuthConfig only', () => {
    const { packages } = packagesReachedFrom('config/index.ts');
    expect(packages).toContain('@nestjs/config');
    expect(packagesReachedFrom('config/iadvize-env.options.ts').packages).not.toContain('@nestjs/config');
  });

  it('is never reached from the /config/env subpath, which needs only jose (and @nestjs/common types)', () => {
    const { packages, files } = packagesReachedFrom('config/env.ts');
    expect([...files].some((f) => f.endsWith('iadvize-env.options.ts'))).toBe(true);
    expect([...files].some((f) => f.endsWith('env-key.provider.ts'))).toBe(true);
    expect(packages).not.toContain('@nestjs/config');
    for (const p of packages) expect(['jose', '@nestjs/common']).toContain(p);
  });
});

describe('the built package in an app without @nestjs/config', () => {
  let app: string;

  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist', 'config', 'env.js'))) throw new Error('dist/config/env.js is missing: run `npm run build` before this spec');
    // node_modules holds the package (a copy: a symlink would resolve its
    // imports from this repository, where @nestjs/config is installed), jose
    // and the required peers, and no @nestjs/config.
    app = mkdtempSync(join(tmpdir(), 'iadvize-no-nestjs-config-'));
    const pkgDir = join(app, 'node_modules', 'nestjs-iadvize-auth');
    mkdirSync(pkgDir, { recursive: true });
    mkdirSync(join(app, 'node_modules', '@nestjs'));
    cpSync(join(ROOT, 'dist'), join(pkgDir, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(pkgDir, 'package.json'));
    for (const dep of ['jose', '@nestjs/common', '@nestjs/core', 'reflect-metadata', 'rxjs']) {
      symlinkSync(join(ROOT, 'node_modules', dep), join(app, 'node_modules', dep), 'dir');
    }
    writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true, "type": "module" }\n');
  });
  afterAll(() => app && rmSync(app, { recursive: true, force: true }));

  /** Loads `specifier` from the app under import and require; `call` runs on the ESM namespace. */
  async function load(specifier: string, call = 'Object.keys(m).length'): Promise<{ import: string; require: string }> {
    const script = `
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      const out = {};
      try { const m = await import(${JSON.stringify(specifier)}); out.import = String(${call}); } catch (e) { out.import = 'ERR ' + e.code + ' ' + e.message.split('\\n')[0]; }
      try { const m = require(${JSON.stringify(specifier)}); out.require = String(${call}); } catch (e) { out.require = 'ERR ' + e.code + ' ' + e.message.split('\\n')[0]; }
      console.log(JSON.stringify(out));
    `;
    writeFileSync(join(app, 'load.mjs'), script);
    const { stdout } = await run(process.execPath, ['load.mjs'], { cwd: app, env: { PATH: process.env.PATH ?? '' } });
    return JSON.parse(stdout.trim().split('\n').pop() as string) as { import: string; require: string };
  }

  it('loads nestjs-iadvize-auth/config/env and reads the environment with it', async () => {
    const r = await load('nestjs-iadvize-auth/config/env', `m.iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: 'https://brand.example', IADVIZE_SIGNING_KEY_FILE: 'k.pem' }).issuer`);
    expect(r).toEqual({ import: 'https://brand.example', require: 'https://brand.example' });
  });

  it('loads the main entry', async () => {
    const r = await load('nestjs-iadvize-auth', 'typeof m.IAdvizeAuthModule');
    expect(r).toEqual({ import: 'function', require: 'function' });
  });

  it('cannot load nestjs-iadvize-auth/config, which needs @nestjs/config (the check is live)', async () => {
    const r = await load('nestjs-iadvize-auth/config');
    expect(r.import).toMatch(/^ERR ERR_MODULE_NOT_FOUND .*'@nestjs\/config'/);
    expect(r.require).toMatch(/^ERR (ERR_MODULE_NOT_FOUND|MODULE_NOT_FOUND) .*'@nestjs\/config'/);
  });
});
