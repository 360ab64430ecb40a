/**
 * Suite-wide secrets check, part 2 (Jest `globalSetup` / `globalTeardown`;
 * plain JavaScript because Jest loads these outside the ts-jest ESM transform).
 * Before the suite: clears the output captured by an earlier run. After it:
 * scans all the output Jest's test processes wrote (test/jest/output-capture.ts;
 * child processes' output is collected and checked by the specs that start them) and
 * fails the run if any of it holds a private key PEM block, a private JWK
 * member or a compact JOSE token (an issued token or an inner JWS), the same
 * patterns as test/support/leak-scanner.ts. Stack traces and public
 * keys are not checked here: specs print those on purpose. The report names
 * the file and the kind of leak, never the leaked text.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const OUTPUT_DIR = join(fileURLToPath(new URL('../../', import.meta.url)), 'test-artifacts', 'output');

const LEAKS = {
  'private-key-pem-block': /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/,
  // JSON (`"d":"…"`) or util.inspect (`d: '…'`) form, as console.log prints an object.
  'private-jwk-member': /"(?:d|p|q|dp|dq|qi)"\s*:\s*"[A-Za-z0-9_-]{16,}|(?:^|[{,\s])(?:d|p|q|dp|dq|qi):\s*'[A-Za-z0-9_-]{16,}/m,
  'jose-compact-token': /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{16,}(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?/,
};

/** Jest globalSetup. */
export function setup() {
  rmSync(OUTPUT_DIR, { recursive: true, force: true });
}

/** Leaks found in the captured output files of `dir`, as `test output <file>: <kind>` lines. */
export function scanOutput(dir = OUTPUT_DIR) {
  const problems = [];
  for (const file of readdirSync(dir)) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const [kind, pattern] of Object.entries(LEAKS)) if (pattern.test(text)) problems.push(`test output ${file}: ${kind}`);
  }
  return problems;
}

/** Jest globalTeardown. */
export function teardown() {
  if (!existsSync(OUTPUT_DIR)) throw new Error(`no test output was captured in ${OUTPUT_DIR}: is test/jest/setup.ts still calling captureOutput()?`);
  const problems = scanOutput();
  if (problems.length > 0) throw new Error(`Secrets reached the test output (see ${OUTPUT_DIR}):\n${problems.join('\n')}`);
}
