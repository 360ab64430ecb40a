/**
 * Finds secrets in text the library lets out of the process: log lines,
 * error messages, HTTP bodies and headers. Reports *what kind* of secret leaked
 * and where (a label), never the secret itself.
 */
import type { KeyObject } from 'node:crypto';

/** One kind of leak the scanner recognises. */
export type LeakKind =
  | 'pem-block'
  | 'private-jwk-member'
  | 'jose-compact-token'
  | 'known-secret'
  | 'stack-trace';

/** A leak found in one captured text. */
export interface Leak {
  /** Where the text came from, e.g. `log:error`, `http 401 body (express)`. */
  label: string;
  kind: LeakKind;
  /** For `known-secret`: the name given to the secret (e.g. `brand private key line 3`). */
  secretName?: string;
}

/** `-----BEGIN <anything>-----`: any PEM block (private or public key, certificate). */
const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]*-----/;
/** A private RSA JWK member written as JSON (`"d":`) or by util.inspect (`d: '`). */
const PRIVATE_JWK_MEMBER = /"(?:d|p|q|dp|dq|qi)"\s*:|(?:^|[{,\s])(?:d|p|q|dp|dq|qi):\s*'/m;
/**
 * Compact JWS (3 parts) or JWE (5 parts) whose first part is base64url JSON
 * (`eyJ`): what a leaked token, inner JWS or any JOSE object looks like.
 */
const JOSE_COMPACT = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?/;
/** A V8 stack frame (`    at fn (file.js:1:2)`). */
const STACK_FRAME = /\n\s+at (?:[^\n]+ \()?(?:file:|node:|\/|[A-Za-z]:\\)[^\n]*:\d+:\d+\)?/;

/** Secret strings to look for verbatim, each with a name used in reports. */
export class SecretRegistry {
  private readonly secrets = new Map<string, string>();

  /** Adds one secret; strings shorter than `minLength` are ignored (they would match by chance). */
  add(name: string, value: string | undefined, minLength = 8): this {
    if (typeof value === 'string' && value.length >= minLength) this.secrets.set(value, name);
    return this;
  }

  /**
   * Adds a private key: its PEM body lines, its DER base64, and its JWK
   * private members (so a partial or re-encoded leak is found too).
   */
  addPrivateKey(name: string, key: KeyObject): this {
    const pem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
    pem
      .split('\n')
      .filter((l) => l && !l.startsWith('-----'))
      .forEach((line, i) => this.add(`${name} PEM line ${i + 1}`, line, 32));
    const pkcs1 = key.export({ type: 'pkcs1', format: 'pem' }).toString();
    pkcs1
      .split('\n')
      .filter((l) => l && !l.startsWith('-----'))
      .forEach((line, i) => this.add(`${name} PKCS#1 line ${i + 1}`, line, 32));
    const jwk = key.export({ format: 'jwk' }) as Record<string, string>;
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) {
      this.add(`${name} JWK ${member}`, jwk[member]?.slice(0, 40), 32);
    }
    return this;
  }

  /** Adds a token and, when given, the inner JWS it wraps. */
  addToken(token: string, innerJws?: string): this {
    this.add('an issued token', token, 16);
    if (innerJws) {
      this.add('an inner JWS', innerJws, 16);
      // The signature alone is enough to forge nothing but is never logged either.
      this.add('an inner JWS signature', innerJws.split('.')[2], 16);
    }
    return this;
  }

  /** Number of registered secrets. */
  get size(): number {
    return this.secrets.size;
  }

  /** Finds registered secrets in `text`; returns their names. */
  find(text: string): string[] {
    const found: string[] = [];
    for (const [value, name] of this.secrets) if (text.includes(value)) found.push(name);
    return found;
  }
}

/**
 * Scans `text` for every kind of leak. `allowStack` is for texts that may
 * legitimately carry a stack: Nest's own report of a crashed startup. Error
 * bodies and the library's log lines must not.
 */
export function scanText(label: string, text: string, secrets?: SecretRegistry, options: { allowStack?: boolean } = {}): Leak[] {
  const leaks: Leak[] = [];
  if (PEM_BLOCK.test(text)) leaks.push({ label, kind: 'pem-block' });
  if (PRIVATE_JWK_MEMBER.test(text)) leaks.push({ label, kind: 'private-jwk-member' });
  if (JOSE_COMPACT.test(text)) leaks.push({ label, kind: 'jose-compact-token' });
  if (!options.allowStack && STACK_FRAME.test(text)) leaks.push({ label, kind: 'stack-trace' });
  for (const name of secrets?.find(text) ?? []) leaks.push({ label, kind: 'known-secret', secretName: name });
  return leaks;
}

/** A readable list of leaks that does not repeat the leaked text. */
export function describeLeaks(leaks: readonly Leak[]): string {
  return leaks.map((l) => `${l.label}: ${l.kind}${l.secretName ? ` (${l.secretName})` : ''}`).join('\n');
}

/** Collects labelled texts (log lines, bodies, messages) and scans them all at once. */
export class LeakCorpus {
  readonly entries: Array<{ label: string; text: string }> = [];

  /** Records a text (a string, or anything JSON-serialisable). */
  record(label: string, value: unknown): void {
    const text = typeof value === 'string' ? value : safeStringify(value);
    this.entries.push({ label, text });
  }

  /** All leaks in the corpus; `allowStack` tells which entries may carry a stack trace. */
  scan(secrets?: SecretRegistry, allowStack: (label: string) => boolean = () => false): Leak[] {
    return this.entries.flatMap((e) => scanText(e.label, e.text, secrets, { allowStack: allowStack(e.label) }));
  }

  /** Throws (listing labels and kinds only) when anything leaked. */
  assertClean(secrets?: SecretRegistry, allowStack?: (label: string) => boolean): void {
    const leaks = this.scan(secrets, allowStack);
    if (leaks.length > 0) throw new Error(`secrets leaked in ${leaks.length} place(s):\n${describeLeaks(leaks)}`);
  }

  /** Number of recorded texts. */
  get size(): number {
    return this.entries.length;
  }
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Captures `process.stdout.write` and `process.stderr.write` into a corpus.
 * By default the text is swallowed (what is scanned may hold test keys, which
 * must not reach CI logs either); `passThrough` also writes it out.
 * Returns the function that restores the streams.
 */
export function captureProcessOutput(corpus: LeakCorpus, passThrough = false): () => void {
  const originals = { stdout: process.stdout.write, stderr: process.stderr.write };
  for (const stream of ['stdout', 'stderr'] as const) {
    const original = originals[stream];
    const target = process[stream];
    target.write = function (this: NodeJS.WriteStream, chunk: unknown, ...args: unknown[]): boolean {
      corpus.record(`process.${stream}`, typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      if (passThrough) return (original as (...a: unknown[]) => boolean).call(this, chunk, ...args);
      const callback = args.find((a) => typeof a === 'function') as (() => void) | undefined;
      if (callback) process.nextTick(callback);
      return true;
    } as typeof target.write;
  }
  return () => {
    process.stdout.write = originals.stdout;
    process.stderr.write = originals.stderr;
  };
}
