import { IAdvizeErrorCode, SignatureMismatchError, SigningUnavailableError } from '../errors.js';
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
export function isLibraryLocalSigner(provider: KeyProvider): boolean {
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
export function checkSignatureBytes(value: unknown, kind: string): Uint8Array {
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
 * @internal shared by the token service, the health check and the startup self-check.
 */
export async function signWithDeadline(provider: KeyProvider, input: Uint8Array, timeoutMs: number, timeoutMessage: string): Promise<Uint8Array> {
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
 * The error code a signer failure is reported with (events, metrics, health):
 * a signature that does not verify, or a signer that is unavailable.
 * @internal shared by the token service and the health check.
 */
export function signerFailureCodeOf(e: unknown): SignerFailureCode {
  return e instanceof SignatureMismatchError ? IAdvizeErrorCode.SignatureMismatch : IAdvizeErrorCode.SigningUnavailable;
}
