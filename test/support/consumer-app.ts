// Runs one consumer app of test/fixtures/consumers the way its team would: a
// copy of the app outside the repository (os.tmpdir()), its locked
// dependencies installed with `npm ci` (from the npm cache when warm), the
// package installed from the tarball `npm pack` makes of this repository, then
// the app's own test script (its Jest or Vitest, its config, no flags from us
// beyond a JSON report). The caller asserts on the report.
//
// IADVIZE_TEST_NODE: path of the `node` binary to run the app with (default:
// the Node running Jest). Its directory goes first on PATH, so `npm`, `jest`,
// `vitest` and every child they start run on it; scripts/node-matrix.mjs sets
// it to Node 22 and 24 binaries from the npm registry.
// Run `npm run build` first (the tarball packs dist/).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The Node binary the consumer apps run on: IADVIZE_TEST_NODE, else the one running Jest. */
export const testNode: string = process.env.IADVIZE_TEST_NODE || process.execPath;

/** The outcome of one command in the consumer app. */
export interface RunResult {
  status: number | null;
  output: string;
}

/** Counts from the app's Jest `--json` or Vitest `json` report (the same shape). */
export interface TestReport {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  success: boolean;
}

/** Hides anything shaped like a compact JWS/JWE or a PEM block, so failure messages never print key material. */
function redact(text: string): string {
  return text
    .replace(/-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g, '[PEM]')
    .replace(/[\w-]{8,}(?:\.[\w-]*){2,4}\.[\w-]{8,}/g, '[TOKEN]');
}

/** The environment of a consumer command: the chosen Node first on PATH; nothing from this repository's npm or Jest run. */
function consumerEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    // npm_* would point npm at this repository (npm_config_local_prefix…); JEST_* and
    // NODE_OPTIONS (--experimental-vm-modules) belong to this suite's Jest, not the app's.
    if (/^npm_/i.test(key) || key.startsWith('JEST_') || key === 'NODE_OPTIONS' || key === 'IADVIZE_TEST_NODE') continue;
    env[key] = value;
  }
  env.PATH = [dirname(testNode), process.env.PATH ?? ''].join(delimiter);
  return { ...env, ...extra };
}

/** Runs a command in `cwd` with the consumer environment; never throws. */
export function run(cwd: string, command: string, args: string[], extraEnv: Record<string, string> = {}, timeoutMs = 300_000): RunResult {
  const res = spawnSync(command, args, { cwd, env: consumerEnv(extraEnv), encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return { status: res.status, output: `${res.stdout ?? ''}${res.stderr ?? ''}${res.error ? `\n${String(res.error)}` : ''}` };
}

/** Like run(), but throws with the end of the output when the command fails. */
export function runOrThrow(cwd: string, command: string, args: string[], extraEnv: Record<string, string> = {}): RunResult {
  const res = run(cwd, command, args, extraEnv);
  if (res.status !== 0) throw new Error(`\`${command} ${args.join(' ')}\` exited with ${res.status} in ${basename(cwd)}:\n${redact(res.output).slice(-6000)}`);
  return res;
}

/** The version of the Node binary the apps run on (what process.versions.node says there). */
export function testNodeVersion(): string {
  return runOrThrow(root, testNode, ['-p', 'process.versions.node']).output.trim();
}

/** A consumer app copied out of test/fixtures/consumers, with its dependencies and the packed package installed. */
export interface ConsumerApp {
  dir: string;
  /** Runs an npm script of the app with the expected Node version in EXPECTED_NODE_VERSION; returns the exit status, output and report. */
  test(script: string, reportArgs: string[]): RunResult & { report: TestReport | undefined };
  remove(): void;
}

/** Every file path (`./dist/…`) named in an `exports` map. */
function exportTargets(node: unknown): string[] {
  if (typeof node === 'string') return node.startsWith('./dist/') ? [node] : [];
  return node && typeof node === 'object' ? Object.values(node).flatMap(exportTargets) : [];
}

/**
 * Packs this repository's built dist/ into a new temporary folder; returns the
 * tarball's path. Lifecycle scripts are skipped (a `prepack` build would
 * delete dist/ under the specs running beside this one), so dist/ must be
 * complete: every file the `exports` map names must exist.
 */
export function packRepository(): string {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: unknown };
  const missing = exportTargets(manifest.exports).filter((target) => !existsSync(join(root, target)));
  if (missing.length > 0) throw new Error(`dist/ is incomplete (${missing.length} files of the exports map are missing, e.g. ${missing[0]}): run \`npm run build\` before the consumer specs`);
  const dir = mkdtempSync(join(tmpdir(), 'iadvize-pack-'));
  const res = runOrThrow(root, 'npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir]);
  const [{ filename }] = JSON.parse(res.output.slice(res.output.indexOf('['))) as [{ filename: string }];
  return join(dir, filename);
}

/**
 * Copies test/fixtures/consumers/<name> to a temporary folder, runs `npm ci`, then installs the tarball there.
 * With `sourcesFrom`, the app's `src/` and `test/` come from that other consumer app (two test set-ups of one
 * app: only the set-up's own files — package.json, lock file, tsconfig, runner config — live in `<name>`).
 */
export function installConsumer(name: string, tarball: string, options: { sourcesFrom?: string } = {}): ConsumerApp {
  const dir = join(mkdtempSync(join(tmpdir(), `iadvize-consumer-${name}-`)), name);
  const notInstalled = (src: string) => basename(src) !== 'node_modules';
  cpSync(join(root, 'test', 'fixtures', 'consumers', name), dir, { recursive: true, filter: notInstalled });
  if (options.sourcesFrom !== undefined) {
    for (const folder of ['src', 'test']) {
      cpSync(join(root, 'test', 'fixtures', 'consumers', options.sourcesFrom, folder), join(dir, folder), {
        recursive: true,
        filter: (src) => notInstalled(src) && !src.endsWith('.json'), // the runner config (jest-e2e.json) belongs to its set-up
      });
    }
  }
  const quiet = ['--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'];
  runOrThrow(dir, 'npm', ['ci', ...quiet]);
  runOrThrow(dir, 'npm', ['install', '--no-save', ...quiet, tarball]);
  const expectedNode = testNodeVersion();
  return {
    dir,
    test(script, reportArgs) {
      const reportFile = join(dir, 'test-report.json');
      rmSync(reportFile, { force: true });
      const res = run(dir, 'npm', ['run', script, '--', ...reportArgs, reportFile], { EXPECTED_NODE_VERSION: expectedNode });
      const report = existsSync(reportFile) ? (JSON.parse(readFileSync(reportFile, 'utf8')) as TestReport) : undefined;
      return { ...res, report };
    },
    remove: () => rmSync(dirname(dir), { recursive: true, force: true }),
  };
}

/** Where npm says the installed package came from (node_modules/.package-lock.json). */
export function installedFrom(app: ConsumerApp): { resolved?: string; version?: string } {
  const lock = JSON.parse(readFileSync(join(app.dir, 'node_modules', '.package-lock.json'), 'utf8')) as { packages: Record<string, { resolved?: string; version?: string }> };
  return lock.packages['node_modules/nestjs-iadvize-auth'] ?? {};
}

/** A readable summary of a failed app run, for the assertion message. */
export function describeRun(res: RunResult & { report: TestReport | undefined }): string {
  return `exit ${res.status}; report ${JSON.stringify(res.report && { total: res.report.numTotalTests, passed: res.report.numPassedTests, failed: res.report.numFailedTests })}\n${redact(res.output).slice(-6000)}`;
}
