import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { DemoUser } from './demo-users.js';

/** A user as the store keeps it: no password, only its scrypt hash. */
export interface StoredUser {
  readonly id: string;
  readonly username: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly email: string;
}

interface UserRecord {
  readonly user: StoredUser;
  /** `scrypt$N$r$p$<salt base64url>$<hash base64url>` */
  readonly passwordHash: string;
}

/** scrypt cost (OWASP: N=2^17 for production; 2^15 keeps the demo's startup and tests quick). */
const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;

function scryptAsync(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Hashes a password with scrypt and a fresh random salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const hash = await scryptAsync(password, salt, SCRYPT_PARAMS);
  const { N, r, p } = SCRYPT_PARAMS;
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/** Checks a password against a {@link hashPassword} string, in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p) });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * The sample's user store: an in-memory list of users with scrypt-hashed
 * passwords (a per-user random salt, a constant-time comparison). In a real
 * app this is your user database.
 */
export class UserStore {
  private constructor(
    private readonly byUsername: ReadonlyMap<string, UserRecord>,
    private readonly byId: ReadonlyMap<string, StoredUser>,
    /** Hash checked when the username is unknown, so both cases take the same time. */
    private readonly decoyHash: string,
  ) {}

  /** Builds the store, hashing every password (the clear passwords are not kept). */
  static async create(users: readonly DemoUser[]): Promise<UserStore> {
    const byUsername = new Map<string, UserRecord>();
    const byId = new Map<string, StoredUser>();
    for (const { password, ...profile } of users) {
      const user: StoredUser = Object.freeze({ ...profile });
      byUsername.set(user.username, { user, passwordHash: await hashPassword(password) });
      byId.set(user.id, user);
    }
    return new UserStore(byUsername, byId, await hashPassword(randomBytes(16).toString('hex')));
  }

  /** Returns the user when the username and password match, else `null` (same timing either way). */
  async verifyCredentials(username: string, password: string): Promise<StoredUser | null> {
    const record = this.byUsername.get(username);
    const ok = await verifyPassword(password, record?.passwordHash ?? this.decoyHash);
    return ok && record ? record.user : null;
  }

  /** The user with this stable id, or `null`. */
  findById(id: string): StoredUser | null {
    return this.byId.get(id) ?? null;
  }
}
