import { createHash, randomBytes } from 'node:crypto';
import type { StoredUser } from '../users/user-store.service.js';

/** A signed-in session. */
export interface SampleSession {
  /** The user's stable id (what iAdvize receives as `userId`). */
  readonly userId: string;
  readonly username: string;
  /** Epoch milliseconds after which the session is gone. */
  readonly expiresAt: number;
}

/** What {@link SessionStore.create} hands out once; the store keeps only hashes of both secrets. */
export interface NewSession {
  readonly session: SampleSession;
  /** Value of the HttpOnly session cookie (browsers). */
  readonly sessionId: string;
  /** Bearer token for mobile-style clients (`Authorization: Bearer …`). */
  readonly bearerToken: string;
}

interface SessionRecord extends SampleSession {
  readonly keys: readonly string[];
}

/** 32 random bytes, base64url. */
function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Index key of a secret: a SHA-256 of its kind and value, so the map holds no
 * usable secret and a cookie value is never accepted as a bearer token (or
 * the reverse).
 */
function indexKey(kind: 'cookie' | 'bearer', secret: string): string {
  return createHash('sha256').update(`${kind}:${secret}`).digest('base64url');
}

/**
 * In-memory session store: one session per sign-in, reachable by its cookie
 * id (browsers) or its bearer token (mobile-style clients); destroying it
 * revokes both. A real app uses its session store (Redis, a database…).
 */
export class SessionStore {
  private readonly sessions = new Map<string, SessionRecord>();

  constructor(
    private readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Opens a session for a user who just proved their password. */
  create(user: StoredUser): NewSession {
    this.sweep();
    const sessionId = newSecret();
    const bearerToken = newSecret();
    const keys = [indexKey('cookie', sessionId), indexKey('bearer', bearerToken)];
    const record: SessionRecord = Object.freeze({
      userId: user.id,
      username: user.username,
      expiresAt: this.now() + this.ttlSeconds * 1000,
      keys,
    });
    for (const key of keys) this.sessions.set(key, record);
    return { session: record, sessionId, bearerToken };
  }

  /** The live session of a cookie id, or `null`. */
  findBySessionId(sessionId: string): SampleSession | null {
    return this.find(indexKey('cookie', sessionId));
  }

  /** The live session of a bearer token, or `null`. */
  findByBearerToken(token: string): SampleSession | null {
    return this.find(indexKey('bearer', token));
  }

  /** Ends a session: its cookie id and its bearer token stop working at once. */
  destroy(session: SampleSession): void {
    for (const key of (session as SessionRecord).keys ?? []) this.sessions.delete(key);
  }

  /** Number of live sessions (for tests and metrics). */
  get size(): number {
    this.sweep();
    return this.sessions.size / 2;
  }

  private find(key: string): SampleSession | null {
    const record = this.sessions.get(key);
    if (!record) return null;
    if (record.expiresAt <= this.now()) {
      this.destroy(record);
      return null;
    }
    return record;
  }

  private sweep(): void {
    const now = this.now();
    for (const record of this.sessions.values()) if (record.expiresAt <= now) this.destroy(record);
  }
}
