/**
 * Loopback stand-in of HashiCorp Vault's transit secrets engine: rotate
 * and read RSA keys, and sign, with Vault's defaults (RSA signs PSS
 * unless `signature_algorithm: pkcs1v15`) and its `vault:vN:` answers.
 */
import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { signPkcs1Digest, signPssDigest, standinKey, StandinServer, type StandinKey, type StandinReply } from './standin-server.js';

interface TransitKey {
  type: string;
  versions: StandinKey[];
  minDecryptionVersion: number;
  /** Versions below it cannot sign, as Vault's `min_encryption_version` (0 = no minimum). */
  minEncryptionVersion?: number;
}

/** Stand-in of Vault transit. */
export class VaultTransitStandin extends StandinServer {
  /** Tokens Vault accepts. */
  readonly tokens = new Set<string>();
  /** `Retry-After` sent with injected 429s. */
  retryAfter = '0';
  readonly keys = new Map<string, TransitKey>();

  private constructor(key: StandinKey, other: StandinKey) {
    super(key, other);
  }

  /** Starts a stand-in whose key `name` (rsa-2048) has `key` as version 1. */
  static async create(name: string, token: string): Promise<VaultTransitStandin> {
    const [a, b] = await Promise.all([standinKey(), standinKey()]);
    const s = new VaultTransitStandin(a, b);
    s.tokens.add(token);
    s.keys.set(name, { type: 'rsa-2048', versions: [a], minDecryptionVersion: 1 });
    return s.start();
  }

  /** Adds a version to a key, as `POST transit/keys/:name/rotate` does. */
  async rotate(name: string): Promise<StandinKey> {
    const k = this.keys.get(name);
    if (!k) throw new Error(`no key ${name}`);
    const next = await standinKey();
    k.versions.push(next);
    return next;
  }

  protected operationOf(req: IncomingMessage, url: URL): string {
    const m = /^\/v1\/(.+)\/(keys|sign)\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) return 'unknown';
    if (m[2] === 'sign') return 'sign';
    if (m[4] === 'rotate') return 'rotate';
    return req.method === 'GET' ? 'read' : 'create';
  }

  private error(status: number, ...errors: string[]): StandinReply {
    return { status, body: { errors } };
  }

  protected faultReply(kind: 'throttle' | 'unavailable' | 'denied'): StandinReply {
    if (kind === 'throttle') return { ...this.error(429, 'request path "transit/sign": rate limit quota exceeded'), headers: { 'retry-after': this.retryAfter } };
    if (kind === 'unavailable') return this.error(503, 'Vault is sealed');
    return this.error(403, 'permission denied');
  }

  protected route(op: string, req: IncomingMessage, url: URL, raw: string): StandinReply {
    const token = req.headers['x-vault-token'];
    if (typeof token !== 'string' || !this.tokens.has(token)) return this.error(403, 'permission denied');
    const m = /^\/v1\/(.+)\/(keys|sign)\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m || m[1] !== 'transit') return this.error(404, `no handler for route "${url.pathname}"`);
    const name = decodeURIComponent(m[3]);
    const key = this.keys.get(name);
    const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    switch (op) {
      case 'read': {
        if (!key) return this.error(404);
        const keys: Record<string, unknown> = {};
        key.versions.forEach((v, i) => {
          keys[String(i + 1)] = { name: 'rsa-2048', creation_time: '2026-01-01T00:00:00Z', public_key: v.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
        });
        return {
          status: 200,
          body: {
            data: {
              name,
              type: key.type,
              latest_version: key.versions.length,
              min_available_version: 0,
              min_decryption_version: key.minDecryptionVersion,
              min_encryption_version: key.minEncryptionVersion ?? 0,
              supports_signing: key.type.startsWith('rsa') || key.type.startsWith('ecdsa'),
              keys,
            },
          },
        };
      }
      case 'sign': {
        if (!key) return this.error(400, 'signing key not found');
        const hash = m[4] ?? body.hash_algorithm ?? 'sha2-256';
        if (hash !== 'sha2-256') return this.error(400, `unsupported hash algorithm ${String(hash)} in this stand-in`);
        // Vault's checks (keysutil Policy.SignWithOptions): 0 or absent means the latest version.
        const requested = body.key_version === undefined ? 0 : Number(body.key_version);
        const version = requested === 0 ? key.versions.length : requested;
        if (!Number.isInteger(version) || version < 0) return this.error(400, 'requested version for signing is negative');
        if (version > key.versions.length) return this.error(400, 'requested version for signing is higher than the latest key version');
        const minEncryption = key.minEncryptionVersion ?? 0;
        if (minEncryption > 0 && version < minEncryption) return this.error(400, 'requested version for signing is less than the minimum encryption key version');
        const versionKey = key.versions[version - 1];
        if (!versionKey || version < key.minDecryptionVersion) return this.error(400, 'no key version found for the requested version (archived below min_decryption_version)');
        const input = Buffer.from(String(body.input ?? ''), 'base64');
        const digest = body.prehashed === true ? input : createHash('sha256').update(input).digest();
        if (digest.length !== 32) return this.error(400, 'invalid digest length');
        const algorithm = body.signature_algorithm ?? 'pss';
        let signature: Buffer;
        if (algorithm === 'pss') signature = signPssDigest(versionKey.privateKey, digest);
        else if (algorithm === 'pkcs1v15') {
          signature = versionKey === this.key ? this.signDigest(digest) : signPkcs1Digest(versionKey.privateKey, digest);
        } else return this.error(400, `unsupported signature algorithm ${String(algorithm)}`);
        return { status: 200, body: { data: { signature: `vault:v${version}:${signature.toString('base64')}`, key_version: version } } };
      }
      default:
        return this.error(404, 'unsupported path');
    }
  }
}
