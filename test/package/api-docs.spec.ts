/**
 * The API reference in docs/api is what `npm run docs:api` generates from the
 * current JSDoc (so the README's link never shows a stale API), it has one
 * page per entry point of the exports map, and its index links resolve.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('API reference (docs/api)', () => {
  it('matches what `npm run docs:api` generates from the JSDoc', () => {
    let output = '';
    let status = 0;
    try {
      output = execFileSync(process.execPath, [join(ROOT, 'scripts/api-docs.mjs'), '--check'], { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      const failure = e as { status: number; stdout: string; stderr: string };
      status = failure.status;
      output = `${failure.stdout}${failure.stderr}`;
    }
    expect({ status, output }).toEqual({ status: 0, output: expect.stringContaining('docs/api is up to date') });
  }, 120_000);

  it('has an index naming every import path of the package, each linked to an existing page', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; exports: Record<string, unknown> };
    const index = readFileSync(join(ROOT, 'docs/api/README.md'), 'utf8');
    const links = new Map([...index.matchAll(/\[`([^`]+)`\]\(([^)]+)\)/g)].map((m) => [m[1], m[2]]));
    const specifiers = Object.keys(pkg.exports)
      .filter((subpath) => subpath !== './package.json')
      .map((subpath) => (subpath === '.' ? pkg.name : `${pkg.name}${subpath.slice(1)}`));
    expect([...links.keys()].sort()).toEqual(specifiers.sort());
    expect([...links.values()].filter((page) => !existsSync(join(ROOT, 'docs/api', page)))).toEqual([]);
  });
});
