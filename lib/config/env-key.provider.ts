import { InvalidKeyError } from '../errors.js';
import type { KeyText } from '../keys/key-material.js';
import { quoteValue, redact } from '../redaction.js';
import { LocalKeyProvider, readKeyFile } from '../keys/local-key.provider.js';
import { markLibraryLocalSigner } from '../keys/sign-with-deadline.js';

/**
 * Where {@link EnvConfiguredKeyProvider} found the key: a variable holding it, or one naming a file.
 * @public
 */
export type EnvKeySource =
  | { kind: 'env'; variable: string; value: string }
  | { kind: 'file'; variable: string; file: string };

/**
 * The brand's private key as the environment names it (`IADVIZE_SIGNING_KEY`
 * or `IADVIZE_SIGNING_KEY_FILE`, optional `IADVIZE_SIGNING_KEY_PASSPHRASE`).
 *
 * It behaves like the built-in env and file providers, with two differences
 * that matter for operators:
 * - every message names the environment variable at fault (and the
 *   passphrase variable when the passphrase is missing or wrong);
 * - the values are snapshotted when the options are built (so a custom
 *   record given to `iadvizeAuthOptionsFromEnv(env)` is honoured) and kept in
 *   ES private fields, so logging the options never prints a key or a
 *   passphrase.
 * @public
 */
export class EnvConfiguredKeyProvider extends LocalKeyProvider {
  /** `'env'` for a key held by the variable itself, `'file'` for a key file. */
  readonly kind: 'env' | 'file';
  /** The variable that names the key (`IADVIZE_SIGNING_KEY` or `IADVIZE_SIGNING_KEY_FILE`). */
  readonly variable: string;
  /** The key file path (`'file'` kind only; a path, not a secret). */
  readonly file?: string;
  readonly #value?: string;
  readonly #passphrase?: string;
  readonly #passphraseVariable: string;
  readonly #watch?: { intervalMs?: number };

  /**
   * @param source the variable and what it held
   * @param passphrase the passphrase of an encrypted PEM, if any
   * @param passphraseVariable the variable the passphrase comes from, for messages
   * @param watch reload a key file when it changes (`IADVIZE_SIGNING_KEY_WATCH`); `'file'` kind only
   * @param signing `signingThreads` (`IADVIZE_SIGNING_THREADS`), see `LocalSigningOptions`; kept by every key a reload swaps in
   */
  constructor(source: EnvKeySource, passphrase: string | undefined, passphraseVariable: string, watch?: { intervalMs?: number }, signing?: { signingThreads?: number }) {
    super(signing);
    this.#watch = source.kind === 'file' ? watch : undefined;
    this.kind = source.kind;
    this.variable = source.variable;
    if (source.kind === 'file') this.file = source.file;
    else this.#value = source.value;
    this.#passphrase = passphrase;
    this.#passphraseVariable = passphraseVariable;
    // Only this exact class is the library's own signer (a subclass may replace how it signs).
    if (new.target === EnvConfiguredKeyProvider) markLibraryLocalSigner(this);
  }

  /** E.g. `environment variable IADVIZE_SIGNING_KEY` or `file "keys/brand.pem" (IADVIZE_SIGNING_KEY_FILE)`. */
  describe(): string {
    return this.kind === 'file' ? `file ${quoteValue(this.file)} (${redact(this.variable)})` : `environment variable ${redact(this.variable)}`;
  }

  /** Loads and checks the key; messages about the passphrase name its variable. */
  override async init(): Promise<void> {
    try {
      await super.init();
    } catch (e) {
      if (e instanceof InvalidKeyError && /passphrase/.test(e.message)) {
        const hint = `${this.#passphrase === undefined ? 'set' : 'check'} ${redact(this.#passphraseVariable)}`;
        throw new InvalidKeyError(`${e.message} (${hint})`);
      }
      throw e;
    }
  }

  /**
   * What a watcher needs to reload the key file: `undefined` unless watching was asked for.
   * @internal used by the signing key schedule.
   */
  watchTarget(): { file: string; passphrase?: string; intervalMs?: number; signingThreads: number } | undefined {
    return this.#watch && this.file !== undefined
      ? { file: this.file, passphrase: this.#passphrase, intervalMs: this.#watch.intervalMs, signingThreads: this.signingThreads }
      : undefined;
  }

  protected read(): { material: KeyText; passphrase?: string } {
    const material = this.kind === 'file' ? readKeyFile(this.file as string, this.describe()) : (this.#value as string);
    return { material, passphrase: this.#passphrase };
  }
}
