/**
 * gRPC front of the Cloud KMS stand-in: a real gRPC server (`@grpc/grpc-js`,
 * the service definition loaded from the `service.proto` that
 * `@google-cloud/kms` ships) for `AsymmetricSign` and `GetPublicKey`, the
 * transport the client uses by default. Each call is transcoded to the REST
 * stand-in, as Google's own gateway maps gRPC to REST, so keys, auth, faults
 * and hangs behave the same on both transports.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { GcpKmsStandin } from './gcp-kms.standin.js';

const require = createRequire(import.meta.url);
/** google-gax's folder, as the KMS client resolves it (its exports map hides package.json). */
function gaxRoot(): string {
  const entry = createRequire(require.resolve('@google-cloud/kms/package.json')).resolve('google-gax');
  return entry.slice(0, entry.lastIndexOf('/google-gax/') + '/google-gax'.length);
}

/** The client's protos, and google-gax's (google/api/*, google/protobuf/*) they import. */
const PROTO_DIRS = [
  join(dirname(require.resolve('@google-cloud/kms/package.json')), 'build', 'protos'),
  join(gaxRoot(), 'build', 'protos'),
];

/** HTTP statuses of the REST stand-in → gRPC status codes (google.rpc.Code). */
const CODE_OF_HTTP: Record<number, grpc.status> = {
  400: grpc.status.INVALID_ARGUMENT,
  401: grpc.status.UNAUTHENTICATED,
  403: grpc.status.PERMISSION_DENIED,
  404: grpc.status.NOT_FOUND,
  429: grpc.status.RESOURCE_EXHAUSTED,
  503: grpc.status.UNAVAILABLE,
};

type Callback = grpc.sendUnaryData<Record<string, unknown>>;
type Call = grpc.ServerUnaryCall<Record<string, unknown>, Record<string, unknown>>;

/** A gRPC server in front of `rest`. */
export class GcpKmsGrpcGateway {
  /** gRPC calls received, by method name. */
  readonly calls: string[] = [];
  port = 0;
  private readonly server = new grpc.Server();

  private constructor(private readonly rest: GcpKmsStandin) {}

  /** Starts the gateway on 127.0.0.1 with TLS (`cert` for 127.0.0.1, PEM). */
  static async start(rest: GcpKmsStandin, tls: { cert: Buffer; key: Buffer }): Promise<GcpKmsGrpcGateway> {
    const gateway = new GcpKmsGrpcGateway(rest);
    const definition = protoLoader.loadSync('google/cloud/kms/v1/service.proto', { includeDirs: PROTO_DIRS, longs: String, enums: String, defaults: false, oneofs: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      google: { cloud: { kms: { v1: { KeyManagementService: { service: grpc.ServiceDefinition } } } } };
    };
    gateway.server.addService(pkg.google.cloud.kms.v1.KeyManagementService.service, {
      AsymmetricSign: (call: Call, cb: Callback) => void gateway.asymmetricSign(call, cb),
      GetPublicKey: (call: Call, cb: Callback) => void gateway.getPublicKey(call, cb),
    });
    gateway.port = await new Promise<number>((resolve, reject) =>
      gateway.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createSsl(null, [{ private_key: tls.key, cert_chain: tls.cert }]), (e, port) => (e ? reject(e) : resolve(port))),
    );
    return gateway;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.tryShutdown(() => resolve()));
  }

  private async forward(call: Call, path: string, init: { method: string; body?: unknown }): Promise<{ status: number; body: Record<string, unknown> }> {
    const authorization = call.metadata.get('authorization')[0];
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort());
    const res = await fetch(`${this.rest.url}/v1/${path}`, {
      method: init.method,
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization: String(authorization) } : {}) },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: controller.signal,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  private fail(cb: Callback, status: number, body: Record<string, unknown>): void {
    const message = String((body.error as { message?: unknown } | undefined)?.message ?? 'error');
    cb({ code: CODE_OF_HTTP[status] ?? grpc.status.UNKNOWN, details: message } as grpc.ServiceError, null);
  }

  private async asymmetricSign(call: Call, cb: Callback): Promise<void> {
    this.calls.push('AsymmetricSign');
    try {
      const req = call.request as { name: string; digest?: { sha256?: Buffer }; digestCrc32c?: { value: string } };
      const body = {
        digest: { sha256: req.digest?.sha256 ? Buffer.from(req.digest.sha256).toString('base64') : undefined },
        ...(req.digestCrc32c ? { digestCrc32c: req.digestCrc32c.value } : {}),
      };
      const { status, body: reply } = await this.forward(call, `${req.name}:asymmetricSign`, { method: 'POST', body });
      if (status !== 200) return this.fail(cb, status, reply);
      cb(null, {
        signature: Buffer.from(String(reply.signature), 'base64'),
        signatureCrc32c: { value: String(reply.signatureCrc32c) },
        verifiedDigestCrc32c: reply.verifiedDigestCrc32c === true,
        name: reply.name,
        protectionLevel: reply.protectionLevel,
      });
    } catch (e) {
      if (!call.cancelled) cb({ code: grpc.status.INTERNAL, details: `gateway: ${(e as Error).message}` } as grpc.ServiceError, null);
    }
  }

  private async getPublicKey(call: Call, cb: Callback): Promise<void> {
    this.calls.push('GetPublicKey');
    try {
      const req = call.request as { name: string };
      const { status, body: reply } = await this.forward(call, `${req.name}/publicKey`, { method: 'GET' });
      if (status !== 200) return this.fail(cb, status, reply);
      cb(null, { pem: reply.pem, algorithm: reply.algorithm, pemCrc32c: { value: String(reply.pemCrc32c) }, name: reply.name, protectionLevel: reply.protectionLevel });
    } catch (e) {
      if (!call.cancelled) cb({ code: grpc.status.INTERNAL, details: `gateway: ${(e as Error).message}` } as grpc.ServiceError, null);
    }
  }
}
