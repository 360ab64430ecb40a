/**
 * Google Cloud KMS key provider: `nestjs-iadvize-auth/gcp-kms`. Needs the
 * optional peer dependency `@google-cloud/kms` (^5 on Node 20; 6.x needs Node 22).
 * @packageDocumentation
 */
import type { KeyManagementServiceClient } from '@google-cloud/kms';
import { crc32c } from './crc32c.js';
import {
  InvalidKeyError,
  loadPublicKey,
  quoteName,
  failureKindOfStatus,
  importOptional,
  interopDefault,
  networkErrorCode,
  parseRetryAfter,
  RemoteKeyProvider,
  SHA256_DIGEST_INFO_PREFIX,
  type FailureKind,
  type LoadedKey,
  type RemoteFailure,
  type RemoteSignerOptions,
} from './remote-key.provider.js';

export type { RemoteSignerOptions } from './remote-key.provider.js';

const PACKAGE = '@google-cloud/kms';

/**
 * Constructor options of `KeyManagementServiceClient` (from `@google-cloud/kms`).
 * @public
 */
export type GcpKmsClientOptions = NonNullable<ConstructorParameters<typeof KeyManagementServiceClient>[0]>;

/**
 * Options of {@link GcpKmsKeyProvider}.
 * @public
 */
export interface GcpKmsKeyProviderOptions extends RemoteSignerOptions {
  /**
   * Required. Full name of the key **version** to sign with:
   * `projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N`.
   * A version, never a key: asymmetric keys have no primary version, and a
   * pinned version keeps the `kid` iAdvize knows.
   */
  keyVersionName: string;
  /** A ready `KeyManagementServiceClient` (your credentials, transport). Not closed by `close()`. */
  client?: KeyManagementServiceClient;
  /** Options of the client built when `client` is absent (e.g. `{ keyFilename }`, `{ fallback: true }`). */
  clientOptions?: GcpKmsClientOptions;
  /** Send CRC32C checksums and check Cloud KMS's (end-to-end integrity, as Google recommends). Default: `true`. */
  checksums?: boolean;
}

const VERSION_NAME = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+\/cryptoKeyVersions\/[^/]+$/;

/** Algorithms whose signature is RS256, by name and enum number. */
const PKCS1_SHA256 = new Map<string | number, string>([
  ['RSA_SIGN_PKCS1_2048_SHA256', 'digest'],
  ['RSA_SIGN_PKCS1_3072_SHA256', 'digest'],
  ['RSA_SIGN_PKCS1_4096_SHA256', 'digest'],
  [5, 'digest'],
  [6, 'digest'],
  [7, 'digest'],
  ['RSA_SIGN_RAW_PKCS1_2048', 'raw'],
  ['RSA_SIGN_RAW_PKCS1_3072', 'raw'],
  ['RSA_SIGN_RAW_PKCS1_4096', 'raw'],
  [28, 'raw'],
  [29, 'raw'],
  [30, 'raw'],
]);

/** A reply whose checksums show corruption in transit (retried). */
class IntegrityError extends Error {}

/**
 * gRPC status codes as Cloud KMS returns them. CANCELLED and UNKNOWN are not
 * retried: UNKNOWN mostly wraps client-side errors (a credential plugin that
 * failed, a bad request), and a cancelled call is this process's own doing.
 */
const GRPC_KIND: Record<number, FailureKind> = {
  1: 'failed', // CANCELLED
  2: 'failed', // UNKNOWN (often an auth or client error in disguise)
  3: 'rejected', // INVALID_ARGUMENT
  4: 'timeout', // DEADLINE_EXCEEDED
  5: 'not-found', // NOT_FOUND
  7: 'denied', // PERMISSION_DENIED
  8: 'throttled', // RESOURCE_EXHAUSTED
  9: 'disabled', // FAILED_PRECONDITION (version disabled, destroyed, pending generation)
  10: 'unavailable', // ABORTED
  11: 'rejected', // OUT_OF_RANGE
  12: 'rejected', // UNIMPLEMENTED
  13: 'unavailable', // INTERNAL
  14: 'unavailable', // UNAVAILABLE
  16: 'denied', // UNAUTHENTICATED
};
const GRPC_NAME: Record<number, string> = {
  1: 'CANCELLED', 2: 'UNKNOWN', 3: 'INVALID_ARGUMENT', 4: 'DEADLINE_EXCEEDED', 5: 'NOT_FOUND', 7: 'PERMISSION_DENIED', 8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION', 10: 'ABORTED', 11: 'OUT_OF_RANGE', 12: 'UNIMPLEMENTED', 13: 'INTERNAL', 14: 'UNAVAILABLE', 16: 'UNAUTHENTICATED',
};

function classifyGcpError(error: unknown): RemoteFailure {
  if (error instanceof IntegrityError) return { kind: 'unavailable', detail: error.message };
  const e = (error ?? {}) as { code?: unknown; name?: unknown; response?: { headers?: { get?: (n: string) => string | null } } };
  const retryAfterSeconds = parseRetryAfter(e.response?.headers?.get?.('retry-after'));
  if (typeof e.code === 'number') {
    // gRPC transport: status codes 0..16; REST fallback: HTTP statuses.
    if (e.code >= 100) {
      // The REST body names the gRPC status, e.g. {"error":{"status":"FAILED_PRECONDITION"}}.
      let status: string | undefined;
      try {
        const parsed = JSON.parse(String((error as { message?: unknown }).message)) as { error?: { status?: unknown } };
        if (typeof parsed.error?.status === 'string') status = parsed.error.status;
      } catch {
        // not JSON
      }
      const grpc = status ? Number(Object.keys(GRPC_NAME).find((k) => GRPC_NAME[Number(k)] === status)) : NaN;
      const kind = (Number.isNaN(grpc) ? undefined : GRPC_KIND[grpc]) ?? failureKindOfStatus(e.code) ?? 'failed';
      return { kind, detail: `HTTP ${e.code}${status ? ` ${status}` : ''}`, retryAfterSeconds };
    }
    return { kind: GRPC_KIND[e.code] ?? 'failed', detail: GRPC_NAME[e.code] ?? `gRPC status ${e.code}`, retryAfterSeconds };
  }
  const net = networkErrorCode(error);
  if (net) return { kind: 'unavailable', detail: `network error ${net}` };
  return { kind: 'failed', detail: typeof e.name === 'string' ? e.name : 'error' };
}

function toNumber(value: unknown): number | undefined {
  const v = value && typeof value === 'object' && 'value' in value ? (value as { value: unknown }).value : value;
  if (v === undefined || v === null) return undefined;
  const n = Number(String(v));
  return Number.isFinite(n) ? n : undefined;
}

type CancellablePromise<T> = Promise<T> & { cancel?: () => void };

/**
 * Signs with a Cloud KMS asymmetric key version (`RSA_SIGN_PKCS1_*_SHA256`, or
 * `RSA_SIGN_RAW_PKCS1_*` with a locally built DigestInfo): `asymmetricSign`
 * with the SHA-256 digest, on the version named in the options (pinned).
 * CRC32C checksums guard the request and the answer.
 *
 * The app's service account needs `roles/cloudkms.signerVerifier` on the key
 * (`cloudkms.cryptoKeyVersions.useToSign` and `viewPublicKey`).
 *
 * ```ts
 * import { GcpKmsKeyProvider } from 'nestjs-iadvize-auth/gcp-kms';
 * signingKey: new GcpKmsKeyProvider({
 *   keyVersionName: 'projects/p/locations/europe-west1/keyRings/r/cryptoKeys/iadvize-jwt/cryptoKeyVersions/1',
 * })
 * ```
 * @public
 */
export class GcpKmsKeyProvider extends RemoteKeyProvider {
  readonly kind = 'gcp-kms';
  private client?: KeyManagementServiceClient;
  private ownsClient = false;
  private mode: 'digest' | 'raw' = 'digest';

  constructor(private readonly options: GcpKmsKeyProviderOptions) {
    super(options, classifyGcpError);
  }

  describe(): string {
    // Runs before the options are validated: a key pasted into "keyVersionName" is never repeated.
    return `Google Cloud KMS key version ${quoteName(this.options?.keyVersionName)}`;
  }

  protected override hints() {
    return {
      denied: 'grant the app\'s service account roles/cloudkms.signerVerifier on the key, and check its credentials',
      'not-found': 'check "keyVersionName" (projects/…/cryptoKeys/K/cryptoKeyVersions/N)',
      disabled: 'the key version is not ENABLED (disabled, destroyed or still generating); enable it or pin another version',
      rejected: 'the key must be an asymmetric signing key with algorithm RSA_SIGN_PKCS1_2048_SHA256 (or 3072/4096)',
    } satisfies Partial<Record<FailureKind, string>>;
  }

  private callOptions(name: string) {
    // The routing header the generated methods add (requests are routed by key name).
    const routing = `name=${encodeURIComponent(name)}`;
    return { timeout: this.policy.timeoutMs, maxRetries: 0, otherArgs: { headers: { 'x-goog-request-params': routing } } };
  }

  /**
   * Runs a unary call so that it can be cancelled when `signal` aborts. The
   * generated client's public methods return plain promises, so the
   * cancellable inner call is used when present (gax `innerApiCalls`).
   */
  private async invoke<T>(method: 'asymmetricSign' | 'getPublicKey', request: { name: string }, signal: AbortSignal): Promise<T> {
    const client = this.client as KeyManagementServiceClient;
    const inner = (client as unknown as { innerApiCalls?: Record<string, unknown> }).innerApiCalls?.[method];
    const promise: CancellablePromise<[T]> =
      typeof inner === 'function'
        ? (inner as (r: object, o: object) => CancellablePromise<[T]>).call(undefined, request, this.callOptions(request.name))
        : ((client[method] as unknown as (r: object, o: object) => Promise<[T]>).call(client, request, this.callOptions(request.name)) as CancellablePromise<[T]>);
    const onAbort = () => promise.cancel?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const [res] = await promise;
      return res;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  protected async load(): Promise<LoadedKey> {
    const { keyVersionName, client, clientOptions } = this.options ?? ({} as GcpKmsKeyProviderOptions);
    if (typeof keyVersionName !== 'string' || !VERSION_NAME.test(keyVersionName)) {
      throw new InvalidKeyError(
        'GcpKmsKeyProvider: option "keyVersionName" must be a full key version name, projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N',
      );
    }
    if (client) {
      this.client = client;
    } else {
      const mod = await importOptional(() => import('@google-cloud/kms'), PACKAGE, 'GcpKmsKeyProvider (nestjs-iadvize-auth/gcp-kms)');
      const sdk = interopDefault(mod, 'KeyManagementServiceClient');
      this.client = new sdk.KeyManagementServiceClient(clientOptions);
      this.ownsClient = true;
    }
    await this.client.initialize();
    const pub = await this.call('GetPublicKey', (signal) =>
      this.invoke<{ pem?: string | null; algorithm?: unknown; name?: string | null; pemCrc32c?: unknown }>('getPublicKey', { name: keyVersionName }, signal),
    );
    const mode = PKCS1_SHA256.get(pub.algorithm as string | number);
    if (!mode) {
      throw new InvalidKeyError(
        `${this.describe()} has algorithm ${String(pub.algorithm)}; iAdvize needs RS256: create a key with --purpose asymmetric-signing --default-algorithm rsa-sign-pkcs1-2048-sha256`,
      );
    }
    if (typeof pub.pem !== 'string') throw new InvalidKeyError(`${this.describe()}: getPublicKey returned no PEM`);
    const pemCrc = toNumber(pub.pemCrc32c);
    if (this.options.checksums !== false && pemCrc !== undefined && pemCrc !== crc32c(Buffer.from(pub.pem, 'utf8'))) {
      throw new InvalidKeyError(`${this.describe()}: the public key failed its CRC32C check (corrupted in transit); retry`);
    }
    this.mode = mode as 'digest' | 'raw';
    return { publicKey: loadPublicKey(pub.pem, `${this.describe()} (public key)`) };
  }

  protected async signOnce(_input: Uint8Array, digest: Buffer, signal: AbortSignal): Promise<Uint8Array> {
    const checksums = this.options.checksums !== false;
    const name = this.options.keyVersionName;
    const payload = this.mode === 'raw' ? Buffer.concat([SHA256_DIGEST_INFO_PREFIX, digest]) : digest;
    const request =
      this.mode === 'raw'
        ? { name, data: payload, ...(checksums ? { dataCrc32c: { value: crc32c(payload) } } : {}) }
        : { name, digest: { sha256: payload }, ...(checksums ? { digestCrc32c: { value: crc32c(payload) } } : {}) };
    const res = await this.invoke<{
      signature?: Uint8Array | string | null;
      name?: string | null;
      verifiedDigestCrc32c?: boolean | null;
      verifiedDataCrc32c?: boolean | null;
      signatureCrc32c?: unknown;
    }>('asymmetricSign', request, signal);
    if (res.name && res.name !== name) throw new InvalidKeyError(`${this.describe()}: asymmetricSign answered for another key version (${quoteName(res.name)})`);
    if (res.signature === undefined || res.signature === null) throw new InvalidKeyError(`${this.describe()}: asymmetricSign returned no signature`);
    const signature = typeof res.signature === 'string' ? Buffer.from(res.signature, 'base64') : Buffer.from(res.signature);
    if (checksums) {
      const verified = this.mode === 'raw' ? res.verifiedDataCrc32c : res.verifiedDigestCrc32c;
      if (verified !== true) throw new IntegrityError('the request failed its CRC32C check at Cloud KMS');
      const sigCrc = toNumber(res.signatureCrc32c);
      if (sigCrc !== undefined && sigCrc !== crc32c(signature)) throw new IntegrityError('the signature failed its CRC32C check');
    }
    return signature;
  }


  protected override async release(): Promise<void> {
    if (this.ownsClient) await this.client?.close().catch(() => undefined);
  }
}
