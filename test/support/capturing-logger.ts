import type { LoggerService } from '@nestjs/common';

/** One line a {@link CapturingLogger} recorded. */
export interface CapturedLine {
  level: string;
  text: string;
}

/** Where a {@link CapturingLogger} also sends each line (e.g. a leak-scanner corpus). */
export interface LogSink {
  record(label: string, text: string): void;
}

function short(x: unknown): string {
  if (typeof x === 'string') return x;
  if (x instanceof Error) return `${x.name}: ${x.message}`;
  return JSON.stringify(x);
}

function full(x: unknown): string {
  if (x instanceof Error) return `${x.name}: ${x.message}\n${x.stack ?? ''}`;
  if (typeof x === 'string') return x;
  try {
    return JSON.stringify(x) ?? String(x);
  } catch {
    return String(x);
  }
}

/**
 * The suite's one Nest logger that keeps every line, to count them and check
 * they carry no secrets. With a `sink` (the leak scanner's `LeakCorpus`), each
 * line is also recorded there in full (error stacks included) under
 * `<prefix>:<level>`.
 */
export class CapturingLogger implements LoggerService {
  lines: CapturedLine[] = [];

  constructor(
    private readonly sink?: LogSink,
    private readonly prefix = 'log',
  ) {}

  log(m: unknown, ...rest: unknown[]) { this.push('log', m, rest); }
  warn(m: unknown, ...rest: unknown[]) { this.push('warn', m, rest); }
  error(m: unknown, ...rest: unknown[]) { this.push('error', m, rest); }
  debug(m: unknown, ...rest: unknown[]) { this.push('debug', m, rest); }
  verbose(m: unknown, ...rest: unknown[]) { this.push('verbose', m, rest); }
  fatal(m: unknown, ...rest: unknown[]) { this.push('fatal', m, rest); }

  /** Lines at `level` (or any level) mentioning `text`. */
  matching(text: string, level?: string): string[] {
    return this.lines.filter((l) => (level === undefined || l.level === level) && l.text.includes(text)).map((l) => l.text);
  }

  /** The text of the lines at one of `levels` (every level if omitted). */
  texts(...levels: string[]): string[] {
    return this.lines.filter((l) => levels.length === 0 || levels.includes(l.level)).map((l) => l.text);
  }

  /** Every line, joined. */
  all(): string {
    return this.lines.map((l) => l.text).join('\n');
  }

  private push(level: string, m: unknown, rest: unknown[]) {
    this.lines.push({ level, text: [m, ...rest].map(short).join(' ') });
    this.sink?.record(`${this.prefix}:${level}`, [m, ...rest].map(full).join(' '));
  }
}
