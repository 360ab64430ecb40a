import { readFileSync } from 'node:fs';
import { quoteValue } from '../redaction.js';
import { docsPath, ExitCode, UsageError, type CliCommand, type CliContext, type ExitCodeValue } from './cli-context.js';
import { doctorCommand } from './doctor.command.js';
import { inspectCommand } from './inspect.command.js';
import { keygenCommand } from './keygen.command.js';

/** The sub-commands, in help order. */
export const CLI_COMMANDS: readonly CliCommand[] = [keygenCommand, doctorCommand, inspectCommand];

/** The package version, read from package.json next to `dist/`. */
function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function generalHelp(): string {
  const width = Math.max(...CLI_COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'Usage: iadvize-auth <command> [options]',
    '',
    'Tools for iAdvize Authenticated Messaging token providers (nestjs-iadvize-auth).',
    '',
    'Commands:',
    ...CLI_COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    `  ${'help'.padEnd(width)}show the help of a command: iadvize-auth help <command>`,
    '',
    'Options:',
    '  -h, --help     Show this help (or a command\'s: iadvize-auth <command> --help)',
    '  -v, --version  Show the version',
    '',
    'Exit codes: 0 ok, 1 a problem was found, 2 usage error.',
    `Docs: ${docsPath('operations.md')}`,
    '',
  ].join('\n');
}

/**
 * Runs the CLI: `argv` is what follows the program name. Never throws: usage
 * errors print the command's usage hint and resolve to 2; unexpected errors
 * print their class and code only (messages of unknown errors could carry
 * material we must not print) and resolve to 1.
 */
export async function runCli(argv: string[], ctx: CliContext): Promise<ExitCodeValue> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    ctx.err(generalHelp());
    return ExitCode.Usage;
  }
  if (first === '-h' || first === '--help') {
    ctx.out(generalHelp());
    return ExitCode.Ok;
  }
  if (first === '-v' || first === '--version') {
    ctx.out(`${version()}\n`);
    return ExitCode.Ok;
  }
  if (first === 'help') {
    if (rest.length === 0) {
      ctx.out(generalHelp());
      return ExitCode.Ok;
    }
    const target = CLI_COMMANDS.find((c) => c.name === rest[0]);
    if (!target || rest.length > 1) {
      ctx.err(`iadvize-auth: unknown command ${quoteValue(rest.join(' '))}\nRun "iadvize-auth --help" for the list of commands.\n`);
      return ExitCode.Usage;
    }
    ctx.out(target.help);
    return ExitCode.Ok;
  }
  const command = CLI_COMMANDS.find((c) => c.name === first);
  if (!command) {
    const what = first.startsWith('-') ? `unknown option ${quoteValue(first)} (options go after the command)` : `unknown command ${quoteValue(first)}`;
    ctx.err(`iadvize-auth: ${what}\nRun "iadvize-auth --help" for the list of commands.\n`);
    return ExitCode.Usage;
  }
  try {
    return await command.run(rest, ctx);
  } catch (e) {
    if (e instanceof UsageError) {
      ctx.err(`iadvize-auth ${command.name}: ${e.message}\nRun "iadvize-auth ${command.name} --help" for usage.\n`);
      return ExitCode.Usage;
    }
    const code = (e as { code?: unknown })?.code;
    ctx.err(`iadvize-auth ${command.name}: unexpected ${(e as Error)?.name ?? 'error'}${typeof code === 'string' ? ` (${code})` : ''}\n`);
    return ExitCode.Problem;
  }
}
