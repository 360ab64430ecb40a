/**
 * The packed package, installed as an app installs it, for the artifact suite
 * (artifact.spec.ts):
 *
 * - {@link packTarball}: copies the sources a publish needs (package.json, the
 *   "files", lib/ and the tsconfigs) to a temporary directory and runs
 *   `npm pack` there, so `prepack` builds both outputs from scratch — the
 *   tarball is exactly what `npm publish` would upload, and the repository's
 *   own dist/ is never touched. `IADVIZE_ARTIFACT_TARBALL=<file.tgz>` tests a
 *   given tarball instead (e.g. one packed from another commit).
 * - {@link installApp}: a throwaway app outside the repository; `npm install
 *   --offline` of the tarball (the library and `jose`, from the npm cache),
 *   then its peers symlinked from the repository's node_modules (what an app
 *   would have installed itself; offline and fast).
 * - {@link runScenario}: `node run.cjs|run.mjs <scenario>` in that app: plain
 *   Node, no transform, the library reached through require() or import.
 * - {@link runBin}: the installed `iadvize-auth` bin, executed as a shell
 *   would (shebang, executable bit, `node` from PATH).
 *
 * The Node binary is `IADVIZE_TEST_NODE` when set (e.g. a Node 22 or 24 from
 * the npm registry), else the one running the tests. npm and the pack build
 * still run on the default Node; only the app's processes use it (pkcs11js is
 * a Node-API addon: the build `npm ci` made loads on any Node line).
 */
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/artifact/', import.meta.url));

/** The Node binary the artifact runs on: `IADVIZE_TEST_NODE`, else this process's. */
export function testNode(): string {
  return process.env.IADVIZE_TEST_NODE || process.execPath;
}

/** Peers (and test-only clients) the app takes from the repository's node_modules. */
const LINKED = ['@nestjs', '@aws-sdk', '@google-cloud', '@grpc', 'google-auth-library', '@azure', 'pkcs11js', 'prom-client', 'reflect-metadata', 'rxjs'];

/**
 * Environment for npm and for the app's processes: no Jest NODE_OPTIONS, no
 * leftovers of the `npm test` that may have started Jest (lifecycle, package
 * and project-prefix variables); npm's own settings (`npm_config_cache`,
 * `npm_config_registry`, …) stay.
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const leftovers = /^(npm_(lifecycle_|package_|command$|execpath$|node_execpath$|config_local_prefix$)|NODE_OPTIONS$|INIT_CWD$)/i;
  for (const [k, v] of Object.entries(process.env)) if (!leftovers.test(k)) env[k] = v;
  return { ...env, ...extra };
}

/** A packed tarball and the paths it holds. */
export interface Packed {
  tarball: string;
  files: string[];
  /** How long `npm pack` (with its prepack build) took, in ms; 0 for a given tarball. */
  packMs: number;
}

/** `npm pack` of a clean copy of the sources into `dest` (prepack builds both outputs). */
export async function packTarball(dest: string): Promise<Packed> {
  const given = process.env.IADVIZE_ARTIFACT_TARBALL;
  if (given) {
    const tarball = join(dest, basename(given));
    cpSync(given, tarball);
    const { stdout } = await run('tar', ['-tzf', tarball], { maxBuffer: 16 * 1024 * 1024 });
    return { tarball, files: stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, '')), packMs: 0 };
  }
  const src = join(dest, 'src');
  mkdirSync(src);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
  const sources = ['package.json', 'lib', 'tsconfig.json', 'tsconfig.build.json', 'tsconfig.cjs.json', ...pkg.files.filter((f) => f !== 'dist')];
  for (const entry of sources) if (existsSync(join(ROOT, entry))) cpSync(join(ROOT, entry), join(src, entry), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(src, 'node_modules'), 'dir');
  const started = Date.now();
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dest], { cwd: src, env: cleanEnv(), maxBuffer: 64 * 1024 * 1024, timeout: 300_000 });
  const packMs = Date.now() - started;
  const report = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  return { tarball: join(dest, report[0].filename), files: report[0].files.map((f) => f.path), packMs };
}

/** A throwaway app with the tarball installed. */
export interface App {
  dir: string;
  installMs: number;
}

/** Installs `tarball` into a new app under `parent`, links the peers, adds the runners and scenarios. */
export async function installApp(parent: string, tarball: string): Promise<App> {
  const dir = join(parent, 'app');
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'iadvize-artifact-app', version: '1.0.0', private: true }, null, 2));
  const started = Date.now();
  const args = ['install', '--no-audit', '--no-fund', '--legacy-peer-deps', '--ignore-scripts', '--no-package-lock', tarball];
  try {
    await run('npm', [...args, '--offline'], { cwd: dir, env: cleanEnv(), timeout: 180_000 });
  } catch {
    // jose not in the npm cache yet: let npm fetch it.
    await run('npm', [...args, '--prefer-offline'], { cwd: dir, env: cleanEnv(), timeout: 180_000 });
  }
  const installMs = Date.now() - started;
  for (const name of LINKED) {
    const target = join(ROOT, 'node_modules', name);
    if (existsSync(target) && !existsSync(join(dir, 'node_modules', name))) symlinkSync(target, join(dir, 'node_modules', name), 'dir');
  }
  for (const file of ['run.cjs', 'run.mjs', 'core.scenario.mjs', 'kms.scenario.mjs']) cpSync(join(FIXTURES, file), join(dir, file));
  return { dir, installMs };
}

/** What a child process produced. */
export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnCollect(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Module system of a runner: `commonjs` runs run.cjs (require), `esm` runs run.mjs (import). */
export type ModuleSystem = 'commonjs' | 'esm';

/**
 * Runs a scenario of fixtures/ in the app with plain Node and returns what it
 * reported. Its input travels in the environment (never on the command line).
 * Throws with the child's stderr when it fails (stdout is left out: it may
 * hold tokens).
 */
export async function runScenario<T = Record<string, unknown>>(app: App, system: ModuleSystem, scenario: string, input: Record<string, unknown>, env: Record<string, string> = {}): Promise<T> {
  const runner = system === 'commonjs' ? 'run.cjs' : 'run.mjs';
  const r = await spawnCollect(testNode(), [runner, join(app.dir, scenario)], { cwd: app.dir, env: cleanEnv({ ...env, ARTIFACT_INPUT: JSON.stringify(input) }) });
  const line = r.stdout.split('\n').find((l) => l.startsWith('@@RESULT '));
  if (r.code !== 0 || !line) throw new Error(`${scenario} (${system}) exited with ${r.code}:\n${r.stderr.slice(0, 4000)}`);
  return JSON.parse(line.slice('@@RESULT '.length)) as T;
}

/** Runs the installed `iadvize-auth` bin as a shell would, with only PATH (the test Node's directory first) and `env`. */
export function runBin(app: App, args: string[], options: { env?: Record<string, string>; cwd?: string; input?: string } = {}): Promise<ChildResult> {
  const bin = join(app.dir, 'node_modules', '.bin', 'iadvize-auth');
  const PATH = [dirname(testNode()), process.env.PATH ?? ''].join(delimiter);
  return spawnCollect(bin, args, { cwd: options.cwd ?? app.dir, env: { PATH, ...options.env }, input: options.input });
}

/** A temporary directory outside the repository, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
