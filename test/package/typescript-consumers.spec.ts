// Type-checks a small consumer against the built package as an app would see
// it once installed (node_modules/nestjs-iadvize-auth), under the TypeScript
// settings NestJS apps use: the classic CommonJS tsconfig (`module: commonjs`,
// node10 resolution, the default before TS 6), `nodenext` (.cts and .mts),
// `node16` and `bundler`; CommonJS files resolve the CommonJS build's typings
// (dist/cjs, "require" condition), ESM files the ESM build's. Run `npm run build` first.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../', import.meta.url));
let dir: string;

// Hand-written forRoot on purpose: the consumer code users write is what is type-checked.
const MAIN_ENTRY = `
import { IAdvizeAuthModule, TokenService, PemKeyProvider, type IAdvizeToken } from 'nestjs-iadvize-auth';
export const mod = IAdvizeAuthModule.forRoot({ issuer: 'https://brand.example', signingKey: new PemKeyProvider({ pem: 'x' }) });
export async function mint(tokens: TokenService): Promise<IAdvizeToken> { return tokens.createToken({ userId: 'u' }); }
`;
const SUBPATHS = `
import { FakeIAdvize } from 'nestjs-iadvize-auth/testing';
import { IAdvizeHealthIndicator } from 'nestjs-iadvize-auth/terminus';
import { provideIAdvizePrometheusMetrics, IADVIZE_METRIC_NAMES } from 'nestjs-iadvize-auth/prometheus';
import { iadvizeAuthConfig, IADVIZE_CONFIG_NAMESPACE } from 'nestjs-iadvize-auth/config';
import { iadvizeAuthOptionsFromEnv, IAdvizeEnv, type EnvRecord } from 'nestjs-iadvize-auth/config/env';
export const parts = [FakeIAdvize, IAdvizeHealthIndicator, provideIAdvizePrometheusMetrics({}), IADVIZE_METRIC_NAMES.tokensIssued] as const;
export const withConfig = IAdvizeAuthModule.forRootAsync(iadvizeAuthConfig.asProvider());
export const namespace: 'iadvize' = IADVIZE_CONFIG_NAMESPACE;
const env: EnvRecord = { [IAdvizeEnv.Issuer]: 'https://brand.example' };
export const withoutConfig = IAdvizeAuthModule.forRootAsync({ useFactory: () => iadvizeAuthOptionsFromEnv(env) });
// The subpaths' types are real, not \`any\` from an unresolved import (@nestjs/config included):
// @ts-expect-error KEY is a string
export const key: number = iadvizeAuthConfig.KEY;
// @ts-expect-error the env is a record of strings
iadvizeAuthOptionsFromEnv(42);
`;

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'index.d.ts'))) throw new Error('dist/index.d.ts is missing: run `npm run build` before this spec');
  dir = mkdtempSync(join(tmpdir(), 'iadvize-ts-consumer-'));
  const pkgDir = join(dir, 'node_modules', 'nestjs-iadvize-auth');
  mkdirSync(pkgDir, { recursive: true });
  cpSync(join(root, 'dist'), join(pkgDir, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(pkgDir, 'package.json'));
  for (const dep of ['@nestjs', '@types', 'prom-client', 'reflect-metadata', 'rxjs', 'jose']) {
    symlinkSync(join(root, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir');
  }
});
afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

function typeCheck(fileName: string, source: string, options: ts.CompilerOptions): string[] {
  const file = join(dir, fileName);
  writeFileSync(file, source);
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    skipLibCheck: true,
    types: ['node'],
    target: ts.ScriptTarget.ES2022,
    ...options,
  });
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file ? `${d.file.fileName.slice(dir.length + 1)}: ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

describe('TypeScript consumers of the built package', () => {
  it('a CommonJS app with the classic tsconfig (module commonjs, node10 resolution) types the main entry and every subpath (typesVersions)', () => {
    expect(typeCheck('classic.ts', MAIN_ENTRY + SUBPATHS, { module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10, ignoreDeprecations: '6.0' })).toEqual([]);
  });

  it.each([
    ['a CommonJS app with module nodenext (.cts)', 'app.cts', { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext }],
    ['an ESM app with module nodenext (.mts)', 'app.mts', { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext }],
    ['an app with bundler resolution', 'bundler.ts', { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler }],
    ['a CommonJS app with bundler resolution (TypeScript 6)', 'cjs-bundler.ts', { module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Bundler }],
  ])('%s types the main entry and every subpath', (_label, fileName, options) => {
    expect(typeCheck(fileName, MAIN_ENTRY + SUBPATHS, options)).toEqual([]);
  });

  it('`module: node16` (a CommonJS .cts) gets the CommonJS build\'s typings through the "require" condition', () => {
    expect(typeCheck('node16.cts', MAIN_ENTRY + SUBPATHS, { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16 })).toEqual([]);
  });

  it.each([
    ['.cts, nodenext', 'x.cts', ts.ModuleKind.NodeNext, ts.ModuleResolutionKind.NodeNext, 'dist/cjs/'],
    ['.cts, node16', 'x.cts', ts.ModuleKind.Node16, ts.ModuleResolutionKind.Node16, 'dist/cjs/'],
    ['.mts, nodenext', 'x.mts', ts.ModuleKind.NodeNext, ts.ModuleResolutionKind.NodeNext, 'dist/'],
    ['.ts, bundler', 'x.ts', ts.ModuleKind.ESNext, ts.ModuleResolutionKind.Bundler, 'dist/'],
  ])('%s resolves each entry to the typings of the build Node would load', (_label, fileName, module, moduleResolution, build) => {
    const host = ts.createCompilerHost({});
    // How the importing file is read (ESM for .mts, CommonJS for .cts), as the checker does.
    const mode = fileName.endsWith('.mts') ? ts.ModuleKind.ESNext : fileName.endsWith('.cts') ? ts.ModuleKind.CommonJS : undefined;
    for (const [specifier, file] of [['nestjs-iadvize-auth', 'index.d.ts'], ['nestjs-iadvize-auth/testing', 'testing/index.d.ts'], ['nestjs-iadvize-auth/pkcs11', 'kms/pkcs11.d.ts']]) {
      const resolved = ts.resolveModuleName(specifier, join(dir, fileName), { module, moduleResolution }, host, undefined, undefined, mode).resolvedModule?.resolvedFileName;
      expect({ specifier, resolved }).toEqual({ specifier, resolved: join(dir, 'node_modules', 'nestjs-iadvize-auth', build, file) });
    }
  });

  it('a type error in the consumer is reported (the check is live)', () => {
    const errors = typeCheck('broken.mts', `${MAIN_ENTRY}\nexport const n: number = mod;\n`, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext });
    expect(errors.join('\n')).toMatch(/DynamicModule.*not assignable to type 'number'/);
  });

  it('the package.json copied is the one declaring the subpaths', () => {
    const pkg = JSON.parse(readFileSync(join(dir, 'node_modules', 'nestjs-iadvize-auth', 'package.json'), 'utf8'));
    expect(Object.keys(pkg.exports)).toEqual(expect.arrayContaining(['.', './testing', './terminus', './prometheus', './config', './config/env']));
  });
});
