/**
 * Loopback stand-in of AWS KMS (awsJson1_1): `POST /` with
 * `X-Amz-Target: TrentService.<Op>` and a SigV4 `Authorization` header. Speaks
 * GetPublicKey and Sign for one key (reachable by id, ARN, alias and alias ARN).
 */
import type { IncomingMessage } from 'node:http';
import { signPkcs1Digest, standinKey, StandinServer, type StandinKey, type StandinReply } from './standin-server.js';

/** Shape of the key KMS describes; tests change it to exercise validation. */
export interface AwsStandinKeySpec {
  keySpec: string;
  keyUsage: string;
  signingAlgorithms: string[];
}

const REGION = 'us-east-1';
const ACCOUNT = '111122223333';

/** Stand-in of AWS KMS. */
export class AwsKmsStandin extends StandinServer {
  /** Access key ids whose requests are accepted. */
  readonly acceptedAccessKeys = new Set(['AKIDSTANDIN']);
  readonly keyId = '1234abcd-12ab-34cd-56ef-1234567890ab';
  readonly alias = 'alias/iadvize-jwt';
  readonly spec: AwsStandinKeySpec = { keySpec: 'RSA_2048', keyUsage: 'SIGN_VERIFY', signingAlgorithms: ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PSS_SHA_256'] };
  /** Key the alias points at (moving it simulates a rotation). */
  aliasTarget: 'primary' | 'rotated' = 'primary';
  readonly rotatedKeyId = 'ffffffff-12ab-34cd-56ef-1234567890ab';
  /**
   * Optional `Sign` quota per second, as AWS KMS enforces it (shared by every
   * caller): the Sign calls past it within one clock second answer
   * `ThrottlingException`. Default: none.
   */
  signQuotaPerSecond: number | undefined;
  /** `Sign` calls answered with a signature. */
  signed = 0;
  /** `Sign` calls refused by {@link signQuotaPerSecond}. */
  throttled = 0;
  private quotaWindow = -1;
  private quotaUsed = 0;

  private constructor(key: StandinKey, other: StandinKey, readonly rotatedKey: StandinKey) {
    super(key, other);
  }

  /** Starts a stand-in with fresh keys (and, optionally, a per-second `Sign` quota). */
  static async create(options: { signQuotaPerSecond?: number } = {}): Promise<AwsKmsStandin> {
    const [a, b, c] = await Promise.all([standinKey(), standinKey(), standinKey()]);
    const standin = new AwsKmsStandin(a, b, c);
    standin.signQuotaPerSecond = options.signQuotaPerSecond;
    return standin.start();
  }

  /** True when this `Sign` call is over the per-second quota (and counts it). */
  private overQuota(): boolean {
    if (this.signQuotaPerSecond === undefined) return false;
    const window = Math.floor(Date.now() / 1000);
    if (window !== this.quotaWindow) {
      this.quotaWindow = window;
      this.quotaUsed = 0;
    }
    if (this.quotaUsed >= this.signQuotaPerSecond) {
      this.throttled++;
      return true;
    }
    this.quotaUsed++;
    return false;
  }

  get keyArn(): string {
    return this.arnOf(this.keyId);
  }

  get rotatedKeyArn(): string {
    return this.arnOf(this.rotatedKeyId);
  }

  private arnOf(id: string): string {
    return `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
  }

  /** Resolves any accepted key reference to `{ id, key }`. */
  private resolve(ref: unknown): { arn: string; key: StandinKey } | undefined {
    const aliasId = this.aliasTarget === 'primary' ? this.keyId : this.rotatedKeyId;
    const ids: Record<string, string> = {
      [this.keyId]: this.keyId,
      [this.keyArn]: this.keyId,
      [this.rotatedKeyId]: this.rotatedKeyId,
      [this.rotatedKeyArn]: this.rotatedKeyId,
      [this.alias]: aliasId,
      [`arn:aws:kms:${REGION}:${ACCOUNT}:${this.alias}`]: aliasId,
    };
    const id = typeof ref === 'string' ? ids[ref] : undefined;
    if (!id) return undefined;
    return { arn: this.arnOf(id), key: id === this.keyId ? this.key : this.rotatedKey };
  }

  protected operationOf(req: IncomingMessage): string {
    return String(req.headers['x-amz-target'] ?? '').replace(/^TrentService\./, '');
  }

  private error(type: string, message: string, status = 400): StandinReply {
    return { status, body: { __type: type, message }, headers: { 'content-type': 'application/x-amz-json-1.1' } };
  }

  protected faultReply(kind: 'throttle' | 'unavailable' | 'denied'): StandinReply {
    if (kind === 'throttle') return this.error('ThrottlingException', 'Rate exceeded');
    if (kind === 'unavailable') return this.error('KMSInternalException', 'internal error', 500);
    return this.error('AccessDeniedException', 'User is not authorized to perform: kms:Sign');
  }

  protected route(op: string, req: IncomingMessage, _url: URL, raw: string): StandinReply {
    if (req.method !== 'POST' || req.headers['content-type'] !== 'application/x-amz-json-1.1') {
      return this.error('SerializationException', 'expected POST application/x-amz-json-1.1');
    }
    const auth = String(req.headers.authorization ?? '');
    const akid = /^AWS4-HMAC-SHA256 Credential=([^/]+)\//.exec(auth)?.[1];
    if (!akid || !req.headers['x-amz-date']) return this.error('MissingAuthenticationTokenException', 'Missing Authentication Token');
    if (!this.acceptedAccessKeys.has(akid)) return this.error('UnrecognizedClientException', 'The security token included in the request is invalid.');
    const body = JSON.parse(raw) as Record<string, unknown>;
    const target = this.resolve(body.KeyId);
    if (!target) return this.error('NotFoundException', `Key '${String(body.KeyId)}' does not exist`);
    const headers = { 'content-type': 'application/x-amz-json-1.1' };
    switch (op) {
      case 'GetPublicKey':
        return {
          status: 200,
          headers,
          body: {
            KeyId: target.arn,
            PublicKey: target.key.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
            KeySpec: this.spec.keySpec,
            CustomerMasterKeySpec: this.spec.keySpec,
            KeyUsage: this.spec.keyUsage,
            SigningAlgorithms: this.spec.signingAlgorithms,
          },
        };
      case 'Sign': {
        const message = Buffer.from(String(body.Message), 'base64');
        if (body.SigningAlgorithm !== 'RSASSA_PKCS1_V1_5_SHA_256') {
          return this.error('InvalidKeyUsageException', `unsupported signing algorithm ${String(body.SigningAlgorithm)} for this test`);
        }
        if (body.MessageType !== 'DIGEST') {
          if (message.length > 4096) return this.error('ValidationException', 'Message must have length less than or equal to 4096');
          return this.error('ValidationException', 'this stand-in only signs digests');
        }
        if (message.length !== 32) return this.error('ValidationException', 'Digest is invalid length for algorithm RSASSA_PKCS1_V1_5_SHA_256');
        if (this.overQuota()) return this.error('ThrottlingException', 'You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.');
        this.signed++;
        const signature = target.key === this.key ? this.signDigest(message) : signPkcs1Digest(target.key.privateKey, message);
        return { status: 200, headers, body: { KeyId: target.arn, Signature: signature.toString('base64'), SigningAlgorithm: body.SigningAlgorithm } };
      }
      default:
        return this.error('UnknownOperationException', `unknown operation ${op}`);
    }
  }

}
