import { createHash, createHmac, createSecretKey, hkdfSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import { canonicalIdentity, type IAdvizeUser } from '../token/identity.js';
import type { IAdvizeToken } from '../token/iadvize-token.js';

/** A cached token, with when it was minted (in Redis sealed, and in each replica's memory). @internal */
export interface SharedEntry {
  token: IAdvizeToken;
  /** When it was minted (module clock, ms). */
  mintedAt: number;
  /** Thumbprint of the signing key. */
  kid: string;
}

/** What gives a token its meaning besides the identity and the signing key: an entry minted under another context is never served. @internal */
export interface EntryContext {
  readonly issuer: string;
  readonly iadvizeKeyThumbprint: string;
  readonly tokenTtlSeconds: number;
}

/** Why a value read from Redis was not served. @internal */
export type RejectedEntryReason = 'malformed' | 'unauthenticated' | 'out-of-range';

/** Largest value the store accepts from Redis, in bytes (a token is about 1.3 KB). @internal */
export const MAX_ENTRY_BYTES = 16 * 1024;

/** A compact JWE has five parts: four dots. (Its content is authenticated: a full shape check would only cost time on every hit.) */
function looksLikeCompactJwe(v: string): boolean {
  let dots = 0;
  for (let i = v.indexOf('.'); i >= 0; i = v.indexOf('.', i + 1)) dots++;
  return dots === 4 && v.length > 8;
}
const VERSION = '2';
const MAC_LENGTH = 43; // base64url of 32 bytes

/**
 * Stores an entry and, if the caller still holds the lock (its nonce), releases it, atomically.
 * KEYS: token key, lock key; ARGV: sealed entry, TTL (ms), lock nonce.
 * @internal
 */
export const PUBLISH_SCRIPT = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.pcall('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1`;

/**
 * Releases a lock only if the caller still holds it (its nonce). KEYS: lock key; ARGV: nonce.
 * @internal
 */
export const RELEASE_SCRIPT = `
if redis.pcall('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Every name and seal of one store, derived from its `secret` (HKDF-SHA-256, one
 * sub-key per use), its key prefix and the context fingerprint:
 *
 * - Redis key names: `<prefix>{<HMAC(names, context, kid, identity)>}:t|l` (token, lock;
 *   one hash tag, so one Cluster slot), and `<prefix>{<app tag>}:b|h:…` (budget, health),
 *   where the app tag is an HMAC of the prefix: two apps on one Redis share state only
 *   if they share the secret and the prefix;
 * - values: `2.<HMAC(values, key name, kid, context, payload)>.<payload>`, so a value
 *   copied to another key, written by anyone without the secret or minted under
 *   another context does not verify.
 * @internal
 */
export class StoreKeys {
  private readonly namesKey: KeyObject;
  private readonly valuesKey: KeyObject;
  /** SHA-256 of the context: issuer, iAdvize key, token lifetime. */
  readonly contextFingerprint: string;
  private readonly appTag: string;

  constructor(
    secret: Uint8Array,
    private readonly prefix: string,
    private readonly context: EntryContext,
  ) {
    const derive = (info: string) => createSecretKey(Buffer.from(hkdfSync('sha256', secret, 'nestjs-iadvize-auth/redis', info, 32)));
    this.namesKey = derive('key names v2');
    this.valuesKey = derive('entry seal v2');
    this.contextFingerprint = createHash('sha256')
      .update(JSON.stringify(['context v2', context.issuer, context.iadvizeKeyThumbprint, context.tokenTtlSeconds]))
      .digest('base64url');
    this.appTag = createHmac('sha256', this.namesKey).update(`app\0${prefix}`).digest('base64url').slice(0, 22);
  }

  /** The hash-tagged base of an identity's keys under a signing key (no user data). */
  identityBase(identity: IAdvizeUser, kid: string): string {
    return createHmac('sha256', this.namesKey).update(`identity\0${this.contextFingerprint}\0${kid}\0${canonicalIdentity(identity)}`, 'utf8').digest('base64url');
  }

  tokenKey(base: string): string {
    return `${this.prefix}{${base}}:t`;
  }

  lockKey(base: string): string {
    return `${this.prefix}{${base}}:l`;
  }

  /** The fleet budget's key: this app's own (prefix and secret). */
  get budgetKey(): string {
    return `${this.prefix}{${this.appTag}}:b`;
  }

  /** A replica's health probe key. */
  healthKey(nonce: string): string {
    return `${this.prefix}{${this.appTag}}:h:${nonce}`;
  }

  /** The value stored under `redisKey` for `entry`. */
  seal(redisKey: string, entry: SharedEntry): string {
    const payload = JSON.stringify({ v: entry.token.token, e: entry.token.expiresAt, m: entry.mintedAt });
    return `${VERSION}.${this.mac(redisKey, entry.kid, payload)}.${payload}`;
  }

  /**
   * The entry a value read from `redisKey` holds, once authenticated and checked;
   * `undefined` when absent; the reason when it must not be served.
   */
  open(redisKey: string, kid: string, value: unknown): SharedEntry | RejectedEntryReason | undefined {
    if (value === null || value === undefined) return undefined;
    if (typeof value !== 'string' || value.length > MAX_ENTRY_BYTES || !value.startsWith(`${VERSION}.`) || value.charAt(2 + MAC_LENGTH) !== '.') return 'malformed';
    const mac = Buffer.from(value.slice(2, 2 + MAC_LENGTH), 'utf8');
    const payload = value.slice(3 + MAC_LENGTH);
    const expected = Buffer.from(this.mac(redisKey, kid, payload), 'utf8');
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return 'unauthenticated';
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      return 'malformed';
    }
    if (typeof parsed !== 'object' || parsed === null) return 'malformed';
    const { v, e, m } = parsed as Record<string, unknown>;
    if (typeof v !== 'string' || !looksLikeCompactJwe(v)) return 'malformed';
    if (!Number.isSafeInteger(e) || !Number.isSafeInteger(m) || (m as number) < 0) return 'out-of-range';
    // Our own entries expire tokenTtlSeconds after they were minted (+1: the mint may start in the next second).
    const lifetime = (e as number) - Math.floor((m as number) / 1000);
    if (lifetime < this.context.tokenTtlSeconds || lifetime > this.context.tokenTtlSeconds + 1) return 'out-of-range';
    return { token: { token: v, expiresAt: e as number }, mintedAt: m as number, kid };
  }

  private mac(redisKey: string, kid: string, payload: string): string {
    return createHmac('sha256', this.valuesKey).update(`entry\0${redisKey}\0${kid}\0${this.contextFingerprint}\0${payload}`, 'utf8').digest('base64url');
  }
}
