/**
 * Packaging checks of the optional SDKs (as @nestjs/terminus's
 * tools/import-check.ts does for its optional peers):
 * - the main entry's typings (dist/index.d.ts and every .d.ts it imports,
 *   transitively) never reference an optional peer dependency;
 * - the main entry's JavaScript never imports one statically;
 * - each KMS subpath references only its own SDK, and only lazily at runtime;
 * - with the SDK not installed, a provider fails at startup with
 *   MissingDependencyError ("install X").
 *
 * Runs `npm run build` first when dist/ is missing (`npm test` builds anyway).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const root = resolve(process.cwd());
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, { types?: string; default?: string } | string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};
const optionalPeers = Object.entries(pkg.peerDependenciesMeta ?? {})
  .filter(([, meta]) => meta.optional)
  .map(([name]) => name);

/** The KMS subpaths and the one optional SDK each may use. */
const KMS_SUBPATHS: Record<string, string | undefined> = {
  './aws-kms': '@aws-sdk/client-kms',
  './gcp-kms': '@google-cloud/kms',
  './azure-key-vault': '@azure/keyvault-keys',
  './vault-transit': undefined,
  './pkcs11': 'pkcs11js',
};

function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Module specifiers of a .d.ts or .js file: static imports/exports, `import()` types, references. */
function specifiers(source: string, { dynamic }: { dynamic: boolean }): string[] {
  const found: string[] = [];
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/(?!\/ <reference).*$/gm, '');
  for (const m of text.matchAll(/\b(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/g)) found.push(m[1]);
  if (dynamic) for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]);
  for (const m of text.matchAll(/\brequire\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]);
  for (const m of text.matchAll(/\/\/\/\s*<reference\s+types=["']([^"']+)["']/g)) found.push(m[1]);
  for (const m of text.matchAll(/\/\/\/\s*<reference\s+path=["']([^"']+)["']/g)) found.push(`./${m[1]}`);
  return found;
}

function resolveRelative(from: string, spec: string, ext: '.d.ts' | '.js'): string {
  const base = resolve(dirname(from), spec);
  const candidates =
    ext === '.d.ts'
      ? [base.replace(/\.js$/, '.d.ts'), `${base}.d.ts`, base.endsWith('.d.ts') ? base : '', join(base, 'index.d.ts')]
      : [base, `${base}.js`, join(base, 'index.js')];
  const hit = candidates.find((c) => c && existsSync(c) && !c.endsWith('/'));
  if (!hit) throw new Error(`cannot resolve ${spec} from ${from}`);
  return hit;
}

/** Walks `entry` and its relative imports; returns bare package names per file that references them. */
function walk(entry: string, ext: '.d.ts' | '.js', dynamic: boolean): Map<string, Set<string>> {
  const seen = new Set<string>();
  const bare = new Map<string, Set<string>>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of specifiers(readFileSync(file, 'utf8'), { dynamic })) {
      if (spec.startsWith('.')) queue.push(resolveRelative(file, spec, ext));
      else {
        const name = packageOf(spec.replace(/^node:/, 'node:'));
        if (!bare.has(name)) bare.set(name, new Set());
        bare.get(name)?.add(file.slice(root.length + 1));
      }
    }
  }
  return bare;
}

function entryOf(subpath: string, kind: 'types' | 'default'): string {
  const target = pkg.exports[subpath];
  const rel = typeof target === 'string' ? target : target?.[kind];
  if (!rel) throw new Error(`package.json exports has no ${kind} for ${subpath}`);
  return join(root, rel);
}

beforeAll(() => {
  if (!existsSync(join(dist, 'index.d.ts')) || !Object.keys(KMS_SUBPATHS).every((s) => existsSync(entryOf(s, 'types')))) {
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'pipe', timeout: 300_000 });
  }
}, 320_000);

describe('optional SDKs stay out of the main entry', () => {
  it('lists the optional peers to guard', () => {
    expect(optionalPeers).toEqual(expect.arrayContaining(['@aws-sdk/client-kms', '@google-cloud/kms', '@azure/keyvault-keys', 'pkcs11js']));
  });

  it('dist/index.d.ts and every .d.ts it imports never reference an optional peer', () => {
    const refs = walk(entryOf('.', 'types'), '.d.ts', true);
    const offending = optionalPeers.filter((p) => refs.has(p)).map((p) => `${p} (from ${[...(refs.get(p) ?? [])].join(', ')})`);
    expect(offending).toEqual([]);
    expect(refs.size).toBeGreaterThan(0); // the walk did find the main entry's imports
  });

  it('dist/index.js never imports an optional peer, statically or lazily', () => {
    const refs = walk(entryOf('.', 'default'), '.js', true);
    const offending = optionalPeers.filter((p) => refs.has(p)).map((p) => `${p} (from ${[...(refs.get(p) ?? [])].join(', ')})`);
    expect(offending).toEqual([]);
  });

  it.each(Object.entries(KMS_SUBPATHS))('%s references only its own SDK, and loads it lazily', (subpath, sdk) => {
    const types = walk(entryOf(subpath, 'types'), '.d.ts', true);
    const others = optionalPeers.filter((p) => p !== sdk && types.has(p));
    expect(others).toEqual([]);
    // The detector works: the cloud subpaths' option types do name their SDK.
    if (sdk && sdk !== 'pkcs11js') expect(types.has(sdk)).toBe(true);
    const staticJs = walk(entryOf(subpath, 'default'), '.js', false);
    expect(optionalPeers.filter((p) => staticJs.has(p))).toEqual([]);
    const lazyJs = walk(entryOf(subpath, 'default'), '.js', true);
    expect(optionalPeers.filter((p) => lazyJs.has(p))).toEqual(sdk ? [sdk] : []);
  });
});

describe('a missing SDK fails at startup with "install X"', () => {
  let sandbox: string;

  beforeAll(() => {
    // A copy of the package whose node_modules holds everything but the optional peers.
    sandbox = mkdtempSync(join(tmpdir(), 'iadvize-no-sdk-'));
    cpSync(dist, join(sandbox, 'dist'), { recursive: true });
    writeFileSync(join(sandbox, 'package.json'), JSON.stringify({ name: 'no-sdk-check', type: 'module' }));
    const from = join(root, 'node_modules');
    const to = join(sandbox, 'node_modules');
    mkdirSync(to);
    for (const entry of readdirSync(from)) {
      if (entry.startsWith('.')) continue;
      if (!entry.startsWith('@')) {
        if (!optionalPeers.includes(entry)) symlinkSync(join(from, entry), join(to, entry), 'dir');
        continue;
      }
      mkdirSync(join(to, entry));
      for (const scoped of readdirSync(join(from, entry))) {
        if (!optionalPeers.includes(`${entry}/${scoped}`)) symlinkSync(join(from, entry, scoped), join(to, entry, scoped), 'dir');
      }
    }
  });

  afterAll(() => {
    rmSync(sandbox, { recursive: true, force: true });
  });

  const cases: Array<[string, string, string]> = [
    ['aws-kms', 'AwsKmsKeyProvider', `{ keyId: 'alias/x', region: 'eu-west-1' }`],
    ['gcp-kms', 'GcpKmsKeyProvider', `{ keyVersionName: 'projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1' }`],
    ['azure-key-vault', 'AzureKeyVaultKeyProvider', `{ keyId: 'https://v.vault.azure.net/keys/k', credential: { getToken: async () => null } }`],
    ['pkcs11', 'Pkcs11KeyProvider', `{ module: process.execPath, tokenLabel: 't', keyId: '01', pin: 'x' }`],
  ];

  it.each(cases)('%s', (file, cls, options) => {
    const script = `
      import { ${cls} } from './dist/kms/${file}.js';
      import { MissingDependencyError } from './dist/index.js';
      const p = new ${cls}(${options});
      try { await p.init(); console.log('NO ERROR'); }
      catch (e) { console.log(JSON.stringify({ missing: e instanceof MissingDependencyError, code: e.code, message: e.message })); }
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: sandbox, stdio: 'pipe', timeout: 60_000 }).toString().trim();
    const result = JSON.parse(out.split('\n').at(-1) as string) as { missing: boolean; code: string; message: string };
    const sdk = KMS_SUBPATHS[`./${file}`] as string;
    expect(result).toEqual({ missing: true, code: 'IADVIZE_MISSING_DEPENDENCY', message: expect.stringContaining(`npm install ${sdk}`) });
  });

  it('the main entry loads without any optional peer', () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', `import 'reflect-metadata'; const m = await import('./dist/index.js'); console.log(typeof m.IAdvizeAuthModule);`], {
      cwd: sandbox,
      stdio: 'pipe',
      timeout: 60_000,
    }).toString();
    expect(out.trim().split('\n').at(-1)).toBe('function');
  });
});
