import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as rsaSign, type KeyObject } from 'node:crypto';
import type { KeyProvider, SignOptions } from '../keys/key-provider.js';

/**
 * What a {@link FakeKeyProvider} does on its next `sign` call:
 * - `'ok'`: signs (RS256) with its key;
 * - `'fail'`: rejects with the error of {@link FakeKeyProviderOptions.error};
 * - `'hang'`: never answers (the module's signing deadline must step in);
 * - `'wrong-signature'`: answers a real RS256 signature of other bytes, which
 *   does not verify (the module answers `IADVIZE_SIGNATURE_MISMATCH`);
 * - `'slow'`: waits {@link FakeKeyProvider.slowMs} more, then signs.
 * @public
 */
export type FakeKeyProviderMode = 'ok' | 'fail' | 'hang' | 'wrong-signature' | 'slow';

/**
 * Options of a {@link FakeKeyProvider}.
 * @public
 */
export interface FakeKeyProviderOptions {
  /**
   * The private key to sign with, as a PKCS#8 or PKCS#1 PEM (tests only).
   * Default: a new RSA-2048 key pair generated in memory by the constructor.
   */
  privateKeyPem?: string;
  /** The provider's `kind`, as logs, events and metrics show it. Default: `'fake'`. */
  kind?: string;
  /** The mode to start in. Default: `'ok'`. */
  mode?: FakeKeyProviderMode;
  /** Milliseconds every `sign` call waits before answering, in every mode (a network round trip). Default: `0`. */
  latencyMs?: number;
  /** Extra milliseconds a `sign` call waits in mode `'slow'`. Default: `50`. */
  slowMs?: number;
  /** Makes the error a failing `sign` rejects with. Default: an `Error` saying the failure is simulated. */
  error?: () => Error;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A {@link KeyProvider} for tests that behaves like a remote KMS you control:
 * it signs with a real RSA key, counts its calls, and can be switched at any
 * time to fail, hang, answer a wrong signature or answer slowly, to check how
 * your app (health checks, metrics, events, error responses) copes.
 *
 * ```ts
 * const signer = new FakeKeyProvider({ kind: 'my-kms' });
 * IAdvizeAuthModule.forRoot({ ...setup.moduleOptions, signingKey: signer });
 * signer.mode = 'fail';   // the next token request answers 503 IADVIZE_SIGNING_UNAVAILABLE
 * expect(signer.calls).toBe(1);
 * ```
 *
 * The module treats it as any custom provider: each signature is held to the
 * `signingTimeoutMs` deadline and verified against {@link FakeKeyProvider.getPublicKey}.
 * Never use it outside tests.
 * @public
 */
export class FakeKeyProvider implements KeyProvider {
  /** Always `'RS256'`. */
  readonly alg = 'RS256' as const;
  /** The backend name logs, events and metrics show (see {@link FakeKeyProviderOptions.kind}). */
  readonly kind: string;
  /** What the next `sign` call does; change it at any time. */
  mode: FakeKeyProviderMode;
  /** Milliseconds every `sign` call waits before answering. */
  latencyMs: number;
  /** Extra milliseconds a `sign` call waits in mode `'slow'`. */
  slowMs: number;
  /** Number of `sign` calls so far (every mode); set it to `0` to start counting again. */
  calls = 0;
  /** Number of `sign` calls whose `AbortSignal` fired (the caller gave up on them). */
  aborted = 0;
  /** The public key, as an SPKI PEM: what a brand would register with iAdvize. */
  readonly publicKeyPem: string;
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  private readonly makeError: () => Error;
  private failuresLeft = 0;

  /** Loads `options.privateKeyPem`, or generates an RSA-2048 key pair in memory. */
  constructor(options: FakeKeyProviderOptions = {}) {
    this.privateKey =
      options.privateKeyPem === undefined ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey : createPrivateKey(options.privateKeyPem);
    this.publicKey = createPublicKey(this.privateKey);
    this.publicKeyPem = this.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    this.kind = options.kind ?? 'fake';
    this.mode = options.mode ?? 'ok';
    this.latencyMs = options.latencyMs ?? 0;
    this.slowMs = options.slowMs ?? 50;
    this.makeError = options.error ?? (() => new Error('FakeKeyProvider: simulated signing failure'));
  }

  /** Makes the next `count` `sign` calls fail whatever the mode, then goes back to it. */
  failNext(count = 1): void {
    this.failuresLeft = count;
  }

  /** Signs `signingInput` (or fails, hangs, … as {@link FakeKeyProvider.mode} says), counting the call. */
  async sign(signingInput: Uint8Array, options?: SignOptions): Promise<Uint8Array> {
    this.calls++;
    options?.signal?.addEventListener('abort', () => this.aborted++, { once: true });
    if (this.latencyMs > 0) await sleep(this.latencyMs);
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      throw this.makeError();
    }
    switch (this.mode) {
      case 'fail':
        throw this.makeError();
      case 'hang':
        return new Promise<Uint8Array>(() => undefined);
      case 'wrong-signature':
        return rsaSign('sha256', Buffer.concat([Buffer.from(signingInput), Buffer.from('.not-the-signing-input')]), this.privateKey);
      case 'slow':
        await sleep(this.slowMs);
        return rsaSign('sha256', signingInput, this.privateKey);
      default:
        return rsaSign('sha256', signingInput, this.privateKey);
    }
  }

  /** The public half of the key. */
  async getPublicKey(): Promise<KeyObject> {
    return this.publicKey;
  }
}
