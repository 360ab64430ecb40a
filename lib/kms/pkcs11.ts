/**
 * PKCS#11 key provider (SoftHSM2, AWS CloudHSM, YubiHSM 2, Thales Luna, …):
 * `nestjs-iadvize-auth/pkcs11`. Needs the optional peer dependency `pkcs11js`.
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import {
  InvalidKeyError,
  loadPublicKey,
  quoteEnvName,
  quoteName,
  safeName,
  importOptional,
  interopDefault,
  RemoteKeyProvider,
  SHA256_DIGEST_INFO_PREFIX,
  type FailureKind,
  type LoadedKey,
  type RemoteFailure,
  type RemoteSignerOptions,
} from './remote-key.provider.js';
import { toHex, ulong } from './pkcs11-attributes.js';
import { acquireModule, releaseModule, type LoadedModule, type Pkcs11Js } from './pkcs11-library.registry.js';
import { classifyPkcs11Error, KIND_OF_CODE, pkcs11Code, SESSION_BREAKING } from './pkcs11-return-codes.js';
import { SessionPool } from './pkcs11-session.pool.js';

export type { RemoteSignerOptions } from './remote-key.provider.js';

type Handle = Buffer;

/**
 * Options of {@link Pkcs11KeyProvider}. Give `keyId` or `keyLabel` (or both), and `pinEnv` or `pin`.
 * @public
 */
export interface Pkcs11KeyProviderOptions extends RemoteSignerOptions {
  /** Required. Path of the vendor's PKCS#11 library, e.g. `/usr/lib/softhsm/libsofthsm2.so`. */
  module: string;
  /** Required. Label of the token holding the key (slot numbers are not stable: SoftHSM renumbers them). */
  tokenLabel: string;
  /** `CKA_ID` of the private key, as hex (`'01'`, `'a1b2…'`) or bytes. */
  keyId?: string | Uint8Array;
  /** `CKA_LABEL` of the private key. */
  keyLabel?: string;
  /** Name of the environment variable holding the user PIN (preferred). */
  pinEnv?: string;
  /** The user PIN itself (prefer `pinEnv`). Format is vendor specific, e.g. `user:password` on CloudHSM. */
  pin?: string;
  /** Sessions opened on the token at startup; concurrent signatures beyond it wait in line. Default: 4. */
  sessions?: number;
  /**
   * `CKM_SHA256_RSA_PKCS` (the token hashes; default) or `CKM_RSA_PKCS` (this
   * process hashes and sends DigestInfo ‖ digest, for tokens limiting input size).
   */
  mechanism?: 'CKM_SHA256_RSA_PKCS' | 'CKM_RSA_PKCS';
}

/**
 * Signs with an RSA private key inside a PKCS#11 token (the key never leaves
 * the HSM). Finds the token by label and the key by `CKA_ID` and/or
 * `CKA_LABEL`, logs in with the user PIN (from an environment variable by
 * default), and signs with `CKM_SHA256_RSA_PKCS` on a pool of sessions, so
 * concurrent requests never interleave `C_SignInit`/`C_Sign`. The library is
 * initialised once per process and finalised when the last provider closes.
 *
 * Only `C_Sign` runs off the event loop; every other PKCS#11 call is a
 * synchronous native call. All sessions are therefore opened at startup (a
 * broken one is replaced lazily by the next request needing it), and a network
 * HSM that hangs inside a call blocks the event loop: the deadlines cannot
 * interrupt a blocked native call.
 *
 * ```ts
 * import { Pkcs11KeyProvider } from 'nestjs-iadvize-auth/pkcs11';
 * signingKey: new Pkcs11KeyProvider({
 *   module: '/usr/lib/softhsm/libsofthsm2.so',
 *   tokenLabel: 'iadvize',
 *   keyLabel: 'iadvize-jwt',
 *   pinEnv: 'HSM_PIN',
 * })
 * ```
 * @public
 */
export class Pkcs11KeyProvider extends RemoteKeyProvider {
  readonly kind = 'pkcs11';
  private sdk?: Pkcs11Js;
  private lib?: LoadedModule;
  private slot?: Handle;
  private slotKey = '';
  private key?: Handle;
  private pool?: SessionPool<Handle>;
  private mechanism = 0;
  private signatureLength = 256;
  private loggedIn = false;
  private needsLogin = false;

  constructor(private readonly options: Pkcs11KeyProviderOptions) {
    // An abandoned PKCS#11 attempt keeps its session until the token answers: fewer, longer
    // attempts. Worst case 2000 × 2 + 100 = 4100 ms, within the default signingTimeoutMs (5000).
    super({ timeoutMs: 2000, maxAttempts: 2, ...options }, classifyPkcs11Error);
  }

  describe(): string {
    const o = this.options ?? ({} as Pkcs11KeyProviderOptions);
    // Runs before the options are validated: a key pasted into "keyId", "keyLabel" or "tokenLabel" is never repeated.
    let id: string | undefined;
    try {
      id = o.keyId === undefined ? undefined : safeName(typeof o.keyId === 'string' ? o.keyId : Buffer.from(o.keyId).toString('hex'));
    } catch {
      id = '(not hex or bytes)';
    }
    const key = [id !== undefined ? `id ${id}` : '', o.keyLabel !== undefined ? `label ${quoteName(o.keyLabel)}` : ''].filter(Boolean).join(', ');
    return `PKCS#11 key (${key || 'no id or label'}) on token ${quoteName(o.tokenLabel)}`;
  }

  /** Sessions currently open on the token. */
  get openSessions(): number {
    return this.pool?.openCount ?? 0;
  }

  protected override hints() {
    return {
      denied: this.options?.pinEnv ? `check the PIN in environment variable ${quoteEnvName(this.options.pinEnv)}` : 'check the PIN (option "pin")',
      'not-found': 'check "keyId" / "keyLabel" (list the token objects: pkcs11-tool --module <module> --token-label <label> --login --list-objects)',
      rejected: 'the key must be an RSA private key with CKA_SIGN, usable with CKM_SHA256_RSA_PKCS',
    } satisfies Partial<Record<FailureKind, string>>;
  }

  private pin(): string {
    const { pin, pinEnv } = this.options;
    if (pin !== undefined && pinEnv !== undefined) throw new InvalidKeyError(`${this.describe()}: give "pinEnv" or "pin", not both`);
    if (pinEnv !== undefined) {
      const value = process.env[pinEnv];
      if (value === undefined || value === '') throw new InvalidKeyError(`${this.describe()}: environment variable ${quoteEnvName(pinEnv)} (the token PIN) is not set`);
      return value;
    }
    if (typeof pin !== 'string' || pin === '') throw new InvalidKeyError(`${this.describe()}: set "pinEnv" (name of the environment variable holding the PIN) or "pin"`);
    return pin;
  }

  /** An `InvalidKeyError` for a PKCS#11 call that failed at startup, naming the step and the `CKR_*` code. */
  private initError(what: string, e: unknown): InvalidKeyError {
    if (e instanceof InvalidKeyError) return e;
    const code = pkcs11Code(e) ?? (e as Error)?.name ?? 'error';
    const kind = KIND_OF_CODE[code];
    const hint =
      code === 'CKR_SESSION_COUNT'
        ? 'the token allows fewer sessions than option "sessions" asks for (all are opened at startup); lower "sessions"'
        : kind
          ? (this.hints() as Partial<Record<FailureKind, string>>)[kind]
          : undefined;
    return new InvalidKeyError(`${this.describe()}: ${what} failed (${code})${hint ? `; ${hint}` : ''}`);
  }

  /** Runs a PKCS#11 call at startup, turning its error into an `InvalidKeyError`. */
  private step<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw this.initError(what, e);
    }
  }

  /** True when `session` already runs as the logged-in user (CKS_RO_USER_FUNCTIONS or CKS_RW_USER_FUNCTIONS). */
  private userLoggedIn(session: Handle): boolean {
    try {
      const { state } = (this.lib as LoadedModule).p11.C_GetSessionInfo(session);
      return state === 1 || state === 3;
    } catch {
      return false;
    }
  }

  /** Logs the token in with the user PIN; true if this call logged in (false: it already was). */
  private login(session: Handle): boolean {
    const sdk = this.sdk as Pkcs11Js;
    const p11 = (this.lib as LoadedModule).p11;
    const pin = this.pin();
    const pinHash = createHash('sha256').update(pin).digest('base64');
    const logins = (this.lib as LoadedModule).logins;
    let fresh = true;
    try {
      p11.C_Login(session, sdk.CKU_USER, pin);
    } catch (e) {
      fresh = false;
      if (pkcs11Code(e) !== 'CKR_USER_ALREADY_LOGGED_IN') throw e;
      // Login state is shared by the whole process: do not let a wrong PIN ride on another provider's login.
      const current = logins.get(this.slotKey);
      if (current && current.pin !== pinHash) {
        throw new InvalidKeyError(
          `${this.describe()}: the token is already logged in by another provider of this process with a different PIN; ${this.hints().denied}`,
        );
      }
    }
    if (!this.loggedIn) {
      this.loggedIn = true;
      const current = logins.get(this.slotKey);
      logins.set(this.slotKey, { count: (current?.count ?? 0) + 1, pin: current?.pin ?? pinHash });
    }
    this.needsLogin = false;
    return fresh;
  }

  /**
   * Opens a session, logging in on the first one. A `reopen` (replacing a
   * broken session) logs in again too: if the token closed every session, it
   * logged the process out (`CKR_USER_ALREADY_LOGGED_IN` is fine), and the
   * private key's handle is looked up again (a logout invalidates it).
   */
  private openSession(reopen = false): Handle {
    const sdk = this.sdk as Pkcs11Js;
    const session = (this.lib as LoadedModule).p11.C_OpenSession(this.slot as Handle, sdk.CKF_SERIAL_SESSION);
    // A replacement session logs in only when the token logged the process out
    // (no needless C_Login: a rotated PIN would burn the token's login attempts).
    if (!this.loggedIn || this.needsLogin || (reopen && !this.userLoggedIn(session))) {
      try {
        const fresh = this.login(session);
        if (fresh && reopen && this.key) this.key = this.findKey(session);
      } catch (e) {
        (this.lib as LoadedModule).p11.C_CloseSession(session);
        throw e;
      }
    }
    return session;
  }

  private findObjects(session: Handle, objectClass: number): Handle[] {
    const sdk = this.sdk as Pkcs11Js;
    const p11 = (this.lib as LoadedModule).p11;
    const template: Array<{ type: number; value: number | Buffer | string }> = [{ type: sdk.CKA_CLASS, value: objectClass }];
    const { keyId, keyLabel } = this.options;
    if (keyId !== undefined) template.push({ type: sdk.CKA_ID, value: toHex(keyId) as Buffer });
    if (keyLabel !== undefined) template.push({ type: sdk.CKA_LABEL, value: keyLabel });
    p11.C_FindObjectsInit(session, template);
    try {
      return p11.C_FindObjects(session, 16);
    } finally {
      p11.C_FindObjectsFinal(session);
    }
  }

  private attribute(handle: Handle, session: Handle, type: number): Buffer | undefined {
    try {
      const [attr] = (this.lib as LoadedModule).p11.C_GetAttributeValue(session, handle, [{ type }]);
      return attr?.value as Buffer | undefined;
    } catch {
      return undefined; // sensitive or not present on this object
    }
  }

  private findKey(session: Handle): Handle {
    const sdk = this.sdk as Pkcs11Js;
    const keys = this.step('C_FindObjects (private key)', () => this.findObjects(session, sdk.CKO_PRIVATE_KEY));
    if (keys.length === 0) {
      throw new InvalidKeyError(`${this.describe()}: no such private key on the token; ${this.hints()['not-found']}`);
    }
    if (keys.length > 1) throw new InvalidKeyError(`${this.describe()}: ${keys.length} private keys match; give both "keyId" and "keyLabel" to pick one`);
    return keys[0];
  }

  protected async load(): Promise<LoadedKey> {
    const o = this.options ?? ({} as Pkcs11KeyProviderOptions);
    if (typeof o.module !== 'string' || o.module === '') throw new InvalidKeyError('Pkcs11KeyProvider: option "module" is required (path of the PKCS#11 library)');
    if (!existsSync(o.module)) throw new InvalidKeyError(`Pkcs11KeyProvider: option "module": file ${quoteName(o.module)} does not exist; install the vendor's PKCS#11 library or fix the path`);
    if (typeof o.tokenLabel !== 'string' || o.tokenLabel === '') throw new InvalidKeyError('Pkcs11KeyProvider: option "tokenLabel" is required');
    if (o.keyId === undefined && o.keyLabel === undefined) throw new InvalidKeyError(`${this.describe()}: give "keyId" (CKA_ID, hex) or "keyLabel" (CKA_LABEL)`);
    if (o.keyId !== undefined && !toHex(o.keyId)) throw new InvalidKeyError(`${this.describe()}: option "keyId" must be hex, e.g. "01"`);
    const size = o.sessions ?? 4;
    if (!Number.isInteger(size) || size < 1 || size > 64) throw new InvalidKeyError(`${this.describe()}: option "sessions" must be a whole number from 1 to 64`);
    const mechanismName = o.mechanism ?? 'CKM_SHA256_RSA_PKCS';
    if (mechanismName !== 'CKM_SHA256_RSA_PKCS' && mechanismName !== 'CKM_RSA_PKCS') {
      throw new InvalidKeyError(`${this.describe()}: option "mechanism" must be "CKM_SHA256_RSA_PKCS" or "CKM_RSA_PKCS"`);
    }
    this.pin(); // fail early on a missing PIN

    const mod = await importOptional(() => import('pkcs11js'), 'pkcs11js', 'Pkcs11KeyProvider (nestjs-iadvize-auth/pkcs11)');
    // pkcs11js is CommonJS (`module.exports = { ...constants, PKCS11 }`): under Node's ESM loader the
    // constants live on `default` only. Refuse a loader that hides them rather than sign with `undefined`.
    const sdk = interopDefault(mod as Pkcs11Js, 'CKM_SHA256_RSA_PKCS');
    if (typeof sdk.PKCS11 !== 'function' || typeof sdk.CKM_SHA256_RSA_PKCS !== 'number' || typeof sdk.CKA_MODULUS !== 'number') {
      throw new InvalidKeyError('Pkcs11KeyProvider: the pkcs11js package loaded without its PKCS11 class or CKM_*/CKA_* constants; reinstall pkcs11js (npm install pkcs11js)');
    }
    this.sdk = sdk;
    try {
      this.lib = await acquireModule(sdk, o.module);
    } catch (e) {
      throw new InvalidKeyError(`Pkcs11KeyProvider: option "module": ${quoteName(basename(o.module))} could not be loaded and initialised (${pkcs11Code(e) ?? (e as Error)?.name ?? 'error'})`);
    }
    try {
      return await this.openKey(o, sdk, size, mechanismName);
    } catch (e) {
      await this.release(); // a failed start leaves no session, login or library reference behind
      throw e;
    }
  }

  /** Finds the token, checks the mechanism, logs in and finds and checks the key. */
  private async openKey(o: Pkcs11KeyProviderOptions, sdk: Pkcs11Js, size: number, mechanismName: 'CKM_SHA256_RSA_PKCS' | 'CKM_RSA_PKCS'): Promise<LoadedKey> {
    const p11 = (this.lib as LoadedModule).p11;

    const slots = this.step('C_GetSlotList', () => p11.C_GetSlotList(true));
    const labels: string[] = [];
    for (const s of slots) {
      const label = this.step('C_GetTokenInfo', () => p11.C_GetTokenInfo(s)).label.trim();
      if (label) labels.push(label);
      if (label === o.tokenLabel && !this.slot) this.slot = s;
    }
    if (!this.slot) {
      throw new InvalidKeyError(
        `${this.describe()}: no token labelled ${quoteName(o.tokenLabel)} (tokens present: ${labels.map(quoteName).join(', ') || 'none'}); check "tokenLabel" and the library's configuration (e.g. SOFTHSM2_CONF)`,
      );
    }
    this.slotKey = this.slot.toString('hex');
    this.mechanism = sdk[mechanismName];
    const mechanisms = this.step('C_GetMechanismList', () => p11.C_GetMechanismList(this.slot as Handle));
    const info = mechanisms.includes(this.mechanism) ? this.step('C_GetMechanismInfo', () => p11.C_GetMechanismInfo(this.slot as Handle, this.mechanism)) : undefined;
    if (!info || (info.flags & sdk.CKF_SIGN) === 0) {
      throw new InvalidKeyError(
        `${this.describe()}: the token does not sign with ${mechanismName}${mechanismName === 'CKM_SHA256_RSA_PKCS' ? '; try option mechanism: "CKM_RSA_PKCS"' : ''}`,
      );
    }

    this.pool = new SessionPool(
      size,
      (reopen) => this.openSession(reopen),
      (s) => p11.C_CloseSession(s),
      (s) => {
        p11.C_GetSessionInfo(s);
        return true;
      },
    );
    let session: Handle;
    try {
      // Every session now, so that signing never opens one (synchronous native calls).
      this.pool.fill();
      session = await this.pool.acquire();
    } catch (e) {
      throw this.initError('C_OpenSession / C_Login', e);
    }
    try {
      this.key = this.findKey(session);
      const key = this.key;
      const keyType = this.attribute(key, session, sdk.CKA_KEY_TYPE);
      if (!keyType || ulong(keyType) !== sdk.CKK_RSA) throw new InvalidKeyError(`${this.describe()} is not an RSA key; iAdvize needs RS256`);
      const canSign = this.attribute(key, session, sdk.CKA_SIGN);
      if (canSign && canSign[0] === 0) throw new InvalidKeyError(`${this.describe()} does not allow signing (CKA_SIGN is false)`);
      // The public half: from the matching public key object, else from the private key's attributes.
      const publics = this.findObjects(session, sdk.CKO_PUBLIC_KEY);
      const source = publics.length === 1 ? publics[0] : key;
      const n = this.attribute(source, session, sdk.CKA_MODULUS) ?? this.attribute(key, session, sdk.CKA_MODULUS);
      const e = this.attribute(source, session, sdk.CKA_PUBLIC_EXPONENT) ?? this.attribute(key, session, sdk.CKA_PUBLIC_EXPONENT);
      if (!n || !e) throw new InvalidKeyError(`${this.describe()}: cannot read the public key (no public key object with the same id/label, and the private key hides its modulus)`);
      const publicKey = loadPublicKey({ kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') }, `${this.describe()} (public key)`);
      this.signatureLength = Math.ceil((publicKey.asymmetricKeyDetails?.modulusLength ?? 2048) / 8);
      this.pool.release(session);
      return { publicKey };
    } catch (err) {
      this.pool.release(session, true);
      throw err;
    }
  }

  protected async signOnce(signingInput: Uint8Array, digest: Buffer, signal: AbortSignal): Promise<Uint8Array> {
    const sdk = this.sdk as Pkcs11Js;
    const pool = this.pool;
    if (!pool || !this.lib) throw new Error('session pool closed');
    const p11 = this.lib.p11;
    const data = this.mechanism === sdk.CKM_RSA_PKCS ? Buffer.concat([SHA256_DIGEST_INFO_PREFIX, digest]) : Buffer.from(signingInput);
    const session = await pool.acquire(signal);
    if (signal.aborted) {
      pool.release(session);
      throw signal.reason;
    }
    let operation: Promise<Buffer>;
    try {
      p11.C_SignInit(session, { mechanism: this.mechanism }, this.key as Handle);
      operation = p11.C_SignAsync(session, data, Buffer.alloc(this.signatureLength));
    } catch (e) {
      pool.release(session, SESSION_BREAKING.has(pkcs11Code(e) ?? ''));
      this.noteFailure(e);
      throw e;
    }
    // The session goes back to the pool only when the token is done with it,
    // even if this attempt is abandoned (timeout, deadline) before that.
    operation.then(
      () => pool.release(session),
      (e: unknown) => {
        pool.release(session, SESSION_BREAKING.has(pkcs11Code(e) ?? ''));
        this.noteFailure(e);
      },
    );
    return operation;
  }

  private noteFailure(e: unknown): void {
    if (pkcs11Code(e) === 'CKR_USER_NOT_LOGGED_IN') this.needsLogin = true;
  }

  protected override async beforeRetry(failure: RemoteFailure, signal?: AbortSignal): Promise<void> {
    if (/CKR_(KEY|OBJECT)_HANDLE_INVALID/.test(failure.detail)) {
      // The token was reset or reconnected: find the key again. Waiting for a session ends at the caller's deadline.
      const pool = this.pool;
      if (!pool) throw new Error('session pool closed');
      const session = await pool.acquire(signal);
      try {
        this.key = this.findKey(session);
        pool.release(session);
      } catch (e) {
        pool.release(session, true);
        throw e;
      }
    }
  }

  protected override async release(): Promise<void> {
    const loaded = this.lib;
    if (!loaded) return;
    const pool = this.pool;
    this.pool = undefined;
    // No new operation from here on; never finalise the library under a running one.
    await pool?.close();
    if (this.loggedIn) {
      const current = loaded.logins.get(this.slotKey);
      const left = (current?.count ?? 1) - 1;
      if (left <= 0) {
        loaded.logins.delete(this.slotKey);
        try {
          const s = loaded.p11.C_OpenSession(this.slot as Handle, (this.sdk as Pkcs11Js).CKF_SERIAL_SESSION);
          try {
            loaded.p11.C_Logout(s);
          } finally {
            loaded.p11.C_CloseSession(s);
          }
        } catch {
          // not logged in any more
        }
      } else loaded.logins.set(this.slotKey, { count: left, pin: current?.pin ?? '' });
    }
    this.loggedIn = false;
    this.slot = undefined;
    this.lib = undefined;
    releaseModule(this.options.module, loaded);
  }
}
