/**
 * HashiCorp Vault Transit key provider: `nestjs-iadvize-auth/vault-transit`.
 * Talks to Vault's HTTP API with the global `fetch`; no dependency.
 * @packageDocumentation
 */
import {
  InvalidKeyError,
  loadPublicKey,
  quoteEnvName,
  quoteName,
  safeName,
  failureKindOfStatus,
  networkErrorCode,
  parseRetryAfter,
  RemoteKeyProvider,
  type FailureKind,
  type LoadedKey,
  type RemoteFailure,
  type RemoteSignerOptions,
} from './remote-key.provider.js';

export type { RemoteSignerOptions } from './remote-key.provider.js';

/**
 * Options of {@link VaultTransitKeyProvider}.
 * @public
 */
export interface VaultTransitKeyProviderOptions extends RemoteSignerOptions {
  /** Required. Vault's address, e.g. `https://vault.example.com:8200`. Default: the `VAULT_ADDR` environment variable. */
  address?: string;
  /** Required. Name of the transit key (type `rsa-2048`, `rsa-3072` or `rsa-4096`). */
  keyName: string;
  /** Mount path of the transit secrets engine. Default: `transit`. */
  mount?: string;
  /**
   * The Vault token, or a function returning the current one (for tokens your
   * app renews, e.g. from Kubernetes or AppRole auth). Default: read from the
   * environment variable named by `tokenEnv`.
   */
  token?: string | (() => string | Promise<string>);
  /** Name of the environment variable holding the token. Default: `VAULT_TOKEN`. */
  tokenEnv?: string;
  /** Vault Enterprise namespace (`X-Vault-Namespace`). Default: the `VAULT_NAMESPACE` environment variable, if set. */
  namespace?: string;
  /** Key version to sign with. Default: the latest version at startup (then pinned). */
  keyVersion?: number;
  /** The `fetch` to use (e.g. one with a custom TLS dispatcher). Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Extra headers sent with every request (e.g. for a proxy). */
  headers?: Record<string, string>;
}

const RSA_TYPES = new Set(['rsa-2048', 'rsa-3072', 'rsa-4096']);

/** An HTTP error answer from Vault. */
class VaultHttpError extends Error {
  constructor(
    readonly status: number,
    readonly vaultMessage: string,
    readonly retryAfter: string | null,
  ) {
    super(`HTTP ${status}`);
  }
}

interface KeyInfo {
  type?: string;
  latest_version?: number;
  min_available_version?: number;
  min_decryption_version?: number;
  /** Versions below it cannot sign (Vault: "requested version for signing is less than the minimum encryption key version"). 0 = no minimum. */
  min_encryption_version?: number;
  supports_signing?: boolean;
  keys?: Record<string, { public_key?: string } | number>;
}

/** TLS failures of `fetch` (certificate expired, unknown CA, wrong host name, TLS version): configuration problems, never retried. */
const TLS_CODE = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|ERR_TLS_|ERR_SSL_|ERR_OSSL_)/;

/**
 * Classifies an error thrown by `fetch` (not an HTTP answer). Only network
 * failures (`ECONNREFUSED`, `ECONNRESET`, `UND_ERR_SOCKET`, …, the list of
 * {@link networkErrorCode}) are transient and retried. Any other
 * `TypeError: fetch failed` — a TLS certificate error, a refused redirect —
 * will not heal by retrying: it fails at once, naming the cause's code (never
 * its message, the URL or the token).
 */
function classifyFetchError(error: unknown): RemoteFailure {
  const net = networkErrorCode(error);
  if (net) return { kind: 'unavailable', detail: `network error ${net}` };
  const e = error as { name?: unknown; message?: unknown; cause?: unknown } | null;
  const name = typeof e?.name === 'string' && /^\w{1,64}$/.test(e.name) ? e.name : 'error';
  if (name !== 'TypeError' || !/fetch failed/i.test(String(e?.message))) return { kind: 'failed', detail: name };
  const cause = (e?.cause ?? {}) as { code?: unknown; name?: unknown; message?: unknown };
  const code = typeof cause.code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(cause.code) ? cause.code : undefined;
  if (code && TLS_CODE.test(code)) {
    return {
      kind: 'failed',
      detail: `fetch failed: TLS error ${code}; check "address" and the CA certificates Node trusts (NODE_EXTRA_CA_CERTS, or a "fetch" with your CA)`,
    };
  }
  if (!code && /redirect/i.test(String(cause.message))) {
    return { kind: 'failed', detail: 'fetch failed: Vault answered with a redirect, which is refused (the token would follow it); point "address" at the active node or a load balancer' };
  }
  const causeName = typeof cause.name === 'string' && /^\w{1,64}$/.test(cause.name) ? cause.name : undefined;
  return { kind: 'failed', detail: `fetch failed: ${code ?? causeName ?? 'no cause given'}` };
}

/** Classifies a Vault HTTP error (a sealed or standby Vault is unavailable), else a network error. */
function classifyVaultError(error: unknown): RemoteFailure {
  if (error instanceof VaultHttpError) {
    const kind = failureKindOfStatus(error.status) ?? 'failed';
    // A sealed or standby Vault answers 503; 412 means a performance standby has not caught up yet.
    const effective = error.status === 412 ? 'unavailable' : kind;
    return {
      kind: effective,
      detail: `HTTP ${error.status}${error.vaultMessage ? `: ${error.vaultMessage}` : ''}`,
      retryAfterSeconds: parseRetryAfter(error.retryAfter),
    };
  }
  return classifyFetchError(error);
}

/**
 * Signs with a Vault Transit RSA key: `POST /v1/{mount}/sign/{name}` with the
 * SHA-256 digest (`prehashed: true`, `hash_algorithm: sha2-256`) and
 * `signature_algorithm: pkcs1v15` on every request (Vault's RSA default is PSS,
 * which is not RS256), on the key version pinned at startup. The
 * `vault:vN:` answer is checked to come from that version.
 *
 * The token needs the policy:
 * `path "transit/sign/<name>" { capabilities = ["update"] }` and
 * `path "transit/keys/<name>" { capabilities = ["read"] }`.
 *
 * ```ts
 * import { VaultTransitKeyProvider } from 'nestjs-iadvize-auth/vault-transit';
 * signingKey: new VaultTransitKeyProvider({ address: 'https://vault:8200', keyName: 'iadvize-jwt' })
 * ```
 * @public
 */
export class VaultTransitKeyProvider extends RemoteKeyProvider {
  readonly kind = 'vault-transit';
  private version?: number;
  private readonly doFetch: typeof fetch;

  constructor(private readonly options: VaultTransitKeyProviderOptions) {
    super(options, classifyVaultError);
    this.doFetch = options?.fetch ?? ((...args: Parameters<typeof fetch>) => fetch(...args));
  }

  describe(): string {
    const o = this.options ?? ({} as VaultTransitKeyProviderOptions);
    // Runs before the options are validated: a key pasted into "keyName" or "mount" is never repeated.
    return `Vault transit key ${quoteName(`${this.mount()}/${o.keyName}`)}${this.version !== undefined ? ` version ${this.version}` : ''}`;
  }

  /** The key version pinned at startup (after `init()`). */
  get pinnedVersion(): number | undefined {
    return this.version;
  }

  private mount(): string {
    return (this.options?.mount ?? 'transit').replace(/^\/+|\/+$/g, '');
  }

  private address(): string {
    const address = this.options?.address ?? process.env.VAULT_ADDR;
    if (typeof address !== 'string' || address.trim() === '') {
      throw new InvalidKeyError('VaultTransitKeyProvider: option "address" is required (or set VAULT_ADDR), e.g. "https://vault.example.com:8200"');
    }
    let url: URL;
    try {
      url = new URL(address);
    } catch {
      throw new InvalidKeyError('VaultTransitKeyProvider: option "address" is not a URL; use e.g. "https://vault.example.com:8200"');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InvalidKeyError('VaultTransitKeyProvider: option "address" must be an http(s) URL');
    return url.toString().replace(/\/+$/, '');
  }

  private path(kind: 'keys' | 'sign'): string {
    const mount = this.mount().split('/').map(encodeURIComponent).join('/');
    return `/v1/${mount}/${kind}/${encodeURIComponent(this.options.keyName)}`;
  }

  private async token(): Promise<string> {
    const { token, tokenEnv = 'VAULT_TOKEN' } = this.options;
    const value = typeof token === 'function' ? await token() : (token ?? process.env[tokenEnv]);
    if (typeof value !== 'string' || value.trim() === '') {
      throw new InvalidKeyError(
        typeof token === 'function'
          ? `${this.describe()}: the "token" function returned no token`
          : `${this.describe()}: no Vault token; set option "token" or the environment variable ${quoteEnvName(tokenEnv)}`,
      );
    }
    return value.trim();
  }

  private async request<T>(method: 'GET' | 'POST', path: string, signal: AbortSignal, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { ...this.options.headers, 'X-Vault-Token': await this.token(), 'X-Vault-Request': 'true' };
    const namespace = this.options.namespace ?? process.env.VAULT_NAMESPACE;
    if (namespace) headers['X-Vault-Namespace'] = namespace;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await this.doFetch(`${this.address()}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      redirect: 'error',
    });
    const text = await res.text();
    if (!res.ok) {
      let message = '';
      try {
        const errors = (JSON.parse(text) as { errors?: unknown }).errors;
        if (Array.isArray(errors)) message = errors.map(String).join('; ');
      } catch {
        // not JSON: keep the status only
      }
      // Vault's messages may echo the request path; long base64-like runs (a key pasted somewhere) are cut out.
      const scrubbed = message.replace(/\s+/g, ' ').replace(/[A-Za-z0-9+/=_%-]{40,}/g, '(…)');
      throw new VaultHttpError(res.status, scrubbed.slice(0, 200), res.headers.get('retry-after'));
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new InvalidKeyError(`${this.describe()}: Vault answered ${method} ${path === this.path('sign') ? 'sign' : 'read key'} with something that is not JSON; check "address"`);
    }
  }

  protected override hints() {
    const mount = safeName(this.mount());
    const name = safeName(this.options?.keyName);
    return {
      denied: `give the token a policy with "update" on ${mount}/sign/${name} and "read" on ${mount}/keys/${name}`,
      'not-found': `check "keyName" and "mount" (create the key: vault write -f ${mount}/keys/${name} type=rsa-2048)`,
      rejected: 'check the key type (rsa-2048 or larger) and "keyVersion" (at least the key\'s min_encryption_version)',
    } satisfies Partial<Record<FailureKind, string>>;
  }

  protected async load(): Promise<LoadedKey> {
    const o = this.options ?? ({} as VaultTransitKeyProviderOptions);
    if (typeof o.keyName !== 'string' || o.keyName.trim() === '') throw new InvalidKeyError('VaultTransitKeyProvider: option "keyName" is required');
    const mount = this.mount();
    if (mount === '' || /[\s\p{Cc}]/u.test(mount) || safeName(mount) !== mount) {
      throw new InvalidKeyError('VaultTransitKeyProvider: option "mount" must be the path of the transit secrets engine, e.g. "transit"');
    }
    // Vault's own rule for transit key names (framework.GenericNameRegex).
    if (!/^\w(?:[\w.-]*\w)?$/.test(o.keyName)) {
      throw new InvalidKeyError('VaultTransitKeyProvider: option "keyName" must be a transit key name (letters, digits, "_", "-", "."), e.g. "iadvize-jwt"');
    }
    this.address();
    if (o.keyVersion !== undefined && (!Number.isInteger(o.keyVersion) || o.keyVersion < 1)) {
      throw new InvalidKeyError(`${this.describe()}: option "keyVersion" must be a whole number >= 1`);
    }
    const { data } = await this.call('read key', (signal) => this.request<{ data?: KeyInfo }>('GET', this.path('keys'), signal));
    if (!data || typeof data !== 'object') throw new InvalidKeyError(`${this.describe()}: Vault returned no key data`);
    if (!RSA_TYPES.has(String(data.type))) {
      throw new InvalidKeyError(`${this.describe()} is of type "${String(data.type)}"; iAdvize needs RS256: create an rsa-2048 (or larger) key`);
    }
    if (data.supports_signing === false) throw new InvalidKeyError(`${this.describe()} does not support signing`);
    const version = o.keyVersion ?? data.latest_version;
    if (typeof version !== 'number') throw new InvalidKeyError(`${this.describe()}: Vault did not report the latest key version; set "keyVersion"`);
    const minVersion = Math.max(data.min_available_version ?? 0, data.min_decryption_version ?? 0);
    const entry = data.keys?.[String(version)];
    if (entry === undefined || version < minVersion) {
      throw new InvalidKeyError(`${this.describe()}: version ${version} does not exist or is no longer available (versions: ${Object.keys(data.keys ?? {}).join(', ') || 'none'})`);
    }
    const minEncryption = typeof data.min_encryption_version === 'number' ? data.min_encryption_version : 0;
    if (minEncryption > 0 && version < minEncryption) {
      throw new InvalidKeyError(
        o.keyVersion !== undefined
          ? `${this.describe()}: option "keyVersion" (${version}) is below the key's min_encryption_version (${minEncryption}), so Vault refuses to sign with it; pin version ${minEncryption} or later, or leave "keyVersion" out to use the latest`
          : `${this.describe()}: the latest version (${version}) is below the key's min_encryption_version (${minEncryption}); check the key's configuration`,
      );
    }
    const pem = typeof entry === 'object' ? entry.public_key : undefined;
    if (typeof pem !== 'string') throw new InvalidKeyError(`${this.describe()}: Vault returned no public key for version ${version}`);
    const publicKey = loadPublicKey(pem, `${this.describe()} version ${version} (public key)`);
    this.version = version;
    return { publicKey };
  }

  protected async signOnce(_input: Uint8Array, digest: Buffer, signal: AbortSignal): Promise<Uint8Array> {
    const res = await this.request<{ data?: { signature?: unknown; key_version?: unknown } }>('POST', this.path('sign'), signal, {
      input: digest.toString('base64'),
      prehashed: true,
      hash_algorithm: 'sha2-256',
      signature_algorithm: 'pkcs1v15',
      key_version: this.version,
    });
    const signature = res.data?.signature;
    const match = typeof signature === 'string' ? /^vault:v(\d+):([A-Za-z0-9+/]+={0,2})$/.exec(signature) : null;
    if (!match) throw new InvalidKeyError(`${this.describe()}: Vault returned no "vault:vN:" signature`);
    if (Number(match[1]) !== this.version) {
      throw new InvalidKeyError(`${this.describe()}: Vault signed with version ${match[1]}, not the pinned version ${this.version}`);
    }
    return Buffer.from(match[2], 'base64');
  }
}
