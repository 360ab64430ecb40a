/**
 * The layout of lib/: no file longer than {@link MAX_LINES} lines (split a
 * file by job before it grows past it; see CONTRIBUTING.md).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const LIB = resolve(import.meta.dirname, '../../lib');

/** Most lines a lib/ file may have. */
const MAX_LINES = 450;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Lines of a file, as `wc -l` counts them for a file ending in a newline (a last line without one counts too). */
function lineCount(file: string): number {
  const text = readFileSync(file, 'utf8');
  if (text === '') return 0;
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

/** `path: N lines` for every file of `dir` over the limit, paths relative to `dir`. */
function oversized(dir: string): string[] {
  return tsFiles(dir)
    .map((file) => ({ file, lines: lineCount(file) }))
    .filter(({ lines }) => lines > MAX_LINES)
    .map(({ file, lines }) => `${relative(dir, file)}: ${lines} lines`);
}

describe('lib/ file sizes', () => {
  it(`counts lines and reports a file over ${MAX_LINES}, not one at ${MAX_LINES}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'file-size-'));
    try {
      writeFileSync(join(dir, 'at-limit.ts'), 'x;\n'.repeat(MAX_LINES));
      writeFileSync(join(dir, 'no-final-newline.ts'), `${'x;\n'.repeat(MAX_LINES)}x;`);
      writeFileSync(join(dir, 'over.ts'), 'x;\n'.repeat(MAX_LINES + 1));
      expect(oversized(dir).sort()).toEqual([`no-final-newline.ts: ${MAX_LINES + 1} lines`, `over.ts: ${MAX_LINES + 1} lines`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it(`has no file over ${MAX_LINES} lines`, () => {
    expect(tsFiles(LIB).length).toBeGreaterThan(20);
    expect(oversized(LIB)).toEqual([]);
  });
});
