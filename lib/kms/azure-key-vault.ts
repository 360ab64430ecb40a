/**
 * Azure Key Vault / Managed HSM key provider:
 * `nestjs-iadvize-auth/azure-key-vault`. Needs the optional peer dependency
 * `@azure/keyvault-keys` (and a credential, usually from `@azure/identity`).
 * @packageDocumentation
 */
import type { CryptographyClient, KeyClient, KeyClientOptions, KeyVaultKey } from '@azure/keyvault-keys';
import {
  InvalidKeyError,
  loadPublicKey,
  quoteName,
  failureKindOfStatus,
  importOptional,
  networkErrorCode,
  parseRetryAfter,
  RemoteKeyProvider,
  type FailureKind,
  type LoadedKey,
  type RemoteFailure,
  type RemoteSignerOptions,
} from './remote-key.provider.js';

export type { RemoteSignerOptions } from './remote-key.provider.js';

const PACKAGE = '@azure/keyvault-keys';

/**
 * An Azure `TokenCredential` (e.g. `new DefaultAzureCredential()` from `@azure/identity`).
 * @public
 */
export type AzureTokenCredential = ConstructorParameters<typeof KeyClient>[1];

/**
 * Options of {@link AzureKeyVaultKeyProvider}.
 * @public
 */
export interface AzureKeyVaultKeyProviderOptions extends RemoteSignerOptions {
  /**
   * Required. The key identifier, versioned or not:
   * `https://my-vault.vault.azure.net/keys/iadvize-jwt[/<version>]` (Managed HSM:
   * `https://my-hsm.managedhsm.azure.net/keys/…`). Without a version, the
   * current version is resolved once at startup and pinned.
   */
  keyId: string;
  /**
   * The credential the app signs in with (`DefaultAzureCredential`, a managed
   * identity, …). Required, unless you pass both `client` and
   * `cryptographyClient`: then the provider builds no client and needs none.
   */
  credential?: AzureTokenCredential;
  /** A ready `KeyClient` for the vault (used to read the key). Default: built from `keyId`, `credential` and `clientOptions`. */
  client?: KeyClient;
  /**
   * A ready `CryptographyClient` (used to sign), built on a **versioned** key id
   * of the key named by `keyId`: `new CryptographyClient('https://…/keys/<name>/<version>', credential)`.
   * That version is the one pinned. Default: built from the key read at
   * startup, `credential` and `clientOptions`. With both `client` and
   * `cryptographyClient`, credentials stay entirely in your code.
   */
  cryptographyClient?: CryptographyClient;
  /**
   * Options of the clients built here. The SDK's own retries are off by
   * default (`retryOptions: { maxRetries: 0 }`): this provider retries.
   */
  clientOptions?: KeyClientOptions;
}

interface ParsedKeyId {
  vaultUrl: string;
  name: string;
  version?: string;
}

function parseKeyId(keyId: unknown): ParsedKeyId {
  const usage = 'AzureKeyVaultKeyProvider: option "keyId" must be a key identifier, https://<vault>.vault.azure.net/keys/<name>[/<version>]';
  if (typeof keyId !== 'string' || keyId.trim() === '') throw new InvalidKeyError(usage);
  let url: URL;
  try {
    url = new URL(keyId);
  } catch {
    throw new InvalidKeyError(usage);
  }
  const parts = url.pathname.split('/').filter(Boolean);
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || parts[0] !== 'keys' || parts.length < 2 || parts.length > 3) {
    throw new InvalidKeyError(usage);
  }
  return { vaultUrl: url.origin, name: decodeURIComponent(parts[1]), version: parts[2] ? decodeURIComponent(parts[2]) : undefined };
}

function classifyAzureError(error: unknown): RemoteFailure {
  const e = (error ?? {}) as {
    name?: unknown;
    statusCode?: unknown;
    code?: unknown;
    response?: { headers?: { get?: (n: string) => string | undefined } };
  };
  const name = typeof e.name === 'string' ? e.name : 'Error';
  if (name === 'CredentialUnavailableError' || name === 'AuthenticationError' || name === 'AggregateAuthenticationError') {
    return { kind: 'denied', detail: `${name}: the credential could not get a token` };
  }
  if (typeof e.statusCode === 'number') {
    const code = typeof e.code === 'string' ? ` ${e.code}` : '';
    return {
      kind: failureKindOfStatus(e.statusCode) ?? 'failed',
      detail: `HTTP ${e.statusCode}${code}`,
      retryAfterSeconds: parseRetryAfter(e.response?.headers?.get?.('retry-after')),
    };
  }
  const net = networkErrorCode(error);
  if (net || e.code === 'REQUEST_SEND_ERROR') return { kind: 'unavailable', detail: `network error ${net ?? String(e.code)}` };
  return { kind: 'failed', detail: name };
}

/**
 * Signs with an RSA key in Azure Key Vault or Managed HSM:
 * `CryptographyClient.sign('RS256', digest)` on the versioned key id pinned at
 * startup, so only the SHA-256 digest leaves the process.
 *
 * The app's identity needs the `keys/get` and `keys/sign` permissions (RBAC
 * role "Key Vault Crypto User", or an access policy with Get + Sign).
 *
 * ```ts
 * import { DefaultAzureCredential } from '@azure/identity';
 * import { AzureKeyVaultKeyProvider } from 'nestjs-iadvize-auth/azure-key-vault';
 * signingKey: new AzureKeyVaultKeyProvider({
 *   keyId: 'https://my-vault.vault.azure.net/keys/iadvize-jwt',
 *   credential: new DefaultAzureCredential(),
 * })
 * ```
 * @public
 */
export class AzureKeyVaultKeyProvider extends RemoteKeyProvider {
  readonly kind = 'azure-key-vault';
  private crypto?: CryptographyClient;
  private versionedId?: string;

  constructor(private readonly options: AzureKeyVaultKeyProviderOptions) {
    super(options, classifyAzureError);
  }

  describe(): string {
    // Runs before the options are validated: a key pasted into "keyId" is never repeated.
    return `Azure Key Vault key ${quoteName(this.versionedId ?? this.options?.keyId)}`;
  }

  /** The versioned key id pinned at startup (after `init()`). */
  get pinnedKeyId(): string | undefined {
    return this.versionedId;
  }

  protected override hints() {
    return {
      denied: 'give the app\'s identity the keys/get and keys/sign permissions on the vault (RBAC role "Key Vault Crypto User" or an access policy), and check its credential',
      'not-found': 'check "keyId" (https://<vault>.vault.azure.net/keys/<name>[/<version>])',
      disabled: 'the key is disabled or outside its validity period; enable it or pin another version',
      rejected: 'the key must be an RSA key allowing the "sign" operation',
    } satisfies Partial<Record<FailureKind, string>>;
  }

  /**
   * Checks a caller's `CryptographyClient`: built on a versioned id of the key
   * named by `keyId` (and of the same version, if `keyId` has one). Returns that version.
   */
  private pinnedVersionOf(cryptographyClient: unknown, parsed: ParsedKeyId): string {
    const cc = cryptographyClient as { keyID?: unknown; sign?: unknown } | null;
    if (!cc || typeof cc !== 'object' || typeof cc.sign !== 'function') {
      throw new InvalidKeyError('AzureKeyVaultKeyProvider: option "cryptographyClient" must be a CryptographyClient from @azure/keyvault-keys');
    }
    const usage = 'build it on a versioned key id, new CryptographyClient("https://<vault>.vault.azure.net/keys/<name>/<version>", credential)';
    let own: ParsedKeyId;
    try {
      own = parseKeyId(cc.keyID);
    } catch {
      throw new InvalidKeyError(`AzureKeyVaultKeyProvider: option "cryptographyClient" is not built on a Key Vault key id; ${usage}`);
    }
    if (!own.version) {
      throw new InvalidKeyError(
        `AzureKeyVaultKeyProvider: option "cryptographyClient" is built on a key id without a version, which signs with whatever version is current; ${usage}`,
      );
    }
    if (own.vaultUrl !== parsed.vaultUrl || own.name.toLowerCase() !== parsed.name.toLowerCase()) {
      throw new InvalidKeyError('AzureKeyVaultKeyProvider: option "cryptographyClient" is built on another key than option "keyId"; give both the same vault and key name');
    }
    if (parsed.version && parsed.version.toLowerCase() !== own.version.toLowerCase()) {
      throw new InvalidKeyError('AzureKeyVaultKeyProvider: option "cryptographyClient" is built on another version than option "keyId"; give the same version, or none in "keyId"');
    }
    return own.version;
  }

  protected async load(): Promise<LoadedKey> {
    const parsed = parseKeyId(this.options?.keyId);
    const { credential, client, clientOptions, cryptographyClient } = this.options;
    const usableCredential = !!credential && typeof (credential as { getToken?: unknown }).getToken === 'function';
    if (credential !== undefined && !usableCredential) {
      throw new InvalidKeyError('AzureKeyVaultKeyProvider: option "credential" must be a TokenCredential, e.g. new DefaultAzureCredential() from @azure/identity');
    }
    if (!usableCredential && !(client && cryptographyClient)) {
      throw new InvalidKeyError(
        'AzureKeyVaultKeyProvider: option "credential" must be a TokenCredential, e.g. new DefaultAzureCredential() from @azure/identity (it may be left out only when you pass both "client" and "cryptographyClient")',
      );
    }
    const pinned = cryptographyClient !== undefined ? this.pinnedVersionOf(cryptographyClient, parsed) : parsed.version;
    const sdk = await importOptional(() => import('@azure/keyvault-keys'), PACKAGE, 'AzureKeyVaultKeyProvider (nestjs-iadvize-auth/azure-key-vault)');
    const options: KeyClientOptions = { ...clientOptions, retryOptions: { maxRetries: 0, ...clientOptions?.retryOptions } };
    const keys = client ?? new sdk.KeyClient(parsed.vaultUrl, credential as AzureTokenCredential, options);
    const kv: KeyVaultKey = await this.call('GetKey', (abortSignal) => keys.getKey(parsed.name, { version: pinned, abortSignal }));
    const where = `Azure Key Vault key ${quoteName(kv.id ?? this.options.keyId)}`;
    const jwk = kv.key;
    if (!jwk || !kv.id || (kv.keyType !== 'RSA' && kv.keyType !== 'RSA-HSM')) {
      throw new InvalidKeyError(`${where} is of type ${String(kv.keyType)}; iAdvize needs RS256: create an RSA (or RSA-HSM) key of 2048 bits or more`);
    }
    const ops = kv.keyOperations ?? jwk.keyOps;
    if (ops && !ops.includes('sign')) {
      throw new InvalidKeyError(`${where} does not allow the "sign" operation (allowed: ${ops.join(', ') || 'none'}); create it with --ops sign verify`);
    }
    const now = Date.now();
    const { enabled, notBefore, expiresOn } = kv.properties ?? {};
    if (enabled === false) throw new InvalidKeyError(`${where} is disabled; enable it or pin another version`);
    if (notBefore && notBefore.getTime() > now) throw new InvalidKeyError(`${where} is not valid before ${notBefore.toISOString()}`);
    if (expiresOn && expiresOn.getTime() <= now) throw new InvalidKeyError(`${where} expired on ${expiresOn.toISOString()}`);
    if (!jwk.n || !jwk.e) throw new InvalidKeyError(`${where}: Key Vault returned no RSA public key`);
    const publicKey = loadPublicKey(
      { kty: 'RSA', n: Buffer.from(jwk.n).toString('base64url'), e: Buffer.from(jwk.e).toString('base64url') },
      `${where} (public key)`,
    );
    const readVersion = parseKeyId(kv.id).version;
    if (!readVersion) throw new InvalidKeyError(`${where}: Key Vault returned a key id without a version`);
    if (pinned && readVersion.toLowerCase() !== pinned.toLowerCase()) {
      throw new InvalidKeyError(`${where}: Key Vault returned another version than the one asked for`);
    }
    this.versionedId = kv.id;
    // Built from the key itself, the client signs remotely on exactly this version.
    this.crypto = cryptographyClient ?? new sdk.CryptographyClient(kv, credential as AzureTokenCredential, options);
    return { publicKey };
  }

  protected async signOnce(_input: Uint8Array, digest: Buffer, abortSignal: AbortSignal): Promise<Uint8Array> {
    const res = await (this.crypto as CryptographyClient).sign('RS256', digest, { abortSignal });
    if (res.keyID && res.keyID !== this.versionedId) {
      throw new InvalidKeyError(`${this.describe()}: Key Vault signed with another key version (${quoteName(res.keyID)})`);
    }
    if (!res.result || res.result.length === 0) throw new InvalidKeyError(`${this.describe()}: Key Vault returned no signature`);
    return res.result;
  }

}
