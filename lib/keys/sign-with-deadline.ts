import { SigningUnavailableError } from '../errors.js';
import type { KeyProvider } from './key-provider.js';

/**
 * Signs `input` with `provider`, giving up after `timeoutMs`: the provider's
 * `AbortSignal` is aborted and a {@link SigningUnavailableError} carrying
 * `timeoutMessage` is thrown. The timer is cleared as soon as the provider
 * answers, so a signature that arrives in time never sees its signal abort.
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
    return await Promise.race([provider.sign(input, { signal: controller.signal }), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
