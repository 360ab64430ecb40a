/**
 * The layout of lib/: no import cycle, type-only imports included (a cycle
 * through types is still two files that cannot be understood apart).
 * Walks the relative imports (`from './x.js'`, `import('./x.js')`,
 * `export … from`) of every lib/**\/*.ts file; no dependency needed.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';

const LIB = resolve(import.meta.dirname, '../../lib');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The lib/ files `file` imports (relative specifiers only). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)].map((m) => m[1]);
  return specifiers.map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')));
}

/** Every cycle found by a depth-first walk, each as a list of lib/-relative paths. */
function importCycles(files: string[], root = LIB): string[][] {
  const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => files.includes(t))]));
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next].map((f) => relative(root, f)));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return cycles;
}

describe('lib/ import graph', () => {
  it('finds a cycle when there is one, type-only and dynamic imports included', () => {
    const dir = mkdtempSync(join(tmpdir(), 'import-cycles-'));
    try {
      writeFileSync(join(dir, 'a.ts'), "import type { B } from './b.js';\nexport type A = B;\n");
      writeFileSync(join(dir, 'b.ts'), "export const b = () => import('./c.js');\nexport type B = string;\n");
      writeFileSync(join(dir, 'c.ts'), "export { type A } from './a.js';\n");
      writeFileSync(join(dir, 'd.ts'), "import './a.js';\n");
      expect(importCycles(tsFiles(dir), dir)).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads every relative import of lib/ (each resolves to a lib/ file)', () => {
    const files = tsFiles(LIB);
    expect(files.length).toBeGreaterThan(20);
    for (const file of files) for (const target of importsOf(file)) expect(files).toContain(target);
  });

  it('has no import cycle in lib/', () => {
    expect(importCycles(tsFiles(LIB)).map((c) => c.join(' → '))).toEqual([]);
  });
});
