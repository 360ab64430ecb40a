/**
 * The base class of the KMS / HSM key providers, and the kit every provider
 * file imports from here: lazy loading of optional SDKs, per-call timeouts
 * tied to the caller's `AbortSignal`, bounded retries with backoff and
 * jitter, a concurrency limit, and the mapping of backend failures to the
 * library's typed errors (each in its own file, re-exported below).
 *
 * Internal to the `nestjs-iadvize-auth/<backend>` subpaths; it never imports an
 * SDK itself.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { InvalidKeyError, SigningUnavailableError } from '../errors.js';
import { loadPublicKey } from '../keys/key-material.js';
import { quoteEnvName, quoteName, safeName } from '../redaction.js';
import type { KeyProvider, SignOptions } from '../keys/key-provider.js';
import { callWithRetry } from './call-with-retry.js';
import { Limiter } from './limiter.js';
import type { FailureClassifier, FailureKind, RemoteFailure } from './remote-failure.js';
import { DEFAULT_RETRY_POLICY, resolveRetryPolicy, type RemoteSignerOptions, type RetryPolicy } from './retry-policy.js';

export { InvalidKeyError, loadPublicKey, quoteEnvName, quoteName, safeName };
export { callWithRetry, type CallContext, type CallPhase } from './call-with-retry.js';
export { Limiter } from './limiter.js';
export { importOptional, interopDefault } from './optional-import.js';
export {
  failureKindOfStatus,
  failureToError,
  isTransient,
  networkErrorCode,
  parseRetryAfter,
  type FailureClassifier,
  type FailureKind,
  type RemoteFailure,
} from './remote-failure.js';
export { resolveRetryPolicy, type RemoteSignerOptions, type RetryPolicy } from './retry-policy.js';

/** SHA-256 DigestInfo prefix (RFC 8017 §9.2 note 1): prepend it to a digest for raw PKCS#1 v1.5 signing. */
export const SHA256_DIGEST_INFO_PREFIX = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** SHA-256 of `data`: the 32-byte digest sent to the remote backends. */
export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** The public-key facts a provider reads at startup and pins. */
export interface LoadedKey {
  /** The public half of the signing key, checked RSA ≥ 2048 bits. */
  publicKey: KeyObject;
}

/**
 * Base class of the KMS / HSM providers: loads the key once (pinned version),
 * serves the cached public key, bounds concurrency and turns every failure into
 * a typed error. Subclasses implement {@link load} and {@link signOnce}, and
 * hand their backend's {@link FailureClassifier} to the constructor (or
 * override {@link classify}).
 */
export abstract class RemoteKeyProvider implements KeyProvider {
  readonly alg = 'RS256' as const;
  readonly inProcess = false;
  abstract readonly kind: string;
  /** Validated timeout / retry settings (set by {@link init}). */
  protected policy: RetryPolicy = DEFAULT_RETRY_POLICY;
  private limiter = new Limiter(DEFAULT_RETRY_POLICY.maxConcurrency);
  private loading?: Promise<LoadedKey>;
  private loaded?: LoadedKey;
  private closed = false;

  /**
   * @param retryOptions the provider's timeout / retry / concurrency options, validated at {@link init}
   * @param classifier maps a backend error to a {@link RemoteFailure}; without one, {@link classify} must be overridden
   */
  protected constructor(
    private readonly retryOptions: RemoteSignerOptions,
    private readonly classifier?: FailureClassifier,
  ) {}

  /** A description of the key for messages and logs (no secrets). */
  abstract describe(): string;

  /** Loads the SDK, resolves and pins the key version, checks the key. */
  protected abstract load(): Promise<LoadedKey>;

  /** One signing attempt of `signingInput` (whose SHA-256 is `digest`), honouring `signal`. */
  protected abstract signOnce(signingInput: Uint8Array, digest: Buffer, signal: AbortSignal): Promise<Uint8Array>;

  /** Maps a backend error to a {@link RemoteFailure}: the constructor's classifier; anything unclassified is `failed`. */
  protected classify(error: unknown): RemoteFailure {
    return this.classifier ? this.classifier(error) : { kind: 'failed', detail: (error as Error)?.name ?? 'error' };
  }

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
