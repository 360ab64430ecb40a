import type { KeyObject } from 'node:crypto';
import { b64url, compactEncrypt, jwsSigningInput } from '../token/compact.js';
import type { KeyProvider } from './key-provider.js';
import { loadPublicKey, thumbprintOf } from './key-material.js';
import { safeName } from '../redaction.js';
import { signVerified } from './sign-with-deadline.js';

/** A loaded signing key: its provider, its public half and its RFC 7638 thumbprint. */
export interface SigningKeyInForce {
  /** Signs with the key. */
  readonly provider: KeyProvider;
  /** The key's public half (what iAdvize verifies with). */
  readonly publicKey: KeyObject;
  /** RFC 7638 thumbprint of the public half; caches key tokens by it. */
  readonly thumbprint: string;
}

/** What a self-check needs: the deadline and the key tokens are encrypted to. */
export interface SigningKeyCheckContext {
  /** `signingTimeoutMs`. */
  timeoutMs: number;
  /** The iAdvize key; probes are encrypted to it. */
  iadvizePublicKey: KeyObject;
  /** The library's message of an error, or `fallback`. */
  messageOf: (e: unknown, fallback: string) => string;
}

/** Loads one key: init, public half, thumbprint; a problem names `source`. */
export async function loadKey(provider: KeyProvider, source: string, messageOf: SigningKeyCheckContext['messageOf']): Promise<SigningKeyInForce | string> {
  try {
    await provider.init?.();
    const publicKey = loadPublicKey((await provider.getPublicKey()).export({ format: 'jwk' }), `${source} (public half)`);
    return { provider, publicKey, thumbprint: await thumbprintOf(publicKey) };
  } catch (e) {
    return `${source}: ${messageOf(e, `the ${safeName(provider.kind ?? 'key')} provider could not load its key`)}`;
  }
}

/**
 * The startup self-check of one key: signs a probe, verifies it with the
 * key's public half, and encrypts the signed probe to the iAdvize key.
 * Returns the problem, or `undefined` when the key works.
 */
export async function selfCheckSigningKey(key: SigningKeyInForce, source: string, ctx: SigningKeyCheckContext): Promise<string | undefined> {
  const probe = new TextEncoder().encode(jwsSigningInput({ iss: 'nestjs-iadvize-auth self-check', iat: 0 }));
  try {
    const signature = await signVerified(key.provider, key.publicKey, probe, { timeoutMs: ctx.timeoutMs, purpose: 'self-check' });
    try {
      // The whole pipeline once: the signed probe encrypted to the configured iAdvize key.
      compactEncrypt(`${new TextDecoder().decode(probe)}.${b64url(signature)}`, ctx.iadvizePublicKey);
    } catch {
      return 'iadvizePublicKey: self-check failed: a probe token could not be encrypted to it with RSA-OAEP-256';
    }
  } catch (e) {
    return `${source}: self-check failed: ${ctx.messageOf(e, 'the probe signature could not be made')}`;
  }
  return undefined;
}

