import { createPublicKey, sign as cryptoSign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { InvalidKeyError } from '../errors.js';
import type { KeyProvider } from './key-provider.js';
import { markLibraryLocalSigner } from './sign-with-deadline.js';
import { loadPrivateKey, type KeyText } from './key-material.js';
import { quoteEnvName, quoteName, redact, redactionVerdict, type RedactionCategory } from '../redaction.js';
import { defaultSigningThreads, MAX_SIGNING_THREADS, SigningPool } from './signing-thread.pool.js';

/** A provider's key as registered with the shared signing threads. */
interface Pooled {
  pool: SigningPool;
  keyId: number;
  /** The provider's `describe()`, for messages. */
  source: string;
}

/** Gives the key of a provider collected without `close()` back to its signing pool. */
const unclosed = new FinalizationRegistry<Pooled>(({ pool, keyId }) => {
  void pool.removeKey(keyId);
});

/**
 * Where a local key provider runs its RSA signatures.
 * @public
 */
export interface LocalSigningOptions {
  /**
   * Threads dedicated to RSA signing, each holding the private key. They keep
   * token signing fast while the app saturates libuv's thread pool with its
   * own work (`crypto.scrypt`/`bcrypt` password hashing, `fs`, `zlib`,
   * `dns.lookup`): a flood of logins cannot starve chat authentication.
   * `0` signs on libuv's thread pool instead (`crypto.sign` with a callback),
   * sharing it with that work. A whole number from 0 to 16.
   * Every local provider of the process with the same value shares one set
   * of threads. Default: the number of cores, at most 4 (libuv's default
   * pool size).
   */
  signingThreads?: number;
}

/** A valid `signingThreads`: a whole number from 0 to {@link MAX_SIGNING_THREADS}. */
function isSigningThreadCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= MAX_SIGNING_THREADS;
}

/**
 * Base of the providers whose private key is loaded into this process.
 * Signing never blocks the event loop: it runs on a small pool of dedicated
 * signing threads (see {@link LocalSigningOptions.signingThreads}), or on
 * libuv's thread pool with `signingThreads: 0`.
 * The threads are shared by every local provider of the process with the
 * same `signingThreads`; {@link close} (called on application shutdown)
 * stops them once no provider uses them. Idle threads never keep the
 * process alive.
 */
export abstract class LocalKeyProvider implements KeyProvider {
  readonly alg = 'RS256' as const;
  readonly inProcess = true;
  abstract readonly kind: string;
  private privateKey?: KeyObject;
  private publicKey?: KeyObject;
  private readonly signingThreadsOption: unknown;
  /** The key's registration in the shared signing pool, while open. */
  private pooled?: Pooled;

  /** @param signing where to run the signatures (default: dedicated signing threads) */
  protected constructor(signing?: LocalSigningOptions) {
    this.signingThreadsOption = signing?.signingThreads;
  }

  /** Number of signing threads this provider uses (see {@link LocalSigningOptions.signingThreads}); `0`: libuv's thread pool. */
  get signingThreads(): number {
    const n = this.signingThreadsOption;
    return isSigningThreadCount(n) ? n : defaultSigningThreads();
  }

  /** Reads the raw key material; throws `InvalidKeyError` naming the source. */
  protected abstract read(): { material: KeyText | JsonWebKey; passphrase?: string };

  /** Description of the key source for messages, without the key. */
  abstract describe(): string;

  /**
   * Checks `signingThreads`, loads and checks the key (RSA, ≥ 2048 bits,
   * private) and starts the signing threads, resolving once they run.
   * Idempotent.
   */
  async init(): Promise<void> {
    await this.signingPool()?.pool.ready();
  }

  private ensureLoaded(): KeyObject {
    if (!this.privateKey) {
      const { material, passphrase } = this.read();
      const key = loadPrivateKey(material, this.describe(), passphrase);
      this.publicKey = createPublicKey(key);
      this.privateKey = key;
    }
    return this.privateKey;
  }

  /**
   * Registers the key with the process's signing threads (starting them) on
   * first use; `undefined` with `signingThreads: 0`. Loads the key.
   */
  private signingPool(): Pooled | undefined {
    if (this.pooled) return this.pooled; // checked and loaded when it was registered: nothing to redo per signature
    const n = this.signingThreadsOption;
    if (n !== undefined && !isSigningThreadCount(n)) {
      throw new InvalidKeyError(
        `signingThreads: must be a whole number from 0 (sign on libuv's thread pool) to ${MAX_SIGNING_THREADS}; leave it out for the default (${defaultSigningThreads()})`,
      );
    }
    const key = this.ensureLoaded();
    const size = this.signingThreads;
    if (size === 0) return undefined;
    const pool = SigningPool.shared(size);
    const pooled = { pool, keyId: pool.addKey(key), source: this.describe() };
    this.pooled = pooled;
    // A provider dropped without close() (a test, a script) gives its key back when collected.
    unclosed.register(this, pooled, pooled);
    return pooled;
  }

  /** RS256 signature of `signingInput`, made on a signing thread (or libuv's pool with `signingThreads: 0`). */
  sign(signingInput: Uint8Array): Promise<Uint8Array> {
    let pooled: Pooled | undefined;
    try {
      pooled = this.signingPool();
    } catch (e) {
      return Promise.reject(e);
    }
    if (pooled) return pooled.pool.sign(pooled.keyId, signingInput, pooled.source);
    const key = this.privateKey as KeyObject;
    return new Promise((resolve, reject) => {
      cryptoSign('sha256', signingInput, key, (err, signature) => (err ? reject(err) : resolve(signature)));
    });
  }

  /**
   * Removes the key from the signing threads; they stop when no provider
   * uses them any more (signatures still owed are then rejected with
   * `SigningUnavailableError`). Called on application shutdown. The provider
   * stays usable: a later signature registers the key again.
   */
  async close(): Promise<void> {
    const pooled = this.pooled;
    if (!pooled) return;
    this.pooled = undefined;
    unclosed.unregister(pooled);
    await pooled.pool.removeKey(pooled.keyId);
  }

  async getPublicKey(): Promise<KeyObject> {
    this.ensureLoaded();
    return this.publicKey as KeyObject;
  }
}

/**
 * Options of {@link PemKeyProvider}: exactly one of `pem` or `jwk`.
 * @public
 */
export interface PemKeyProviderOptions extends LocalSigningOptions {
  /** PEM text (PKCS#8, PKCS#1 or encrypted PKCS#8), base64 of PEM, or base64 DER. */
  pem?: string;
  /** A private RSA JWK. */
  jwk?: JsonWebKey;
  /** Passphrase of an encrypted PEM. */
  passphrase?: string;
}

/**
 * A private key given inline, as PEM text or a JWK. Prefer files or env vars in production.
 * @public
 */
export class PemKeyProvider extends LocalKeyProvider {
  readonly kind = 'inline';

  constructor(private readonly options: PemKeyProviderOptions) {
    super(options);
    // Only this exact class is the library's own signer (a subclass may replace how it signs).
    if (new.target === PemKeyProvider) markLibraryLocalSigner(this);
  }

  describe(): string {
    return this.options?.jwk !== undefined ? 'inline jwk' : 'inline pem';
  }

  protected read() {
    const { pem, jwk, passphrase } = this.options ?? {};
    if (pem !== undefined && jwk !== undefined) throw new InvalidKeyError('give either "pem" or "jwk", not both');
    if (jwk !== undefined) return { material: jwk };
    if (typeof pem !== 'string') throw new InvalidKeyError('"pem" must be a string holding a PEM private key');
    return { material: pem, passphrase };
  }
}

/** Verdicts of the redaction rule that mean a key (not a long or odd path) was given as a path. */
const KEY_IN_PATH: readonly RedactionCategory[] = ['key', 'json', 'multi-line'];

/**
 * The one rule for where a local key is read from: a key file's path must be a
 * non-blank string, and not the key itself (PEM, base64, escaped line breaks,
 * JSON/JWK or several lines, which the redaction rule describes without
 * repeating it). Returns what is wrong (to prefix with where: the option, the
 * environment variable or the provider's `"file"`), or `undefined`. Shared by
 * {@link FileKeyProvider}, the `{ file }` key options and the environment
 * reader (`lib/config/`).
 * @internal
 */
export function keyFilePathProblem(file: unknown): string | undefined {
  if (typeof file !== 'string' || file.trim() === '') return 'must be a non-empty path';
  const path = file.trim();
  const verdict = redactionVerdict(path);
  if (verdict !== undefined && KEY_IN_PATH.includes(verdict.category)) return `holds ${redact(path)}, not a file path`;
  return undefined;
}

/**
 * The one rule for an environment variable holding a key: its name must be a
 * non-empty string. Returns what is wrong, or `undefined`. Shared by
 * {@link EnvKeyProvider} and the `{ env }` key options.
 * @internal
 */
export function keyEnvNameProblem(env: unknown): string | undefined {
  return typeof env === 'string' && env !== '' ? undefined : 'must be the name of an environment variable';
}

/**
 * Options of {@link FileKeyProvider}.
 * @public
 */
export interface FileKeyProviderOptions extends LocalSigningOptions {
  /** Path of a PEM or DER private key file (read once, at startup, unless `watch` is on). */
  file: string;
  /** Passphrase of an encrypted PEM. */
  passphrase?: string;
  /**
   * Reload the key without a restart when the file changes (a Kubernetes
   * secret volume, a Vault Agent template). The file's real path, size,
   * mtime and content hash are polled every `watchIntervalMs`, which follows
   * Kubernetes' atomic `..data` symlink swap. A new key is loaded, checked
   * (RSA ≥ 2048 bits) and self-checked (sign, verify, encrypt) before it
   * replaces the current one; a bad file keeps the current key and is
   * reported (log + `signing.key.reload.failed` event). A switch is logged and
   * emitted as `signing.key.switched`, and cached tokens of the old key are no
   * longer served. Default: `false`.
   */
  watch?: boolean;
  /** How often a watched file is checked, in milliseconds, 100..3600000. Default: 2000. */
  watchIntervalMs?: number;
}

/**
 * A private key read from a file at startup (e.g. a mounted Kubernetes secret).
 * @public
 */
export class FileKeyProvider extends LocalKeyProvider {
  readonly kind = 'file';

  constructor(private readonly options: FileKeyProviderOptions) {
    super(options);
    // Only this exact class is the library's own signer (a subclass may replace how it signs).
    if (new.target === FileKeyProvider) markLibraryLocalSigner(this);
  }

  describe(): string {
    return `file ${quoteName(this.options?.file)}`;
  }

  /**
   * What a watcher needs to reload this file: `undefined` unless the provider
   * was built with `watch: true`.
   * @internal used by the signing key schedule.
   */
  watchTarget(): { file: string; passphrase?: string; intervalMs?: number; signingThreads: number } | undefined {
    const { file, passphrase, watch, watchIntervalMs } = this.options ?? {};
    return watch === true && typeof file === 'string' ? { file, passphrase, intervalMs: watchIntervalMs, signingThreads: this.signingThreads } : undefined;
  }

  protected read() {
    const { file, passphrase } = this.options ?? {};
    const problem = keyFilePathProblem(file);
    if (problem !== undefined || typeof file !== 'string') throw new InvalidKeyError(`"file" ${problem}`);
    return { material: readKeyFile(file, this.describe()), passphrase };
  }
}

/**
 * Reads a key file, turning I/O errors into a message that names the file
 * (as `source` describes it) and the cause; a relative path is resolved from
 * `cwd`, which the message names when the file is missing.
 */
export function readKeyFile(file: string, source: string, cwd: string = process.cwd()): Buffer {
  try {
    return readFileSync(resolve(cwd, file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? `does not exist${isAbsolute(file) ? '' : ` (a relative path, resolved from the working directory ${JSON.stringify(cwd)})`}`
        : code === 'EACCES' || code === 'EPERM'
          ? 'is not readable (permission denied)'
          : code === 'EISDIR'
            ? 'is a directory, not a key file'
            : `cannot be read (${code ?? 'unknown error'})`;
    throw new InvalidKeyError(`${source} ${why}`);
  }
}

/**
 * Options of {@link EnvKeyProvider}.
 * @public
 */
export interface EnvKeyProviderOptions extends LocalSigningOptions {
  /** Name of the environment variable holding the key (PEM with real or literal `\n`, base64 of PEM or DER). */
  env: string;
  /** Passphrase of an encrypted PEM. */
  passphrase?: string;
  /** Name of an environment variable holding the passphrase (instead of `passphrase`). */
  passphraseEnv?: string;
}

/**
 * A private key read from an environment variable at startup.
 * @public
 */
export class EnvKeyProvider extends LocalKeyProvider {
  readonly kind = 'env';

  constructor(private readonly options: EnvKeyProviderOptions) {
    super(options);
    // Only this exact class is the library's own signer (a subclass may replace how it signs).
    if (new.target === EnvKeyProvider) markLibraryLocalSigner(this);
  }

  describe(): string {
    return `environment variable ${quoteEnvName(this.options?.env)}`;
  }

  protected read() {
    const { env, passphrase, passphraseEnv } = this.options ?? {};
    const problem = keyEnvNameProblem(env);
    if (problem !== undefined || typeof env !== 'string') throw new InvalidKeyError(`"env" ${problem}`);
    const value = process.env[env];
    if (value === undefined || value.trim() === '') throw new InvalidKeyError(`${this.describe()} is not set`);
    let pass = passphrase;
    if (passphraseEnv !== undefined) {
      pass = process.env[passphraseEnv];
      if (pass === undefined) throw new InvalidKeyError(`environment variable ${quoteEnvName(passphraseEnv)} (passphrase) is not set`);
    }
    return { material: value, passphrase: pass };
  }
}

/**
 * What a provider built with `watch: true` tells the key schedule to poll,
 * and what the keys a reload swaps in keep from it (passphrase, signing threads).
 * @internal
 */
export interface KeyFileWatchTarget {
  file: string;
  passphrase?: string;
  intervalMs?: number;
  /** The watched provider's {@link LocalKeyProvider.signingThreads}, kept by every reloaded key. */
  signingThreads: number;
}

/**
 * A private key loaded from bytes read once from a watched key file: what a
 * reload swaps in. It describes itself as the file it came from, and never
 * reads the file again (so a key is never half-loaded from a file that
 * changes while it is read).
 * @internal
 */
export class KeyFileSnapshotProvider extends LocalKeyProvider {
  readonly kind = 'file';

  constructor(
    private readonly description: string,
    private readonly bytes: Buffer,
    private readonly passphrase: string | undefined,
    signing?: LocalSigningOptions,
  ) {
    super(signing);
    if (new.target === KeyFileSnapshotProvider) markLibraryLocalSigner(this);
  }

  describe(): string {
    return this.description;
  }

  protected read() {
    return { material: this.bytes, passphrase: this.passphrase };
  }
}
