/**
 * Azure Key Vault / Managed HSM key provider:
 * `nestjs-iadvize-auth/azure-key-vault`. Needs the optional peer dependency
 * `@azure/keyvault-keys` (and a credential, usually from `@azure/identity`).
 * @packageDocumentation
 */
import type { CryptographyClient, KeyClient, KeyClientOptions, KeyVaultKey } from '@azure/keyvault-keys';
import { InvalidKeyError } from '../errors.js';
import { loadPublicKey } from '../keys/key-material.js';
import {
  failureKindOfStatus,
  importOptional,
  networkErrorCode,
  parseRetryAfter,
  RemoteKeyProvider,
  type FailureKind,
  type LoadedKey,
  type RemoteFailure,
  type RemoteSignerOptions,
} from './remote-signer.js';

export type { RemoteSignerOptions } from './remote-signer.js';

const PACKAGE = '@azure/keyvault-keys';

/** An Azure `TokenCredential` (e.g. `new DefaultAzureCredential()` from `@azure/identity`). */
export type AzureTokenCredential = ConstructorParameters<typeof KeyClient>[1];

/** Options of {@link AzureKeyVaultKeyProvider}. */
export interface AzureKeyVaultKeyProviderOptions extends RemoteSignerOptions {
  /**
   * Required. The key identifier, versioned or not:
   * `https://my-vault.vault.azure.net/keys/iadvize-jwt[/<version>]` (Managed HSM:
   * `https://my-hsm.managedhsm.azure.net/keys/…`). Without a version, the
   * current version is resolved once at startup and pinned.
   */
  keyId: string;
  /** Required. The credential the app signs in with (`DefaultAzureCredential`, a managed identity, …). */
  credential: AzureTokenCredential;
  /** A ready `KeyClient` for the vault (used to read the key). Default: built from `keyId`, `credential` and `clientOptions`. */
  client?: KeyClient;
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
 */
export class AzureKeyVaultKeyProvider extends RemoteKeyProvider {
  readonly kind = 'azure-key-vault';
  private crypto?: CryptographyClient;
  private versionedId?: string;

  constructor(private readonly options: AzureKeyVaultKeyProviderOptions) {
    super(options);
  }

  describe(): string {
    return `Azure Key Vault key "${this.versionedId ?? this.options?.keyId}"`;
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

  protected async load(): Promise<LoadedKey> {
    const parsed = parseKeyId(this.options?.keyId);
    const { credential, client, clientOptions } = this.options;
    if (!credential || typeof (credential as { getToken?: unknown }).getToken !== 'function') {
      throw new InvalidKeyError('AzureKeyVaultKeyProvider: option "credential" must be a TokenCredential, e.g. new DefaultAzureCredential() from @azure/identity');
    }
    const sdk = await importOptional(() => import('@azure/keyvault-keys'), PACKAGE, 'AzureKeyVaultKeyProvider (nestjs-iadvize-auth/azure-key-vault)');
    const options: KeyClientOptions = { ...clientOptions, retryOptions: { maxRetries: 0, ...clientOptions?.retryOptions } };
    const keys = client ?? new sdk.KeyClient(parsed.vaultUrl, credential, options);
    const kv: KeyVaultKey = await this.call('GetKey', (abortSignal) => keys.getKey(parsed.name, { version: parsed.version, abortSignal }));
    const where = `Azure Key Vault key "${kv.id ?? this.options.keyId}"`;
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
    if (!parseKeyId(kv.id).version) throw new InvalidKeyError(`${where}: Key Vault returned a key id without a version`);
    this.versionedId = kv.id;
    // Built from the key itself, the client signs remotely on exactly this version.
    this.crypto = new sdk.CryptographyClient(kv, credential, options);
    return { publicKey };
  }

  protected async signOnce(_input: Uint8Array, digest: Buffer, abortSignal: AbortSignal): Promise<Uint8Array> {
    const res = await (this.crypto as CryptographyClient).sign('RS256', digest, { abortSignal });
    if (res.keyID && res.keyID !== this.versionedId) {
      throw new InvalidKeyError(`${this.describe()}: Key Vault signed with another key version (${res.keyID})`);
    }
    if (!res.result || res.result.length === 0) throw new InvalidKeyError(`${this.describe()}: Key Vault returned no signature`);
    return res.result;
  }

  protected classify(error: unknown): RemoteFailure {
    return classifyAzureError(error);
  }
}
