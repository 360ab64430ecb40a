import type { LoggerService } from '@nestjs/common';
import { PemKeyProvider, type KeyProvider, type SignOptions } from '../../lib/index.js';

/** What {@link SwitchableSigner} does on the next `sign`. */
export type SignerMode = 'ok' | 'fail' | 'hang' | 'wrong-key' | 'slow';

/**
 * A signer standing in for a remote KMS: signs, fails, hangs, signs with
 * another key, or answers slowly on demand, and counts its calls.
 */
export class SwitchableSigner implements KeyProvider {
  readonly alg = 'RS256' as const;
  readonly kind = 'test-kms';
  mode: SignerMode = 'ok';
  calls = 0;
  aborted = 0;
  private readonly inner: PemKeyProvider;
  private readonly other: PemKeyProvider;

  constructor(privatePem: string, otherPrivatePem: string) {
    this.inner = new PemKeyProvider({ pem: privatePem });
    this.other = new PemKeyProvider({ pem: otherPrivatePem });
  }

  async init(): Promise<void> {
    await this.inner.init();
    await this.other.init();
  }

  async sign(input: Uint8Array, options?: SignOptions): Promise<Uint8Array> {
    this.calls++;
    options?.signal?.addEventListener('abort', () => this.aborted++);
    switch (this.mode) {
      case 'fail':
        throw new Error('connect ECONNREFUSED kms.internal secret=hunter2');
      case 'hang':
        return new Promise<Uint8Array>(() => undefined);
      case 'wrong-key':
        return this.other.sign(input);
      case 'slow':
        await new Promise((r) => setTimeout(r, 50));
        return this.inner.sign(input);
      default:
        return this.inner.sign(input);
    }
  }

  getPublicKey() {
    return this.inner.getPublicKey();
  }
}

/** A Nest logger that keeps every line, to count them and check they carry no secrets. */
export class CapturingLogger implements LoggerService {
  lines: Array<{ level: string; text: string }> = [];
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
  all(): string {
    return this.lines.map((l) => l.text).join('\n');
  }
  private push(level: string, m: unknown, rest: unknown[]) {
    this.lines.push({ level, text: [m, ...rest].map((x) => (typeof x === 'string' ? x : x instanceof Error ? `${x.name}: ${x.message}` : JSON.stringify(x))).join(' ') });
  }
}
