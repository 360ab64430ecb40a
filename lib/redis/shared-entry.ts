import { createHmac, type KeyObject } from 'node:crypto';
import type { IAdvizeUser } from '../token/identity.js';
import type { IAdvizeToken } from '../token/iadvize-token.js';

/** A cached token, with when it was minted and by which key (in Redis as JSON, and in each replica's memory). @internal */
export interface SharedEntry {
  token: IAdvizeToken;
  /** When it was minted (module clock, ms). */
  mintedAt: number;
  /** Thumbprint of the signing key. */
  kid: string;
}

/**
 * Stores an entry and, if the caller still holds the lock (its nonce), releases it, atomically.
 * KEYS: token key, lock key; ARGV: entry JSON, TTL (ms), lock nonce.
 * @internal
 */
export const PUBLISH_SCRIPT = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1`;

/**
 * Releases a lock only if the caller still holds it (its nonce). KEYS: lock key; ARGV: nonce.
 * @internal
 */
export const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * The Redis key base of an identity under a signing key (its thumbprint `kid`):
 * an HMAC under the store's secret, no user data.
 * @internal
 */
export function sharedKeyOf(hmacKey: KeyObject, identity: IAdvizeUser, kid: string): string {
  // Own properties only (the identity was validated, but never read through a prototype).
  const vd = (Object.hasOwn(identity, 'visitorData') ? identity.visitorData : undefined) as Record<string, string> | undefined;
  const canonical = JSON.stringify([identity.userId, vd ? Object.keys(vd).sort().map((k) => [k, vd[k]]) : null]);
  return createHmac('sha256', hmacKey)
    .update(`nestjs-iadvize-auth/v1\0${kid}\0${canonical}`, 'utf8')
    .digest('base64url');
}

/**
 * An entry read from Redis, or `undefined` when absent or not one of ours.
 * @internal
 */
export function parseSharedEntry(value: string | null): SharedEntry | undefined {
  if (value === null || value === undefined) return undefined;
  try {
    const e = JSON.parse(value) as SharedEntry;
    if (typeof e?.token?.token !== 'string' || typeof e.token.expiresAt !== 'number' || typeof e.mintedAt !== 'number' || typeof e.kid !== 'string') return undefined;
    return e;
  } catch {
    return undefined;
  }
}
