/**
 * AWS KMS key provider: `nestjs-iadvize-auth/aws-kms`. Needs the optional peer
 * dependency `@aws-sdk/client-kms`.
 * @packageDocumentation
 */
import type { KMSClient, KMSClientConfig } from '@aws-sdk/client-kms';
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

const SIGNING_ALGORITHM = 'RSASSA_PKCS1_V1_5_SHA_256';
const PACKAGE = '@aws-sdk/client-kms';

/**
 * Options of {@link AwsKmsKeyProvider}.
 * @public
 */
export interface AwsKmsKeyProviderOptions extends RemoteSignerOptions {
  /**
   * Required. The asymmetric `RSA_2048|3072|4096` / `SIGN_VERIFY` key: key id,
   * key ARN, alias name (`alias/iadvize-jwt`) or alias ARN. An alias is
   * resolved once at startup and the key ARN it names is used from then on.
   */
  keyId: string;
  /**
   * A ready `KMSClient` (your credentials, region, proxy, retry settings).
   * It is not destroyed by `close()`. When absent, one is built from
   * `region` and `clientConfig`, with the SDK's own retries off (this
   * provider retries).
   */
  client?: KMSClient;
  /** AWS region of the key, e.g. `eu-west-1`. Default: the SDK's (`AWS_REGION`, profile). */
  region?: string;
  /** Extra `KMSClient` settings when `client` is absent (endpoint, credentials, …). */
  clientConfig?: KMSClientConfig;
}

const THROTTLED = new Set(['ThrottlingException', 'LimitExceededException', 'TooManyRequestsException', 'RequestLimitExceeded', 'SlowDown']);
const UNAVAILABLE = new Set(['KMSInternalException', 'DependencyTimeoutException', 'KeyUnavailableException', 'ServiceUnavailable', 'ServiceUnavailableException', 'InternalFailure', 'InternalError']);
const DENIED = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'IncompleteSignatureException',
  'InvalidClientTokenId',
  'MissingAuthenticationToken',
  'InvalidGrantTokenException',
  'CredentialsProviderError',
  'ExpiredToken',
]);
const NOT_FOUND = new Set(['NotFoundException', 'InvalidArnException']);
const DISABLED = new Set(['DisabledException', 'KMSInvalidStateException']);

/** Maps an `@aws-sdk/client-kms` error to a failure kind. */
function classifyAwsError(error: unknown): RemoteFailure {
  const e = (error ?? {}) as { name?: unknown; $metadata?: { httpStatusCode?: number }; $fault?: unknown; $response?: { headers?: Record<string, string> } };
  let name = typeof e.name === 'string' ? e.name : 'Error';
  // The SDK wraps non-Error throwables (e.g. from another realm) as "AWS SDK error wrapper for <name>".
  const wrapped = /AWS SDK error wrapper for (\w+)/.exec(String((error as { message?: unknown })?.message ?? ''))?.[1];
  if (name === 'Error' && wrapped) name = wrapped;
  const status = e.$metadata?.httpStatusCode;
  const retryAfterSeconds = parseRetryAfter(e.$response?.headers?.['retry-after']);
  const detail = `${name}${status ? `, HTTP ${status}` : ''}`;
  const net = networkErrorCode(error);
  let kind: FailureKind;
  if (THROTTLED.has(name)) kind = 'throttled';
  else if (UNAVAILABLE.has(name)) kind = 'unavailable';
  else if (DENIED.has(name)) kind = 'denied';
  else if (NOT_FOUND.has(name)) kind = 'not-found';
  else if (DISABLED.has(name)) kind = 'disabled';
  else if (net) return { kind: 'unavailable', detail: `${name}, ${net}` };
  else if (name === 'TimeoutError' || name === 'RequestTimeout') kind = 'timeout';
  else if (status !== undefined && failureKindOfStatus(status)) kind = failureKindOfStatus(status) as FailureKind;
  else if (e.$fault === 'server') kind = 'unavailable';
  else if (e.$fault === 'client') kind = 'rejected';
  else kind = 'failed';
  return { kind, detail, retryAfterSeconds };
}

/**
 * Signs with an asymmetric RSA key held by AWS KMS (`kms:Sign`), sending only
 * the SHA-256 digest (`MessageType: 'DIGEST'`, `RSASSA_PKCS1_V1_5_SHA_256`):
 * claims never reach KMS and the 4096-byte message limit does not apply.
 *
 * At startup it reads the public key (`kms:GetPublicKey`), checks the key
 * (RSA ≥ 2048 bits, `SIGN_VERIFY`, PKCS#1 v1.5 SHA-256 allowed) and pins its
 * ARN, so moving an alias later does not change the key mid-flight.
 *
 * ```ts
 * import { AwsKmsKeyProvider } from 'nestjs-iadvize-auth/aws-kms';
 * IAdvizeAuthModule.forRoot({
 *   issuer: 'https://www.example.com',
 *   signingKey: new AwsKmsKeyProvider({ keyId: 'alias/iadvize-jwt', region: 'eu-west-1' }),
 * });
 * ```
 * @public
 */
export class AwsKmsKeyProvider extends RemoteKeyProvider {
  readonly kind = 'aws-kms';
  private client?: KMSClient;
  private ownsClient = false;
  private keyArn?: string;
  private sdk?: typeof import('@aws-sdk/client-kms');

  constructor(private readonly options: AwsKmsKeyProviderOptions) {
    super(options, classifyAwsError);
  }

  describe(): string {
    // Runs before the options are validated: a key pasted into "keyId" is never repeated.
    return `AWS KMS key ${quoteName(this.keyArn ?? this.options?.keyId)}`;
  }

  /** The key ARN pinned at startup (after `init()`). */
  get pinnedKeyArn(): string | undefined {
    return this.keyArn;
  }

  protected override hints() {
    return {
      denied: 'give the app\'s IAM role kms:GetPublicKey and kms:Sign on this key (key policy or IAM policy), and check its credentials',
      'not-found': 'check "keyId" (key id, key ARN, alias/name or alias ARN) and the region',
      disabled: 'enable the key (aws kms enable-key) or cancel its scheduled deletion',
      rejected: 'the key must be an asymmetric RSA key with key usage SIGN_VERIFY',
    } satisfies Partial<Record<FailureKind, string>>;
  }

  protected async load(): Promise<LoadedKey> {
    const { keyId, client, region, clientConfig } = this.options ?? ({} as AwsKmsKeyProviderOptions);
    if (typeof keyId !== 'string' || keyId.trim() === '') {
      throw new InvalidKeyError('AwsKmsKeyProvider: option "keyId" is required (key id, key ARN, alias/name or alias ARN)');
    }
    const sdk = await importOptional(() => import('@aws-sdk/client-kms'), PACKAGE, 'AwsKmsKeyProvider (nestjs-iadvize-auth/aws-kms)');
    this.sdk = sdk;
    if (client) {
      this.client = client;
    } else {
      this.client = new sdk.KMSClient({ maxAttempts: 1, ...clientConfig, ...(region ? { region } : {}) });
      this.ownsClient = true;
    }
    const kms = this.client;
    const res = await this.call('GetPublicKey', (signal) =>
      kms.send(new sdk.GetPublicKeyCommand({ KeyId: keyId }), { abortSignal: signal }),
    );
    const where = `AWS KMS key ${quoteName(res.KeyId ?? keyId)}`;
    if (res.KeyUsage !== 'SIGN_VERIFY') {
      throw new InvalidKeyError(`${where} has key usage ${String(res.KeyUsage)}; create an RSA key with --key-usage SIGN_VERIFY`);
    }
    const spec = res.KeySpec ?? res.CustomerMasterKeySpec;
    if (typeof spec !== 'string' || !spec.startsWith('RSA_')) {
      throw new InvalidKeyError(`${where} has key spec ${String(spec)}; iAdvize needs RS256: create an RSA_2048 (or larger) key`);
    }
    if (!res.SigningAlgorithms?.includes(SIGNING_ALGORITHM)) {
      throw new InvalidKeyError(`${where} does not allow ${SIGNING_ALGORITHM}, the algorithm of RS256`);
    }
    if (!res.PublicKey || typeof res.KeyId !== 'string') throw new InvalidKeyError(`${where}: GetPublicKey returned no public key`);
    const publicKey = loadPublicKey(Buffer.from(res.PublicKey), `${where} (public key)`);
    this.keyArn = res.KeyId;
    return { publicKey };
  }

  protected async signOnce(_input: Uint8Array, digest: Buffer, signal: AbortSignal): Promise<Uint8Array> {
    const sdk = this.sdk as typeof import('@aws-sdk/client-kms');
    const res = await (this.client as KMSClient).send(
      new sdk.SignCommand({ KeyId: this.keyArn, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: SIGNING_ALGORITHM }),
      { abortSignal: signal },
    );
    if (res.KeyId !== undefined && res.KeyId !== this.keyArn) {
      throw new InvalidKeyError(`${this.describe()}: Sign answered for another key (${quoteName(res.KeyId)})`);
    }
    if (!res.Signature || res.Signature.length === 0) throw new InvalidKeyError(`${this.describe()}: Sign returned no signature`);
    return res.Signature;
  }


  protected override async release(): Promise<void> {
    if (this.ownsClient) this.client?.destroy();
  }
}
