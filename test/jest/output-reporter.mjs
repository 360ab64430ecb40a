/**
 * Suite-wide secrets check, console part: a Jest reporter that records what
 * every spec printed through `console` (Jest hands it to reporters with each
 * test file's result) into `test-artifacts/output/console.log`, for
 * test/jest/global-output-check.mjs to scan with the rest of the captured output.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const OUTPUT_DIR = join(fileURLToPath(new URL('../../', import.meta.url)), 'test-artifacts', 'output');

export default class OutputReporter {
  onTestResult(_test, result) {
    const lines = (result.console ?? []).map((entry) => `${entry.type}: ${entry.message}\n`);
    if (lines.length === 0) return;
    mkdirSync(OUTPUT_DIR, { recursive: true });
    appendFileSync(join(OUTPUT_DIR, 'console.log'), lines.join(''));
  }
}
