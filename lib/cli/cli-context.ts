import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { EnvRecord } from '../config/iadvize-env.options.js';
import { quoteValue } from '../redaction.js';

/**
 * Absolute path of a document of the package's `docs/` folder, which ships in
 * the npm package: from `dist/cli/` (or `lib/cli/`), two levels up. In an app
 * it is e.g. `…/node_modules/nestjs-iadvize-auth/docs/operations.md`.
 */
export function docsPath(file: string): string {
  return fileURLToPath(new URL(`../../docs/${file}`, import.meta.url));
}

/** Exit codes of the `iadvize-auth` CLI. */
export const ExitCode = {
  /** Everything checked out. */
  Ok: 0,
  /** A problem was found (bad configuration, refused token, file already there…). */
  Problem: 1,
  /** The command line itself is wrong (unknown command or option, missing argument). */
  Usage: 2,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** What a command may touch: output streams, environment, working directory, stdin. */
export interface CliContext {
  /** Writes to standard output (the report). */
  out(text: string): void;
  /** Writes to standard error (diagnostics). */
  err(text: string): void;
  /** Environment variables (`process.env` in the binary). */
  env: EnvRecord;
  /** Working directory relative paths are resolved from. */
  cwd: string;
  /** Reads all of standard input (for `inspect -`). */
  readStdin(): Promise<string>;
}

/** The command line is wrong: reported with the command's usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A sub-command of the CLI. */
export interface CliCommand {
  /** Name typed on the command line, e.g. `keygen`. */
  readonly name: string;
  /** One line for the general help. */
  readonly summary: string;
  /** Full `--help` text. */
  readonly help: string;
  /** Runs the command with the arguments after its name; resolves to the exit code. */
  run(args: string[], ctx: CliContext): Promise<ExitCodeValue>;
}

/**
 * `node:util` `parseArgs` in strict mode, with its errors turned into
 * {@link UsageError}s that read well on a terminal.
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: T,
  allowPositionals: boolean,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals, strict: true });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (e) {
    const code = (e as { code?: string }).code;
    const message = (e as Error).message;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const option = /'([^']+)'/.exec(message)?.[1] ?? '';
      throw new UsageError(`unknown option ${quoteValue(option)}`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const option = (/Option '([^']+)'/.exec(message)?.[1]?.split(',').pop()?.trim() ?? 'an option').replace(/ <value>$/, '');
      throw new UsageError(/does not take an argument/.test(message) ? `option ${quoteValue(option)} takes no value` : `option ${quoteValue(option)} needs a value`);
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const arg = /'([^']+)'/.exec(message)?.[1] ?? '';
      throw new UsageError(`unexpected argument ${quoteValue(arg)}`);
    }
    // Node's own message may repeat what was typed: only its code is shown.
    throw new UsageError(`the command line could not be parsed (${typeof code === 'string' ? code : 'unknown error'})`);
  }
}

/** Status marks of the reports, plain ASCII so logs and CI consoles show them. */
export const Mark = {
  ok: '[ok]  ',
  fail: '[FAIL]',
  warn: '[warn]',
  info: '[info]',
} as const;
