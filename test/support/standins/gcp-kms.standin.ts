/**
 * Loopback stand-in of Google Cloud KMS over its REST mapping (what
 * `@google-cloud/kms` speaks with `fallback: true`):
 * `GET /v1/{version}/publicKey` and `POST /v1/{version}:asymmetricSign`,
 * with Bearer auth, CRC32C integrity fields and Google's JSON error shape.
 */
import type { IncomingMessage } from 'node:http';
import { signPkcs1Digest, standinKey, StandinServer, type StandinKey, type StandinReply } from './standin-server.js';

/** CRC32C, bit by bit (independent of the library's table-driven one). */
export function crc32cBitwise(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

interface Version {
  key: StandinKey;
  algorithm: string;
  state: 'ENABLED' | 'DISABLED';
}

const STATUS: Record<number, string> = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 503: 'UNAVAILABLE' };

/** Stand-in of Cloud KMS. */
export class GcpKmsStandin extends StandinServer {
  readonly tokens = new Set(['standin-access-token']);
  readonly versions = new Map<string, Version>();
  readonly keyName = 'projects/brand/locations/europe-west1/keyRings/iadvize/cryptoKeys/jwt';
  /** Answers with a wrong `signatureCrc32c` this many times (corruption in transit). */
  corruptSignatures = 0;

  private constructor(key: StandinKey, other: StandinKey) {
    super(key, other);
  }

  /** Starts a stand-in: version 1 is RSA_SIGN_PKCS1_2048_SHA256 with `key`. */
  static async create(): Promise<GcpKmsStandin> {
    const [a, b] = await Promise.all([standinKey(), standinKey()]);
    const s = new GcpKmsStandin(a, b);
    s.versions.set(s.version(1), { key: a, algorithm: 'RSA_SIGN_PKCS1_2048_SHA256', state: 'ENABLED' });
    return s.start();
  }

  /** Full name of version `n` of the key. */
  version(n: number | string): string {
    return `${this.keyName}/cryptoKeyVersions/${n}`;
  }

  private error(status: number, message: string, headers?: Record<string, string>): StandinReply {
    return { status, body: { error: { code: status, message, status: STATUS[status] ?? 'UNKNOWN' } }, headers };
  }

  protected operationOf(req: IncomingMessage, url: URL): string {
    if (url.pathname.endsWith(':asymmetricSign')) return 'asymmetricSign';
    if (url.pathname.endsWith('/publicKey')) return 'getPublicKey';
    return 'unknown';
  }

  protected faultReply(kind: 'throttle' | 'unavailable' | 'denied'): StandinReply {
    if (kind === 'throttle') return this.error(429, 'Quota exceeded for quota metric \'Cryptographic requests\'');
    if (kind === 'unavailable') return this.error(503, 'The service is currently unavailable.');
    return this.error(403, 'Permission \'cloudkms.cryptoKeyVersions.useToSign\' denied on resource');
  }

  protected route(op: string, req: IncomingMessage, url: URL, raw: string): StandinReply {
    const auth = String(req.headers.authorization ?? '');
    if (!auth.startsWith('Bearer ') || !this.tokens.has(auth.slice(7))) {
      return this.error(401, 'Request had invalid authentication credentials.');
    }
    const name = decodeURIComponent(url.pathname.replace(/^\/v1\//, '').replace(/(:asymmetricSign|\/publicKey)$/, ''));
    const version = this.versions.get(name);
    if (!version) return this.error(404, `CryptoKeyVersion ${name} not found.`);
    if (op === 'getPublicKey' && req.method === 'GET') {
      const pem = version.key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      return { status: 200, body: { pem, algorithm: version.algorithm, pemCrc32c: String(crc32cBitwise(Buffer.from(pem))), name, protectionLevel: 'HSM' } };
    }
    if (op !== 'asymmetricSign' || req.method !== 'POST') return this.error(404, 'unknown method');
    if (version.state !== 'ENABLED') {
      return { status: 400, body: { error: { code: 400, message: `${name} is not enabled, current state is: ${version.state}.`, status: 'FAILED_PRECONDITION' } } };
    }
    const body = JSON.parse(raw) as { digest?: { sha256?: string }; digestCrc32c?: string; data?: string; dataCrc32c?: string };
    const raw1 = version.algorithm.startsWith('RSA_SIGN_RAW_PKCS1');
    let digest: Buffer;
    let verified: Record<string, boolean>;
    if (raw1) {
      if (!body.data) return this.error(400, 'data is required for RAW_PKCS1 keys');
      const data = Buffer.from(body.data, 'base64');
      if (body.dataCrc32c !== undefined && Number(body.dataCrc32c) !== crc32cBitwise(data)) return this.error(400, 'The checksum in field data_crc32c did not match the data in field data.');
      const prefix = Buffer.from('3031300d060960864801650304020105000420', 'hex');
      if (data.length !== 51 || !data.subarray(0, 19).equals(prefix)) return this.error(400, 'this stand-in only accepts a SHA-256 DigestInfo for RAW_PKCS1');
      digest = data.subarray(19);
      verified = { verifiedDataCrc32c: body.dataCrc32c !== undefined };
    } else {
      if (body.data !== undefined) return this.error(400, 'data is only accepted for RAW_PKCS1 keys');
      digest = Buffer.from(body.digest?.sha256 ?? '', 'base64');
      if (digest.length !== 32) return this.error(400, 'The digest must be a SHA-256 digest for this key version.');
      if (body.digestCrc32c !== undefined && Number(body.digestCrc32c) !== crc32cBitwise(digest)) {
        return this.error(400, 'The checksum in field digest_crc32c did not match the data in field digest.');
      }
      verified = { verifiedDigestCrc32c: body.digestCrc32c !== undefined };
    }
    const signature = version.key === this.key ? this.signDigest(digest) : signPkcs1Digest(version.key.privateKey, digest);
    let crc = crc32cBitwise(signature);
    if (this.corruptSignatures > 0) {
      this.corruptSignatures--;
      crc = (crc + 1) >>> 0;
    }
    return { status: 200, body: { signature: signature.toString('base64'), signatureCrc32c: String(crc), ...verified, name, protectionLevel: 'HSM' } };
  }
}
