/**
 * GcpKmsKeyProvider over gRPC, the transport `@google-cloud/kms` uses by
 * default: the real client (google-gax on @grpc/grpc-js, TLS with a
 * certificate made here by openssl, a Bearer token as call credentials)
 * against a real gRPC server built from the client's own service.proto, which
 * transcodes each call to the loopback Cloud KMS stand-in holding a real RSA
 * key. The REST fallback is covered by gcp-kms.spec.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { OAuth2Client } from 'google-auth-library';
import { SigningUnavailableError } from '../../lib/index.js';
import { GcpKmsKeyProvider, type GcpKmsClientOptions, type GcpKmsKeyProviderOptions } from '../../lib/kms/gcp-kms.js';
import { describeKeyProviderConformance } from '../support/kms-conformance.js';
import { GcpKmsGrpcGateway } from '../support/standins/gcp-kms-grpc.gateway.js';
import { GcpKmsStandin } from '../support/standins/gcp-kms.standin.js';

let rest: GcpKmsStandin;
let gateway: GcpKmsGrpcGateway;
let tls: { cert: Buffer; key: Buffer };
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gcp-grpc-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'pipe' });
  tls = { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) };
  rest = await GcpKmsStandin.create();
  gateway = await GcpKmsGrpcGateway.start(rest, tls);
});
afterAll(async () => {
  await gateway?.stop();
  await rest?.stop();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  rest.reset();
});

/** TLS to the gateway plus the Bearer token as per-call credentials, as an app would pass them. */
function grpcOptions(token = 'standin-access-token'): GcpKmsClientOptions {
  const bearer = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata();
    metadata.add('authorization', `Bearer ${token}`);
    callback(null, metadata);
  });
  return {
    apiEndpoint: '127.0.0.1',
    port: gateway.port,
    sslCreds: grpc.credentials.combineChannelCredentials(grpc.credentials.createSsl(tls.cert), bearer),
    // Unused by the gRPC calls (sslCreds carry the token), but keeps google-auth-library from probing the GCE metadata server.
    authClient: new OAuth2Client(),
  } as unknown as GcpKmsClientOptions;
}

function provider(overrides: Partial<GcpKmsKeyProviderOptions> = {}, token?: string): GcpKmsKeyProvider {
  return new GcpKmsKeyProvider({ keyVersionName: rest.version(1), clientOptions: grpcOptions(token), backoffBaseMs: 5, backoffMaxMs: 50, ...overrides });
}

describeKeyProviderConformance('GcpKmsKeyProvider over gRPC (stand-in)', () => ({
  provider: () => provider(),
  refused: () => provider({}, 'ya29.refused-access-token-abcdef'),
  secrets: ['standin-access-token', 'ya29.refused-access-token-abcdef'],
  backendPublicKey: () => rest.key.publicKey,
  mismatches: [
    { label: 'another key', provider: () => provider(), arm: () => void (rest.signMode = 'other-key'), disarm: () => void (rest.signMode = 'own') },
    { label: 'PSS', provider: () => provider(), arm: () => void (rest.signMode = 'pss'), disarm: () => void (rest.signMode = 'own') },
  ],
}));

describe('GcpKmsKeyProvider over gRPC', () => {
  it('speaks gRPC: GetPublicKey at startup, AsymmetricSign with the digest and its CRC32C per signature', async () => {
    const before = gateway.calls.length;
    const p = provider();
    await p.init();
    await p.sign(Buffer.from('header.payload'));
    expect(gateway.calls.slice(before)).toEqual(['GetPublicKey', 'AsymmetricSign']);
    const body = JSON.parse(rest.requestsOf('asymmetricSign').at(-1)?.body ?? '{}') as { digest: { sha256: string }; digestCrc32c?: string };
    expect(Buffer.from(body.digest.sha256, 'base64')).toHaveLength(32);
    expect(body.digestCrc32c).toMatch(/^\d+$/);
    await p.close();
  });

  it('retries RESOURCE_EXHAUSTED and UNAVAILABLE (gRPC status codes), then succeeds', async () => {
    const p = provider();
    await p.init();
    rest.inject('throttle', { op: 'asymmetricSign' }).inject('unavailable', { op: 'asymmetricSign' });
    const before = rest.requestsOf('asymmetricSign').length;
    await expect(p.sign(Buffer.from('x'))).resolves.toHaveLength(256);
    expect(rest.requestsOf('asymmetricSign').length - before).toBe(3);
    await p.close();
  });

  it('gives up with SigningUnavailableError on a hang, cancelling the gRPC calls within the deadline', async () => {
    const p = provider({ maxAttempts: 2, timeoutMs: 150 });
    await p.init();
    rest.inject('hang', { op: 'asymmetricSign', times: Infinity });
    const started = Date.now();
    const hung = await p.sign(Buffer.from('x')).catch((e: unknown) => e);
    expect(hung).toBeInstanceOf(SigningUnavailableError);
    expect(Date.now() - started).toBeLessThan(1200);
    await new Promise((r) => setTimeout(r, 100));
    const hangs = rest.requestsOf('asymmetricSign').filter((r) => r.fault === 'hang');
    expect(hangs).toHaveLength(2);
    expect(hangs.every((r) => r.abortedByClient)).toBe(true); // the cancellation reached the backend
    await p.close();
  });
});
