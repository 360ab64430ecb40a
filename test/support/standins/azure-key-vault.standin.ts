/**
 * Loopback stand-in of Azure Key Vault's keys API with its challenge-based
 * auth: a request without a valid token gets `401` +
 * `WWW-Authenticate: Bearer authorization="…", resource="…"`; then
 * `GET /keys/{name}[/{version}]` and `POST /keys/{name}/{version}/sign`.
 */
import type { IncomingMessage } from 'node:http';
import { signPkcs1Digest, standinKey, StandinServer, type StandinKey, type StandinReply } from './standin-server.js';

interface KeyVersion {
  key: StandinKey;
  kty: string;
  ops: string[];
  enabled: boolean;
  exp?: number;
}

/** Stand-in of Azure Key Vault. */
export class AzureKeyVaultStandin extends StandinServer {
  readonly tokens = new Set(['standin-azure-token']);
  /** name → version → key (insertion order: the last one is current). */
  readonly keys = new Map<string, Map<string, KeyVersion>>();
  /** `Retry-After` sent with injected 429s. */
  retryAfter = '0';
  /** api-version of every request. */
  readonly apiVersions = new Set<string>();

  private constructor(key: StandinKey, other: StandinKey) {
    super(key, other);
  }

  /** Starts a stand-in holding key `name` whose current version `version` is `key`. */
  static async create(name: string, version: string): Promise<AzureKeyVaultStandin> {
    const [a, b] = await Promise.all([standinKey(), standinKey()]);
    const s = new AzureKeyVaultStandin(a, b);
    s.keys.set(name, new Map([[version, { key: a, kty: 'RSA-HSM', ops: ['sign', 'verify'], enabled: true }]]));
    return s.start();
  }

  /** Adds a version (made current) to a key. */
  async addVersion(name: string, version: string, patch: Partial<KeyVersion> = {}): Promise<KeyVersion> {
    const v: KeyVersion = { key: await standinKey(), kty: 'RSA-HSM', ops: ['sign', 'verify'], enabled: true, ...patch };
    this.keys.get(name)?.set(version, v);
    return v;
  }

  /** `https://…/keys/name/version` as the vault names it (here on loopback). */
  kid(name: string, version: string): string {
    return `${this.url}/keys/${name}/${version}`;
  }

  protected operationOf(req: IncomingMessage, url: URL): string {
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts[0] !== 'keys') return 'unknown';
    if (parts[3] === 'sign') return 'sign';
    return req.method === 'GET' ? 'getKey' : 'unknown';
  }

  private error(status: number, code: string, message: string, headers?: Record<string, string>): StandinReply {
    return { status, body: { error: { code, message } }, headers };
  }

  protected faultReply(kind: 'throttle' | 'unavailable' | 'denied'): StandinReply {
    if (kind === 'throttle') return this.error(429, 'Throttled', 'Request was not processed because too many requests were received.', { 'retry-after': this.retryAfter });
    if (kind === 'unavailable') return this.error(503, 'ServiceUnavailable', 'The service is temporarily unavailable.');
    return this.error(403, 'Forbidden', 'The user, group or application does not have keys sign permission on key vault.');
  }

  protected route(op: string, req: IncomingMessage, url: URL, raw: string): StandinReply {
    const apiVersion = url.searchParams.get('api-version');
    if (!apiVersion) return this.error(400, 'BadParameter', 'api-version is required');
    this.apiVersions.add(apiVersion);
    const auth = String(req.headers.authorization ?? '');
    if (!auth.startsWith('Bearer ') || !this.tokens.has(auth.slice(7))) {
      return {
        status: 401,
        body: { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } },
        headers: { 'www-authenticate': 'Bearer authorization="https://login.example/tenant-id", resource="https://vault.azure.net"' },
      };
    }
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const versions = this.keys.get(parts[1]);
    if (!versions) return this.error(404, 'KeyNotFound', `A key with (name/id) ${parts[1]} was not found in this key vault.`);
    const version = parts[2] ?? [...versions.keys()].at(-1) ?? '';
    const v = versions.get(version);
    if (!v) return this.error(404, 'KeyNotFound', `A key with (name/id) ${parts[1]}/${version} was not found in this key vault.`);
    const kid = this.kid(parts[1], version);
    if (op === 'getKey') {
      const jwk = v.key.publicKey.export({ format: 'jwk' });
      return {
        status: 200,
        body: {
          key: { kid, kty: v.kty, key_ops: v.ops, n: jwk.n, e: jwk.e },
          attributes: { enabled: v.enabled, created: 1767225600, updated: 1767225600, recoveryLevel: 'Recoverable', ...(v.exp ? { exp: v.exp } : {}) },
        },
      };
    }
    if (op !== 'sign' || req.method !== 'POST') return this.error(405, 'MethodNotAllowed', 'unsupported');
    if (!v.enabled) return this.error(403, 'Forbidden', 'Operation sign is not allowed on a disabled key.');
    if (!v.ops.includes('sign')) return this.error(403, 'Forbidden', 'Operation sign is not permitted on this key.');
    const body = JSON.parse(raw) as { alg?: string; value?: string };
    if (body.alg !== 'RS256') return this.error(400, 'BadParameter', `this stand-in signs RS256 only, got ${String(body.alg)}`);
    const digest = Buffer.from(body.value ?? '', 'base64url');
    if (digest.length !== 32) return this.error(400, 'BadParameter', 'Invalid digest length for RS256');
    const signature = v.key === this.key ? this.signDigest(digest) : signPkcs1Digest(v.key.privateKey, digest);
    return { status: 200, body: { kid, value: signature.toString('base64url') } };
  }
}
