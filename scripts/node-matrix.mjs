// Node matrix: runs the suites that exercise the packed package (the artifact
// suite, test/package/artifact.spec.ts, and the consumer apps, test/package/*.consumer.spec.ts) on other Node
// lines. `npm test` covers the Node you run it with; this covers the rest.
//
//   npm run test:matrix                    # Node 22 and 24 (the versions below)
//   npm run test:matrix -- 24.22.3         # only the versions given
//
// Each Node binary is the npm registry package node-<platform>-<arch>@<version>,
// installed with npm into <os tmpdir>/nestjs-iadvize-auth-node/<version> (kept
// for the next run). Jest itself runs on the Node that runs this script; the
// specs start the apps, npm, jest and vitest with IADVIZE_TEST_NODE (the binary)
// first on PATH, and the apps assert the version they run on. Builds dist/ first.
// Prints each line's time; exits non-zero if any line fails.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Node versions of the matrix (one per line above the machine's): bump with the releases. */
const DEFAULT_VERSIONS = ['22.23.5', '24.22.3'];
/** The spec folders that run on every Node of the matrix (the ones that exist in this checkout). */
const SUITES = [
  'test/package/artifact.spec.ts',
  'test/package/nest11-cjs-jest.consumer.spec.ts',
  'test/package/nest12-esm-jest.consumer.spec.ts',
  'test/package/nest12-esm-vitest.consumer.spec.ts',
];

const root = fileURLToPath(new URL('../', import.meta.url));
const versions = process.argv.slice(2).length > 0 ? process.argv.slice(2) : DEFAULT_VERSIONS;
const nodePackage = `node-${process.platform}-${process.arch}`;

/** Runs a command with inherited output; returns its exit status. */
function run(command, args, env = process.env) {
  const res = spawnSync(command, args, { cwd: root, env, stdio: 'inherit' });
  return res.status ?? 1;
}

/** Installs node-<platform>-<arch>@<version> from the npm registry once; returns the path of its `node`. */
function installNode(version) {
  const prefix = join(tmpdir(), 'nestjs-iadvize-auth-node', version);
  const bin = join(prefix, 'node_modules', nodePackage, 'bin', 'node');
  if (!existsSync(bin)) {
    console.log(`[matrix] installing ${nodePackage}@${version} from the npm registry`);
    const status = run('npm', ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `${nodePackage}@${version}`]);
    if (status !== 0 || !existsSync(bin)) throw new Error(`could not install ${nodePackage}@${version} with npm (exit ${status}); check the version exists on the registry`);
  }
  const reported = spawnSync(bin, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
  if (reported !== version) throw new Error(`${bin} reports Node ${reported || '(nothing)'}, expected ${version}`);
  return bin;
}

const suites = SUITES.filter((s) => existsSync(join(root, s)));
if (run('npm', ['run', 'build']) !== 0) process.exit(1);

const results = [];
for (const version of versions) {
  const started = Date.now();
  let status;
  try {
    const bin = installNode(version);
    console.log(`\n[matrix] Node ${version}: ${suites.join(' ')}`);
    status = run('npm', ['run', 'test:jest', '--', ...suites], { ...process.env, IADVIZE_TEST_NODE: bin });
  } catch (error) {
    console.error(`[matrix] Node ${version}: ${error instanceof Error ? error.message : String(error)}`);
    status = 1;
  }
  results.push({ version, status, seconds: Math.round((Date.now() - started) / 1000) });
}

console.log('\n[matrix] summary');
for (const r of results) console.log(`[matrix]   Node ${r.version}: ${r.status === 0 ? 'passed' : 'FAILED'} in ${r.seconds} s`);
process.exit(results.every((r) => r.status === 0) ? 0 : 1);
