/**
 * Shared machinery of the KMS / HSM key providers: lazy loading of optional
 * SDKs, per-call timeouts tied to the caller's `AbortSignal`, bounded retries
 * with exponential backoff and jitter, a concurrency limit, and the mapping of
 * backend failures to the library's typed errors.
 *
 * Internal to the `nestjs-iadvize-auth/<backend>` subpaths; it never imports an
 * SDK itself.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { InvalidKeyError, MissingDependencyError, SigningUnavailableError } from '../errors.js';
import { boundRetryAfter } from '../http/retry-after.js';
import { quoteName } from '../redaction.js';
import type { KeyProvider, SignOptions } from '../keys/key-provider.js';

/** SHA-256 DigestInfo prefix (RFC 8017 §9.2 note 1): prepend it to a digest for raw PKCS#1 v1.5 signing. */
export const SHA256_DIGEST_INFO_PREFIX = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** SHA-256 of `data`: the 32-byte digest sent to the remote backends. */
export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/**
 * Timeouts, retries and concurrency of a remote key provider. Every field is
 * optional; the defaults suit a backend in the same region, and their worst
 * case (3 attempts of 1500 ms plus at most 300 ms of backoff: 4800 ms) fits in
 * the module's default `signingTimeoutMs` of 5000 ms.
 * @public
 */
export interface RemoteSignerOptions {
  /** Deadline of one attempt (one HTTP call or HSM operation), in ms. Default: 1500 (PKCS#11: 2000). */
  timeoutMs?: number;
  /** Attempts per signature, the first included (1 = no retry). Default: 3 (PKCS#11: 2). */
  maxAttempts?: number;
  /** First backoff delay before a retry, in ms; doubled per attempt, with full jitter. Default: 100. */
  backoffBaseMs?: number;
  /** Longest backoff delay, in ms; a `Retry-After` asking for more ends the retries. Default: 2000. */
  backoffMaxMs?: number;
  /** Signatures in flight at once; further calls wait in line (bounded by the signing deadline). Default: 64. */
  maxConcurrency?: number;
}

/** The validated {@link RemoteSignerOptions}. */
export interface RetryPolicy {
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly maxConcurrency: number;
}

/** Worst case 1500 × 3 + 100 + 200 = 4800 ms: within the module's default signingTimeoutMs (5000). */
const DEFAULT_POLICY: RetryPolicy = { timeoutMs: 1500, maxAttempts: 3, backoffBaseMs: 100, backoffMaxMs: 2000, maxConcurrency: 64 };

/** A bad option value for a message: numbers as they are, strings quoted unless they look like key material, else only the type. */
function describeValue(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return quoteName(value);
  return `a value of type ${value === null ? 'null' : typeof value}`;
}

/**
 * Validates the timeout / retry options of a provider, naming the provider and
 * the option in the error.
 */
export function resolveRetryPolicy(options: RemoteSignerOptions, provider: string): RetryPolicy {
  const check = (name: keyof RemoteSignerOptions, min: number, max: number): number => {
    const value = options[name] ?? DEFAULT_POLICY[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new InvalidKeyError(`${provider}: option "${name}" must be a whole number from ${min} to ${max} (got ${describeValue(value)})`);
    }
    return value;
  };
  return {
    timeoutMs: check('timeoutMs', 10, 120_000),
    maxAttempts: check('maxAttempts', 1, 10),
    backoffBaseMs: check('backoffBaseMs', 0, 60_000),
    backoffMaxMs: check('backoffMaxMs', 0, 300_000),
    maxConcurrency: check('maxConcurrency', 1, 100_000),
  };
}

/**
 * What went wrong in a remote call, as far as retrying and reporting go:
 * - `throttled`, `unavailable`, `timeout`: transient, retried, reported as `SigningUnavailableError`;
 * - `denied`, `not-found`, `disabled`, `rejected`: configuration problems, never retried, reported as `InvalidKeyError`;
 * - `failed`: anything else, not retried, reported as `SigningUnavailableError`.
 */
export type FailureKind = 'throttled' | 'unavailable' | 'timeout' | 'denied' | 'not-found' | 'disabled' | 'rejected' | 'failed';

/** A classified failure. `detail` is a short, secret-free description (error name, status, code). */
export interface RemoteFailure {
  kind: FailureKind;
  detail: string;
  /** Delay the backend asked for (`Retry-After`), in seconds. */
  retryAfterSeconds?: number;
}

/** Turns a backend error into a {@link RemoteFailure}. Must never copy secrets into `detail`. */
export type FailureClassifier = (error: unknown) => RemoteFailure;

/** True for the failures worth another attempt. */
export function isTransient(kind: FailureKind): boolean {
  return kind === 'throttled' || kind === 'unavailable' || kind === 'timeout';
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'REQUEST_SEND_ERROR',
]);

/** The network error code (`ECONNREFUSED`, …) of an error or of its causes, if any. */
export function networkErrorCode(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string') {
      // Some SDKs wrap errors from another realm into a plain Error carrying only the message.
      const named = /\b(E[A-Z]{3,}|UND_ERR_[A-Z_]+)\b/.exec(message)?.[1];
      if (named && NETWORK_CODES.has(named)) return named;
      if (/socket hang up/i.test(message)) return 'ECONNRESET';
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Parses a `Retry-After` header value (seconds or HTTP date) into whole
 * seconds, bounded to 1..`MAX_RETRY_AFTER_SECONDS` (60; a 400-digit number
 * or a date in 2099 is the ceiling; a past date is 1). `undefined` when absent
 * or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return boundRetryAfter(Number(trimmed));
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return boundRetryAfter((date - now) / 1000);
}

/** Classifies an HTTP status code; `undefined` when it is not an error status. */
export function failureKindOfStatus(status: number): FailureKind | undefined {
  if (status === 429) return 'throttled';
  if (status === 408) return 'timeout';
  if (status >= 500) return 'unavailable';
  if (status === 401 || status === 403) return 'denied';
  if (status === 404) return 'not-found';
  if (status >= 400) return 'rejected';
  return undefined;
}

/**
 * Loads an optional peer dependency. A missing package becomes a
 * `MissingDependencyError` ("install X"); any other loading error is rethrown.
 */
export async function importOptional<T>(load: () => Promise<T>, packageName: string, feature: string): Promise<T> {
  try {
    return await load();
  } catch (e) {
    const code = (e as { code?: unknown })?.code;
    const message = String((e as { message?: unknown })?.message ?? '');
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /Cannot find (module|package)/.test(message)) && message.includes(packageName)) {
      throw new MissingDependencyError(packageName, feature);
    }
    throw e;
  }
}

/**
 * The `module.exports` of a CommonJS package loaded with `import()`.
 *
 * Node's ESM loader gives a namespace whose `default` is `module.exports` and
 * whose named exports are only what its static analysis found (for pkcs11js,
 * `module.exports = { ...constants, PKCS11 }`, that is `PKCS11` alone: every
 * `CKM_*` is missing). TypeScript's CommonJS output (`__importStar(require())`)
 * and Jest copy every property but also set `default`. So `default` wins when
 * it holds `probe`; the namespace itself is the fallback (an ESM build of the
 * package, or a loader without `default`).
 */
export function interopDefault<T>(mod: T | { default: T }, probe: string): T {
  const inner = (mod as { default?: unknown } | null | undefined)?.default;
  if (inner !== null && (typeof inner === 'object' || typeof inner === 'function') && probe in inner) return inner as T;
  return mod as T;
}

class AttemptTimeout extends Error {}

/** Thrown by {@link Limiter.acquire} and {@link sleep} when the caller's signal aborts. */
class CallerAborted extends Error {}

/** A counting semaphore whose waiters give up when their signal aborts. */
export class Limiter {
  private active = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly max: number) {}

  /** Waits for a free slot; call the returned function to release it. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw new CallerAborted();
    if (this.active < this.max) {
      this.active++;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(wake);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new CallerAborted());
      };
      this.waiters.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    // The releaser handed its slot over: `active` is unchanged.
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.active--;
    };
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CallerAborted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Where a call happens: at startup (`init`) or while minting a token (`sign`). */
export type CallPhase = 'init' | 'sign';

/** Context of {@link callWithRetry}. */
export interface CallContext {
  /** The provider, for messages: e.g. `AWS KMS key "arn:…"`. Never a secret. */
  target: string;
  /** The operation, for messages: e.g. `Sign`, `GetPublicKey`. */
  operation: string;
  policy: RetryPolicy;
  classify: FailureClassifier;
  /** The caller's signal (the library's signing deadline). */
  signal?: AbortSignal;
  /** How to fix each configuration failure, appended to the message. */
  hints?: Partial<Record<FailureKind, string>>;
  /**
   * Called before each retry with the failure that caused it (e.g. to find the
   * key again) and the caller's signal, which it should honour: when the signal
   * aborts, the call ends with the "deadline passed" error whatever it throws.
   */
  beforeRetry?: (failure: RemoteFailure, signal?: AbortSignal) => Promise<void> | void;
}

const KIND_TEXT: Record<FailureKind, string> = {
  throttled: 'was throttled',
  unavailable: 'is unavailable',
  timeout: 'timed out',
  denied: 'was denied',
  'not-found': 'found no such key',
  disabled: 'refused: the key is disabled or not usable',
  rejected: 'rejected the request',
  failed: 'failed',
};

/**
 * Runs `op` with a per-attempt timeout (aborting the attempt's signal), the
 * caller's signal, and bounded retries on transient failures. Throws
 * `SigningUnavailableError` (transient or unknown) or `InvalidKeyError`
 * (configuration). Messages name the target and operation, never secrets.
 */
export async function callWithRetry<T>(op: (signal: AbortSignal) => Promise<T>, ctx: CallContext): Promise<T> {
  const { policy, signal: outer } = ctx;
  const aborted = () =>
    new SigningUnavailableError(`${ctx.target}: ${ctx.operation} abandoned: the signing deadline passed`, { retryAfterSeconds: 1 });
  let last: RemoteFailure | undefined;
  let attempts = 0;
  for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
    if (outer?.aborted) throw aborted();
    attempts = attempt;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let onOuterAbort: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const e = new AttemptTimeout();
        controller.abort(e);
        reject(e);
      }, policy.timeoutMs);
      onOuterAbort = () => {
        const e = new CallerAborted();
        controller.abort(e);
        reject(e);
      };
      outer?.addEventListener('abort', onOuterAbort, { once: true });
    });
    try {
      return await Promise.race([op(controller.signal), stop]);
    } catch (e) {
      if (e instanceof CallerAborted || outer?.aborted) throw aborted();
      if (e instanceof AttemptTimeout || controller.signal.reason instanceof AttemptTimeout) {
        last = { kind: 'timeout', detail: `no answer within ${policy.timeoutMs} ms` };
      } else if (e instanceof InvalidKeyError || e instanceof SigningUnavailableError) {
        throw e;
      } else {
        last = ctx.classify(e);
      }
    } finally {
      clearTimeout(timer);
      if (onOuterAbort) outer?.removeEventListener('abort', onOuterAbort);
    }
    if (!isTransient(last.kind) || attempt === policy.maxAttempts) break;
    const retryAfterMs = (last.retryAfterSeconds ?? 0) * 1000;
    if (retryAfterMs > policy.backoffMaxMs) break; // the backend asks for a longer pause than we wait
    const backoff = Math.random() * Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** (attempt - 1));
    try {
      await sleep(Math.max(backoff, retryAfterMs), outer);
      await ctx.beforeRetry?.(last, outer);
    } catch (e) {
      if (e instanceof CallerAborted || outer?.aborted) throw aborted();
      throw e;
    }
  }
  const failure = last as RemoteFailure;
  throw failureToError(failure, ctx, attempts);
}

/** Builds the typed error for a failure (see {@link FailureKind}). */
export function failureToError(failure: RemoteFailure, ctx: Pick<CallContext, 'target' | 'operation' | 'hints'>, attempts?: number): Error {
  const what = `${ctx.target}: ${ctx.operation} ${KIND_TEXT[failure.kind]} (${failure.detail})`;
  const hint = ctx.hints?.[failure.kind];
  if (isTransient(failure.kind)) {
    const tries = attempts !== undefined && attempts > 1 ? ` after ${attempts} attempts` : '';
    return new SigningUnavailableError(`${what}${tries}${hint ? `; ${hint}` : ''}`, {
      retryAfterSeconds: boundRetryAfter(failure.retryAfterSeconds ?? 1),
    });
  }
  if (failure.kind === 'failed') return new SigningUnavailableError(`${what}${hint ? `; ${hint}` : ''}`);
  return new InvalidKeyError(`${what}${hint ? `; ${hint}` : ''}`);
}

/** The public-key facts a provider reads at startup and pins. */
export interface LoadedKey {
  /** The public half of the signing key, checked RSA ≥ 2048 bits. */
  publicKey: KeyObject;
}

/**
 * Base class of the KMS / HSM providers: loads the key once (pinned version),
 * serves the cached public key, bounds concurrency and turns every failure into
 * a typed error. Subclasses implement {@link load}, {@link signOnce} and
 * {@link classify}.
 */
export abstract class RemoteKeyProvider implements KeyProvider {
  readonly alg = 'RS256' as const;
  readonly inProcess = false;
  abstract readonly kind: string;
  /** Validated timeout / retry settings (set by {@link init}). */
  protected policy: RetryPolicy = DEFAULT_POLICY;
  private limiter = new Limiter(DEFAULT_POLICY.maxConcurrency);
  private loading?: Promise<LoadedKey>;
  private loaded?: LoadedKey;
  private closed = false;

  protected constructor(private readonly retryOptions: RemoteSignerOptions) {}

  /** A description of the key for messages and logs (no secrets). */
  abstract describe(): string;

  /** Loads the SDK, resolves and pins the key version, checks the key. */
  protected abstract load(): Promise<LoadedKey>;

  /** One signing attempt of `signingInput` (whose SHA-256 is `digest`), honouring `signal`. */
  protected abstract signOnce(signingInput: Uint8Array, digest: Buffer, signal: AbortSignal): Promise<Uint8Array>;

  /** Maps a backend error to a {@link RemoteFailure}. */
  protected abstract classify(error: unknown): RemoteFailure;

  /** How to fix each configuration failure (appended to error messages). */
  protected hints(): Partial<Record<FailureKind, string>> {
    return {};
  }

  /** Releases the backend's resources (SDK client, sessions). */
  protected async release(): Promise<void> {}

  /** Called before a retry of {@link signOnce}; `signal` is the caller's (the signing deadline). */
  protected async beforeRetry(_failure: RemoteFailure, _signal?: AbortSignal): Promise<void> {}

  /** Runs an operation with this provider's timeout, retry and error mapping. */
  protected call<T>(operation: string, op: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return callWithRetry(op, {
      target: this.describe(),
      operation,
      policy: this.policy,
      classify: (e) => this.classify(e),
      hints: this.hints(),
      signal,
      beforeRetry: (f, s) => this.beforeRetry(f, s),
    });
  }

  /** Loads, pins and checks the key. Idempotent; a failed attempt can be retried. */
  async init(): Promise<void> {
    await this.ready();
  }

  private ready(): Promise<LoadedKey> {
    if (this.closed) return Promise.reject(new InvalidKeyError(`${this.describe()}: the key provider is closed`));
    if (this.loaded) return Promise.resolve(this.loaded);
    if (!this.loading) {
      this.loading = (async () => {
        this.policy = resolveRetryPolicy(this.retryOptions ?? {}, this.describe());
        this.limiter = new Limiter(this.policy.maxConcurrency);
        const loaded = await this.load();
        this.loaded = loaded;
        return loaded;
      })();
      this.loading.catch(() => {
        this.loading = undefined;
      });
    }
    return this.loading;
  }

  async sign(signingInput: Uint8Array, options: SignOptions = {}): Promise<Uint8Array> {
    await this.ready();
    const digest = sha256(signingInput);
    let release: () => void;
    try {
      release = await this.limiter.acquire(options.signal);
    } catch {
      throw new SigningUnavailableError(`${this.describe()}: Sign abandoned: the signing deadline passed while waiting for a free slot (maxConcurrency ${this.policy.maxConcurrency})`);
    }
    try {
      return await this.call('Sign', (signal) => this.signOnce(signingInput, digest, signal), options.signal);
    } finally {
      release();
    }
  }

  async getPublicKey(): Promise<KeyObject> {
    return (await this.ready()).publicKey;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.loading?.catch(() => undefined);
    await this.release();
  }
}
