/**
 * The naming rule of CONTRIBUTING.md, checked: kebab-case `<name>.<role>.ts`
 * for a file holding one Nest or library role, plain `<name>.ts` for a module
 * of functions and types, and a package entry point named after its subpath.
 * Feature folders of test/ hold only specs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const LIB = join(ROOT, 'lib');
const TEST = join(ROOT, 'test');

/** The roles a lib/ file name may carry, as in `token.service.ts`. */
const ROLES = [
  'cache',
  'command',
  'config',
  'constants',
  'controller',
  'decorator',
  'defaults',
  'filter',
  'guard',
  'module',
  'module-definition',
  'options',
  'pool',
  'provider',
  'registry',
  'resolver',
  'rules',
  'runner',
  'service',
  'store',
  'warning',
] as const;

/** Kinds of spec besides the plain one: `x.e2e.spec.ts` runs over HTTP on both adapters, etc. */
const SPEC_KINDS = ['cli', 'consumer', 'e2e', 'property'] as const;

const KEBAB = '[a-z0-9]+(?:-[a-z0-9]+)*';
const LIB_NAME = new RegExp(`^${KEBAB}(?:\\.(?:${ROLES.join('|')}))?\\.ts$`);
const SPEC_NAME = new RegExp(`^${KEBAB}(?:\\.(?:${ROLES.join('|')}))?(?:\\.(?:${SPEC_KINDS.join('|')}))?\\.spec\\.ts$`);

/** A class given to Nest (`@Injectable()`, `@Controller()`, `@Catch()`, `@Module()`). */
const NEST_CLASS = /^@(?:Injectable|Controller|Catch|Module)\(/m;
/** A class that signs tokens: it implements KeyProvider or extends one of the library's providers. */
const KEY_PROVIDER_CLASS = /^export (?:abstract )?class \w+ (?:implements KeyProvider\b|extends \w*KeyProvider\b)/m;

function files(dir: string, keep: (name: string) => boolean): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name), keep) : keep(e.name) ? [join(dir, e.name)] : [],
  );
}

/** lib/ files that package.json "exports" (and "bin") publish as entry points, relative to lib/. */
function entryPoints(): Set<string> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    exports: Record<string, string | { default: string }>;
    bin?: Record<string, string>;
  };
  const targets = [
    ...Object.values(pkg.exports).map((t) => (typeof t === 'string' ? t : t.default)),
    ...Object.values(pkg.bin ?? {}),
  ];
  return new Set(
    targets.filter((t) => /^\.\/dist\/(?!cjs\/).*\.js$/.test(t)).map((t) => t.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')),
  );
}

/** Every broken rule, as `path: what is wrong`. */
function namingProblems(libFiles: readonly { path: string; text: string }[], entries: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const { path, text } of libFiles) {
    const name = path.split('/').pop()!;
    if (!LIB_NAME.test(name)) {
      problems.push(`${path}: not kebab-case "<name>.ts" or "<name>.<role>.ts" (roles: ${ROLES.join(', ')})`);
      continue;
    }
    if (entries.has(path)) continue;
    const role = name.slice(0, -3).split('.')[1];
    if (NEST_CLASS.test(text) && role === undefined) problems.push(`${path}: holds a Nest class, so its name needs a role`);
    if (KEY_PROVIDER_CLASS.test(text) && role !== 'provider') problems.push(`${path}: holds a key provider, so it is named "<name>.provider.ts"`);
  }
  return problems;
}

describe('file names', () => {
  it('reports a bad name, a Nest class without a role and a key provider outside a .provider.ts file', () => {
    const problems = namingProblems(
      [
        { path: 'token/TokenThing.ts', text: '' },
        { path: 'token/token.helper.ts', text: '' },
        { path: 'http/user-thing.ts', text: '@Injectable()\nexport class UserThing {}' },
        { path: 'keys/snapshot.ts', text: 'export class Snapshot extends LocalKeyProvider {}' },
        { path: 'keys/plain.provider.ts', text: 'export class Plain implements KeyProvider {}' },
        { path: 'kms/backend.ts', text: 'export class Backend extends RemoteKeyProvider {}' },
        { path: 'token/compact.ts', text: 'export function compact() {}' },
      ],
      new Set(['kms/backend.ts']),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^token\/TokenThing\.ts: not kebab-case/),
      expect.stringMatching(/^token\/token\.helper\.ts: not kebab-case/),
      'http/user-thing.ts: holds a Nest class, so its name needs a role',
      'keys/snapshot.ts: holds a key provider, so it is named "<name>.provider.ts"',
    ]);
  });

  it('lib/ follows the rule (entry points are named after their subpath)', () => {
    const entries = entryPoints();
    expect(entries.has('index.ts')).toBe(true);
    expect(entries.has('kms/pkcs11.ts')).toBe(true);
    const libFiles = files(LIB, (n) => n.endsWith('.ts')).map((f) => ({ path: relative(LIB, f), text: readFileSync(f, 'utf8') }));
    expect(libFiles.length).toBeGreaterThan(50);
    for (const entry of entries) expect(libFiles.some((f) => f.path === entry)).toBe(true);
    expect(namingProblems(libFiles, entries)).toEqual([]);
  });

  it('feature folders of test/ hold only kebab-case specs (with a role and a kind where they have one)', () => {
    const notFeatures = new Set(['support', 'jest', 'fixtures']);
    // The README's testing example is test/docs/testing-your-integration.spec.ts byte for byte, and
    // imports its app as a user's spec would: from `./app.module.js` beside it.
    const documentedLayout = new Set(['docs/app.module.ts']);
    const features = readdirSync(TEST, { withFileTypes: true }).filter((e) => e.isDirectory() && !notFeatures.has(e.name));
    expect(features.length).toBeGreaterThan(10);
    const bad = features.flatMap((d) =>
      files(join(TEST, d.name), () => true)
        .map((f) => relative(TEST, f))
        .filter((f) => !documentedLayout.has(f) && !SPEC_NAME.test(f.split('/').pop()!)),
    );
    expect(bad).toEqual([]);
  });
});
