/**
 * Suite-wide secrets check, part 1 (loaded by test/jest/setup.ts in every test
 * file): tees everything the test processes write through `process.stdout`
 * and `process.stderr` (Nest's ConsoleLogger) into
 * `test-artifacts/output/<pid>.log`. What specs print with `console` reaches
 * Jest's reporters instead, and test/jest/output-reporter.mjs records it there
 * (so Jest still shows where each console call came from).
 * test/jest/global-output-check.mjs scans those files once the whole suite has run.
 */
import { mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const OUTPUT_DIR = join(fileURLToPath(new URL('../../', import.meta.url)), 'test-artifacts', 'output');
const MARK = Symbol.for('nestjs-iadvize-auth.test-output-capture');
/** Cap per process: past it the capture stops (and says so), the output itself goes on. */
const MAX_BYTES = 64 * 1024 * 1024;

/**
 * One file per process, opened once. Only the first test file of a worker
 * installs the tees (see {@link captureOutput}); its closure keeps this state.
 * (Not on `globalThis`: Jest clears each test file's globals when it ends.)
 */
const state = { fd: -1, bytes: 0 };

function record(text: string): void {
  try {
    if (state.bytes >= MAX_BYTES) return;
    if (state.fd < 0) state.fd = openSync(join(OUTPUT_DIR, `${process.pid}.log`), 'a');
    state.bytes += Buffer.byteLength(text);
    writeSync(state.fd, state.bytes >= MAX_BYTES ? `${text}\n[output capture stopped at ${MAX_BYTES} bytes]\n` : text);
  } catch {
    // The capture must never break a test.
  }
}

/** Installs the tees once per worker process (streams are shared by every test file of a worker). */
export function captureOutput(): void {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  for (const stream of [process.stdout, process.stderr] as Array<NodeJS.WriteStream & { [MARK]?: true }>) {
    if (stream[MARK]) continue;
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      record(typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : String(chunk));
      return write(chunk, ...rest);
    }) as typeof stream.write;
    stream[MARK] = true;
  }
}
