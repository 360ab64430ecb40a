import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { IAdvizeAuthError, IAdvizeErrorCode, SignatureMismatchError, SigningUnavailableError } from '../errors.js';
import type { SignerFailureCode } from '../events/iadvize-auth-events.service.js';
import type { KeyProvider } from './key-provider.js';
import { quoteName } from '../redaction.js';

/**
 * The library's own in-process providers, each with the `sign` function it was
 * built with. Module-private: user code cannot add to it, so declaring
 * `inProcess: true` on a custom provider (or subclassing, or replacing `sign`
 * on an instance) never earns the skip of the deadline and the signature check.
 */
const libraryLocalSigners = new WeakMap<object, KeyProvider['sign']>();

/**
 * Records `provider` as one of the library's own in-process key providers
 * (the key is loaded and used by the library's code in this process).
 * @internal called by the library's local providers' constructors, for their exact class only.
 */
export function markLibraryLocalSigner(provider: KeyProvider): void {
  libraryLocalSigners.set(provider, provider.sign);
}

/**
 * `true` only for a provider the library built itself (see
 * {@link markLibraryLocalSigner}) whose `sign` is still the library's: the only
 * providers whose signatures are not checked against a deadline and the public key.
 * @internal
 */
function isLibraryLocalSigner(provider: KeyProvider): boolean {
  const sign = libraryLocalSigners.get(provider);
  return sign !== undefined && provider.sign === sign;
}

/** What a provider's `sign()` resolved to, for messages (a type, never the value). */
function describeResult(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof ArrayBuffer) return 'an ArrayBuffer';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor?.name ?? 'typed array'}`;
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * Checks what a provider's `sign()` resolved to: signature bytes (a
 * `Uint8Array`, e.g. a `Buffer`), else a {@link SigningUnavailableError} (503),
 * never a `TypeError` further down.
 * @internal
 */
function checkSignatureBytes(value: unknown, kind: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw new SigningUnavailableError(
    `signing backend ${quoteName(kind)} returned ${describeResult(value)} instead of the signature bytes (a Uint8Array); fix its sign() method`,
  );
}

/**
 * Signs `input` with `provider`, giving up after `timeoutMs`: the provider's
 * `AbortSignal` is aborted and a {@link SigningUnavailableError} carrying
 * `timeoutMessage` is thrown. The timer is cleared as soon as the provider
 * answers, so a signature that arrives in time never sees its signal abort.
 * Anything but signature bytes is a {@link SigningUnavailableError} too.
 * @internal the deadline part of {@link signVerified}.
 */
async function signWithDeadline(provider: KeyProvider, input: Uint8Array, timeoutMs: number, timeoutMessage: string): Promise<Uint8Array> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Reject first, so the race reports the timeout rather than the provider's reaction to the abort.
      reject(new SigningUnavailableError(timeoutMessage));
      controller.abort();
    }, timeoutMs);
  });
  try {
    const signature: unknown = await Promise.race([provider.sign(input, { signal: controller.signal }), deadline]);
    return checkSignatureBytes(signature, provider.kind);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Why a signature is made, which selects the wording of its failures (and, for
 * `'token'` only, lets the library's own local providers skip the deadline and
 * the verification):
 * - `'token'`: a token for a user (TokenService);
 * - `'health'`: the readiness probe (IAdvizeHealthService);
 * - `'self-check'`: the startup or key-reload self-check (the caller prefixes the key's option).
 * @internal
 */
export type SigningPurpose = 'token' | 'health' | 'self-check';

/** The messages of one {@link SigningPurpose}'s failures (a kind goes through `quoteName`; never a value). */
interface SigningWording {
  timeout(kind: string, timeoutMs: number): string;
  failed(kind: string, cause: unknown): string;
  mismatch(kind: string): string;
}

const SIGNATURE_HINT = 'check it signs RSASSA-PKCS1-v1_5 SHA-256 with the pinned key version';

/** The failure messages of each purpose, in one place. */
const WORDING: Readonly<Record<SigningPurpose, SigningWording>> = {
  token: {
    timeout: (kind, ms) => `signing backend ${quoteName(kind)} did not answer within ${ms} ms`,
    failed: (kind) => `signing backend ${quoteName(kind)} failed`,
    mismatch: (kind) => `signing backend ${quoteName(kind)} returned a signature that does not verify with its public key (${SIGNATURE_HINT})`,
  },
  health: {
    timeout: (kind, ms) => `signing backend ${quoteName(kind)} did not answer the health probe within ${ms} ms`,
    failed: (kind) => `signing backend ${quoteName(kind)} failed the health probe`,
    mismatch: (kind) => `signing backend ${quoteName(kind)} returned a health-probe signature that does not verify with its public key (${SIGNATURE_HINT})`,
  },
  'self-check': {
    timeout: (_kind, ms) => `the signer did not answer within signingTimeoutMs (${String(ms)} ms)`,
    // An SDK's or the runtime's message may hold a value: only a string `code` is added.
    failed: (_kind, cause) => `the probe signature could not be made${codeSuffix(cause)}`,
    mismatch: () => "the provider's signature does not verify with its public key (is it RSASSA-PKCS1-v1_5 SHA-256, on the right key version?)",
  },
};

function codeSuffix(e: unknown): string {
  const code = (e as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? ` (${code})` : '';
}

/** Options of {@link signVerified}. */
export interface SignVerifiedOptions {
  /** `signingTimeoutMs`: how long the provider may take. */
  timeoutMs: number;
  /** Why the signature is made: selects the messages and the signer-trust rule. */
  purpose: SigningPurpose;
}

/**
 * The one verified-signing path (tokens, the health probe, the startup and
 * reload self-checks): signs `input` with `provider` under the `timeoutMs`
 * deadline, checks the result is signature bytes and verifies it with
 * `publicKey` (RSASSA-PKCS1-v1_5 SHA-256).
 *
 * Signer-trust rule: only for `purpose: 'token'` does one of the library's own
 * local providers ({@link isLibraryLocalSigner}) skip the deadline and the
 * verification; the health probe and the self-checks verify every signer.
 *
 * @throws SigningUnavailableError when the provider fails, times out or answers no bytes (any
 *   error that is not the library's own is wrapped, the original kept as `cause`)
 * @throws SignatureMismatchError when the signature does not verify with `publicKey`
 * @internal
 */
export async function signVerified(provider: KeyProvider, publicKey: KeyObject, input: Uint8Array, options: SignVerifiedOptions): Promise<Uint8Array> {
  const { timeoutMs, purpose } = options;
  const wording = WORDING[purpose];
  const kind = provider.kind;
  if (purpose === 'token' && isLibraryLocalSigner(provider)) {
    // The library's own in-process provider: its code signs with the key it loaded and checked.
    const signature: unknown = await provider.sign(input).catch((e: unknown) => {
      throw toSigningError(e, wording.failed(kind, e));
    });
    return checkSignatureBytes(signature, kind);
  }
  // Any other provider, whatever it declares (`inProcess` included): deadline, type check, verification.
  let signature: Uint8Array;
  try {
    signature = await signWithDeadline(provider, input, timeoutMs, wording.timeout(kind, timeoutMs));
  } catch (e) {
    throw toSigningError(e, wording.failed(kind, e));
  }
  if (!verifies(input, publicKey, signature)) throw new SignatureMismatchError(wording.mismatch(kind));
  return signature;
}

/** RSASSA-PKCS1-v1_5 SHA-256 verification that answers `false` rather than throwing on malformed input. */
function verifies(input: Uint8Array, publicKey: KeyObject, signature: Uint8Array): boolean {
  try {
    return cryptoVerify('sha256', input, publicKey, signature);
  } catch {
    return false;
  }
}

/** The library's own error as is; anything else a {@link SigningUnavailableError} with `message`, the original as `cause`. */
function toSigningError(e: unknown, message: string): IAdvizeAuthError {
  if (e instanceof IAdvizeAuthError) return e;
  return new SigningUnavailableError(message, { cause: e });
}

/**
 * The error code a signer failure is reported with (events, metrics, health):
 * a signature that does not verify, or a signer that is unavailable.
 * @internal shared by the token service and the health check.
 */
export function signerFailureCodeOf(e: unknown): SignerFailureCode {
  return e instanceof SignatureMismatchError ? IAdvizeErrorCode.SignatureMismatch : IAdvizeErrorCode.SigningUnavailable;
}
