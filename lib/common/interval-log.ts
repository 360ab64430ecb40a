import type { Logger } from '@nestjs/common';

/**
 * Logs a repeated message at most once per interval per topic, with how many
 * times it happened since the last line: an overload or an attack does not
 * flood the log it is diagnosed from. @internal
 */
export class IntervalLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Pick<Logger, 'warn' | 'error'>,
    private readonly intervalMs = 60_000,
    private readonly maxTopics = 100,
  ) {}

  /** Logs `message` (level `level`) unless this topic was logged less than an interval ago. */
  note(topic: string, level: 'warn' | 'error', message: string): void {
    const now = Date.now();
    const seen = this.last.get(topic);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    const more = seen && seen.suppressed > 0 ? ` (${seen.suppressed} more since the last such line; logged at most once per ${Math.round(this.intervalMs / 1000)} s)` : '';
    if (!seen && this.last.size >= this.maxTopics) this.last.delete(this.last.keys().next().value as string);
    this.last.set(topic, { at: now, suppressed: 0 });
    this.logger[level](`${message}${more}`);
  }
}
