// Writes the API reference (docs/api/*.md, one page per entry point of
// package.json's exports map) from the JSDoc, with TypeDoc and
// typedoc-plugin-markdown. Entry points are the sources of the exports map's
// ESM type declarations (`./dist/kms/aws-kms.d.ts` → `lib/kms/aws-kms.ts`).
// `--check` writes to a temporary folder and fails when docs/api differs
// (test/package/api-docs.spec.ts runs it); without it, docs/api is rewritten.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application } from 'typedoc';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** `./dist/kms/aws-kms.d.ts` → `lib/kms/aws-kms.ts`. */
const sourceOf = (types) => types.replace(/^\.\/dist\//, 'lib/').replace(/\.d\.ts$/, '.ts');
const exported = Object.entries(pkg.exports).filter(([, target]) => typeof target === 'object' && target.types);
const entryPoints = exported.map(([, target]) => sourceOf(target.types));
/** The index page: each import specifier, linked to its page (`lib/kms/aws-kms.ts` → `kms/aws-kms.md`). */
const index = [
  '# API reference',
  '',
  `Generated from the JSDoc by \`npm run docs:api\` (TypeDoc); do not edit. One page per entry point of the package:`,
  '',
  ...exported.map(([subpath, target]) => {
    const page = sourceOf(target.types).replace(/^lib\//, '').replace(/(.)\/index\.ts$/, '$1.ts').replace(/\.ts$/, '.md');
    return `- [\`${pkg.name}${subpath === '.' ? '' : subpath.slice(1)}\`](${page})`;
  }),
  '',
].join('\n');

const target = join(root, 'docs', 'api');
const out = check ? mkdtempSync(join(tmpdir(), 'nestjs-iadvize-auth-docs-')) : target;
const app = await Application.bootstrapWithPlugins({
  entryPoints: entryPoints.map((p) => join(root, p)),
  tsconfig: join(root, 'tsconfig.build.json'),
  plugin: ['typedoc-plugin-markdown'],
  out,
  outputFileStrategy: 'modules',
  readme: 'none',
  entryFileName: 'README',
  excludePrivate: true,
  excludeProtected: true,
  excludeInternal: true,
  excludeExternals: true,
  hideGenerator: true,
  disableSources: true,
  hidePageHeader: true,
  hideBreadcrumbs: true,
  useCodeBlocks: true,
  expandObjects: false,
  parametersFormat: 'table',
  interfacePropertiesFormat: 'table',
  classPropertiesFormat: 'table',
  typeDeclarationFormat: 'table',
  sort: ['source-order'],
  treatWarningsAsErrors: false,
  validation: { notExported: false, invalidLink: false, rewrittenLink: false },
  logLevel: 'Warn',
});
const project = await app.convert();
if (!project) {
  console.error('TypeDoc could not convert the project.');
  process.exit(1);
}
if (!check) rmSync(target, { recursive: true, force: true });
await app.generateOutputs(project);
writeFileSync(join(out, 'README.md'), index);

if (check) {
  const list = (dir) => readdirSync(dir, { recursive: true }).filter((f) => f.endsWith('.md')).sort();
  const fresh = list(out);
  let committed = [];
  try {
    committed = list(target);
  } catch {
    /* no docs/api yet */
  }
  const stale = [...new Set([...fresh, ...committed])].filter((f) => {
    try {
      return readFileSync(join(out, f), 'utf8') !== readFileSync(join(target, f), 'utf8');
    } catch {
      return true;
    }
  });
  rmSync(out, { recursive: true, force: true });
  if (stale.length) {
    console.error(`docs/api is out of date (${stale.join(', ')}): run \`npm run docs:api\` and commit docs/api.`);
    process.exit(1);
  }
  console.log(`docs/api is up to date (${fresh.length} pages).`);
} else {
  console.log(`API reference written to docs/api (${entryPoints.length} entry points).`);
}
