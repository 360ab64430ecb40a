import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const LIB = fileURLToPath(new URL('../../lib/', import.meta.url));

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
});
