/**
 * What ships is what is tested: the packed package, installed into a
 * throwaway app outside the repository, run by plain Node processes (no
 * transform, no Jest loader) — through require() (the CommonJS build) and
 * through import (the ESM build) for every library entry:
 *
 * - the main entry (a NestJS app on Express and on Fastify, its endpoint
 *   called over HTTP), /testing, /config, /config/env, /terminus, /prometheus;
 * - every KMS / HSM subpath against its stand-in (test/support/standins): AWS KMS,
 *   Cloud KMS over REST and gRPC, Azure Key Vault, Vault Transit, and PKCS#11
 *   against a REAL SoftHSM2 token (needs softhsm2 + opensc: without them the
 *   PKCS#11 cases fail under CI=true and are skipped otherwise);
 * - every CLI command (keygen, inspect, doctor) through the installed bin.
 *
 * Every token a child mints is opened again here, by the source FakeIAdvize,
 * with the key the backend publishes. See test/support/artifact-app.ts for
 * the pack / install / run machinery, `IADVIZE_TEST_NODE` (the Node binary
 * the artifact runs on) and `IADVIZE_ARTIFACT_TARBALL` (a given tarball).
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { thumbprintOf, TokenService } from '../../lib/index.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import type { FakeIAdvize } from '../../lib/testing/index.js';
import { authTestBrandKey, authTestSetup } from '../support/auth-module.js';
import type { TestKeyPair } from '../support/keys.js';
import { findSoftHsm, SoftHsmStore } from '../support/softhsm.js';
import { AwsKmsStandin } from '../support/standins/aws-kms.standin.js';
import { AzureKeyVaultStandin } from '../support/standins/azure-key-vault.standin.js';
import { GcpKmsGrpcGateway } from '../support/standins/gcp-kms-grpc.gateway.js';
import { GcpKmsStandin } from '../support/standins/gcp-kms.standin.js';
import { VaultTransitStandin } from '../support/standins/vault-transit.standin.js';
import { installApp, packTarball, runBin, runScenario, tempDir, testNode, type App, type ModuleSystem, type Packed } from '../support/artifact-app.js';

const ISSUER = 'https://brand.example';
const SYSTEMS: ModuleSystem[] = ['commonjs', 'esm'];
/** Where each module system's entries live in the package: the CommonJS build under dist/cjs, the ESM build beside it. */
const BUILD_DIR: Record<ModuleSystem, RegExp> = { commonjs: /^dist\/cjs\//, esm: /^dist\/(?!cjs\/)/ };

let temp: ReturnType<typeof tempDir>;
let packed: Packed;
let app: App;
let brand: TestKeyPair;
let iadvize: FakeIAdvize;
let iadvizePrivatePem: string;
let testNodeVersion: string;

beforeAll(async () => {
  temp = tempDir('iadvize-artifact-');
  testNodeVersion = execFileSync(testNode(), ['-p', 'process.versions.node'], { env: { PATH: process.env.PATH ?? '' } }).toString().trim();
  const setup = await authTestSetup(ISSUER);
  brand = authTestBrandKey(setup);
  iadvize = setup.iadvize;
  iadvizePrivatePem = iadvize.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  packed = await packTarball(temp.dir);
  app = await installApp(temp.dir, packed.tarball);
}, 600_000);
afterAll(() => temp?.remove());

/** Opens a token here (the source FakeIAdvize) and returns its user id. */
async function userOf(token: string, signer: string | KeyObject = brand.publicPem): Promise<string> {
  const pem = typeof signer === 'string' ? signer : signer.export({ type: 'spki', format: 'pem' }).toString();
  return (await iadvize.open(token, pem, { issuer: ISSUER })).userId;
}

describe('the packed tarball', () => {
  it('ships the ESM build, the CommonJS build (with its {"type":"commonjs"} marker) and the CLI, built by prepack', () => {
    for (const f of ['package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/testing/index.js', 'dist/kms/pkcs11.js', 'dist/cli/main.js', 'dist/cjs/package.json', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/testing/index.js', 'dist/cjs/kms/pkcs11.js']) {
      expect({ f, shipped: packed.files.includes(f) }).toEqual({ f, shipped: true });
    }
    expect(packed.files.filter((f) => f.startsWith('dist/cjs/cli/'))).toEqual([]);
    const installed = join(app.dir, 'node_modules', 'nestjs-iadvize-auth');
    expect(JSON.parse(readFileSync(join(installed, 'dist', 'cjs', 'package.json'), 'utf8'))).toEqual({ type: 'commonjs' });
    // The bin is linked and executable; jose (a dependency) was installed with the package.
    expect(statSync(join(installed, 'dist', 'cli', 'main.js')).mode & 0o111).not.toBe(0);
    expect(existsSync(join(app.dir, 'node_modules', '.bin', 'iadvize-auth'))).toBe(true);
    expect(existsSync(join(app.dir, 'node_modules', 'jose', 'package.json'))).toBe(true);
  });

  it('runs on the Node binary under test (IADVIZE_TEST_NODE, else this one), which has require(esm)', () => {
    expect(testNodeVersion).toMatch(/^\d+\.\d+\.\d+$/);
    if (!process.env.IADVIZE_TEST_NODE) expect(testNodeVersion).toBe(process.versions.node);
    const requireModule = execFileSync(testNode(), ['-p', 'process.features.require_module === true'], { env: { PATH: process.env.PATH ?? '' } }).toString().trim();
    expect(requireModule).toBe('true');
  });
});

interface CoreResult {
  node: string;
  entries: Record<string, string>;
  libraryRequests?: string[];
  libraryFilesLoaded?: string[];
  platforms: Record<
    'express' | 'fastify',
    {
      status: number;
      cacheControl: string;
      token: string;
      expiresAt: number;
      openedUserId: string;
      openedExp: number;
      anonymous: { status: number; code: string };
      health: { status: string; iadvize: string };
      tokensIssued: string | null;
      refusals: Record<string, string>;
    }
  >;
  config: { token: string; openedUserId: string };
  setup: { openedUserId: string };
  configEnv: { tokens: string[]; openedUserIds: string[] };
}

describe.each(SYSTEMS)('%s app: the main entry, /testing, /config, /config/env, /terminus, /prometheus', (system) => {
  let result: CoreResult;
  beforeAll(async () => {
    result = await runScenario<CoreResult>(app, system, 'core.scenario.mjs', { issuer: ISSUER, brandPrivatePem: brand.privatePem, brandPublicPem: brand.publicPem, iadvizePrivatePem });
  }, 120_000);

  it(`loads every entry from the ${system === 'commonjs' ? 'CommonJS' : 'ESM'} build, on the Node under test`, () => {
    expect(result.node).toBe(testNodeVersion);
    const entries = ['nestjs-iadvize-auth', 'nestjs-iadvize-auth/testing', 'nestjs-iadvize-auth/terminus', 'nestjs-iadvize-auth/prometheus', 'nestjs-iadvize-auth/config', 'nestjs-iadvize-auth/config/env'];
    expect(Object.keys(result.entries).sort()).toEqual(entries.sort());
    for (const [id, file] of Object.entries(result.entries)) expect({ id, file, build: BUILD_DIR[system].test(file) }).toEqual({ id, file, build: true });
    if (system === 'commonjs') {
      // Every file of the library that ran is CommonJS, and none of them asked for jose (ESM-only).
      expect(result.libraryFilesLoaded!.length).toBeGreaterThan(10);
      expect(result.libraryFilesLoaded!.filter((f) => !BUILD_DIR.commonjs.test(f))).toEqual([]);
      expect(result.libraryRequests).toEqual(expect.arrayContaining(['@nestjs/common', '@nestjs/config', '@nestjs/terminus', 'prom-client']));
      expect(result.libraryRequests).not.toContain('jose');
    }
  });

  it.each(['express', 'fastify'] as const)('serves a token over HTTP on %s that opens, here and in the app, to the signed-in user; anonymous gets 401', async (platform) => {
    const p = result.platforms[platform];
    expect({ status: p.status, cacheControl: p.cacheControl, openedUserId: p.openedUserId, anonymous: p.anonymous }).toEqual({
      status: 200,
      cacheControl: 'no-store',
      openedUserId: 'alice',
      anonymous: { status: 401, code: 'IADVIZE_UNAUTHENTICATED' },
    });
    expect(await userOf(p.token)).toBe('alice');
    expect(p.openedExp).toBe(p.expiresAt);
  });

  it('/terminus reports the signer up and /prometheus counts the token, on both platforms', () => {
    for (const platform of ['express', 'fastify'] as const) {
      expect({ platform, health: result.platforms[platform].health, tokensIssued: result.platforms[platform].tokensIssued }).toEqual({ platform, health: { status: 'ok', iadvize: 'up' }, tokensIssued: '1' });
    }
  });

  it('/testing: FakeIAdvize refuses a wrong issuer, an altered token and garbage with its reasons; FakeIAdvizeSetup works', () => {
    for (const platform of ['express', 'fastify'] as const) {
      expect(result.platforms[platform].refusals).toEqual({ wrongIssuer: 'WRONG_ISSUER', altered: 'DECRYPTION_FAILED', garbage: 'MALFORMED' });
    }
    // FakeIAdvizeSetup's module options mint a token its own open() accepts.
    expect(result.setup).toEqual({ openedUserId: 'grace' });
  });

  it('/config (iadvizeAuthConfig with @nestjs/config) and /config/env (local key, no @nestjs/config) mint tokens that open', async () => {
    expect(result.config.openedUserId).toBe('carol');
    expect(await userOf(result.config.token)).toBe('carol');
    expect(result.configEnv.openedUserIds).toEqual(['dave', 'erin', 'frank']);
    expect(await Promise.all(result.configEnv.tokens.map((t) => userOf(t)))).toEqual(['dave', 'erin', 'frank']);
  });
});

interface KmsResult {
  node: string;
  entries: Record<string, string>;
  libraryRequests?: string[];
  tokens: string[];
}

describe('KMS / HSM subpaths against their stand-ins', () => {
  let aws: AwsKmsStandin;
  let gcp: GcpKmsStandin;
  let grpcGateway: GcpKmsGrpcGateway;
  let caPem: string;
  let azure: AzureKeyVaultStandin;
  let vault: VaultTransitStandin;

  beforeAll(async () => {
    const certDir = mkdtempSync(join(temp.dir, 'tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem'),
    ], { stdio: 'pipe' });
    const tls = { cert: readFileSync(join(certDir, 'cert.pem')), key: readFileSync(join(certDir, 'key.pem')) };
    caPem = tls.cert.toString();
    [aws, gcp, azure, vault] = await Promise.all([AwsKmsStandin.create(), GcpKmsStandin.create(), AzureKeyVaultStandin.create('iadvize-jwt', '0f1e2d3c4b5a69788796a5b4c3d2e1f0'), VaultTransitStandin.create('iadvize-jwt', 'hvs.standin-token-1a2b3c')]);
    grpcGateway = await GcpKmsGrpcGateway.start(gcp, tls);
  }, 60_000);
  afterAll(async () => {
    await grpcGateway?.stop();
    await Promise.all([aws?.stop(), gcp?.stop(), azure?.stop(), vault?.stop()]);
  });

  const BACKENDS = {
    'aws-kms': () => ({ input: { url: aws.url, keyId: aws.alias, accessKeyId: 'AKIDSTANDIN', secretAccessKey: 'standin-secret-access-key-9f8e7d6c5b4a' }, publicKey: aws.key.publicKey }),
    'gcp-kms-rest': () => ({ input: { port: gcp.port, keyVersionName: gcp.version(1), accessToken: 'standin-access-token' }, publicKey: gcp.key.publicKey }),
    'gcp-kms-grpc': () => ({ input: { port: grpcGateway.port, keyVersionName: gcp.version(1), accessToken: 'standin-access-token', caPem }, publicKey: gcp.key.publicKey }),
    'azure-key-vault': () => ({ input: { keyId: `${azure.url}/keys/iadvize-jwt`, accessToken: 'standin-azure-token' }, publicKey: azure.key.publicKey }),
    'vault-transit': () => ({ input: { url: vault.url, keyName: 'iadvize-jwt', token: 'hvs.standin-token-1a2b3c' }, publicKey: vault.key.publicKey }),
  } as const;
  const SUBPATH: Record<string, string> = {
    'aws-kms': 'aws-kms',
    'gcp-kms-rest': 'gcp-kms',
    'gcp-kms-grpc': 'gcp-kms',
    'azure-key-vault': 'azure-key-vault',
    'vault-transit': 'vault-transit',
    pkcs11: 'pkcs11',
  };

  /** Runs the KMS scenario and checks what it loaded and minted. */
  async function expectMints(system: ModuleSystem, backend: string, input: Record<string, unknown>, publicKey: KeyObject, env: Record<string, string> = {}): Promise<void> {
    const result = await runScenario<KmsResult>(app, system, 'kms.scenario.mjs', { backend, issuer: ISSUER, iadvizePublicPem: iadvize.publicKeyPem, ...input }, env);
    expect(result.node).toBe(testNodeVersion);
    const entry = `nestjs-iadvize-auth/${SUBPATH[backend]}`;
    expect({ entry, file: result.entries[entry], build: BUILD_DIR[system].test(result.entries[entry] ?? '') }).toEqual({ entry, file: expect.any(String), build: true });
    if (system === 'commonjs') expect(result.libraryRequests).not.toContain('jose');
    expect(await Promise.all(result.tokens.map((t) => userOf(t, publicKey)))).toEqual(['kms-user-1', 'kms-user-2', 'kms-user-3', 'kms-user-4']);
  }

  describe.each(SYSTEMS)('%s app', (system) => {
    it.each(Object.keys(BACKENDS) as Array<keyof typeof BACKENDS>)('%s: the provider starts and mints tokens signed by the stand-in key', async (backend) => {
      const { input, publicKey } = BACKENDS[backend]();
      await expectMints(system, backend, input, publicKey);
    }, 60_000);
  });

  describe('pkcs11 (real SoftHSM2 token)', () => {
    const found = findSoftHsm();
    if ('missing' in found) {
      if (process.env.CI) {
        it('needs SoftHSM2 and OpenSC in CI', () => {
          throw new Error(`${found.missing}; .ci/run installs softhsm2 and opensc`);
        });
      } else {
        it.skip(`skipped: ${found.missing}`, () => undefined);
      }
      return;
    }
    const TOKEN = 'iadvize-artifact';
    const PIN = 'hsm-pin-3c9d1e77';
    let store: SoftHsmStore;
    let publicKey: KeyObject;
    beforeAll(() => {
      store = new SoftHsmStore(found.module);
      store.initToken(TOKEN, PIN, 'so-pin-8a7b6c');
      store.generateRsaKey(TOKEN, PIN, '01', 'jwt-key');
      publicKey = store.readPublicKey(TOKEN, PIN, '01');
    }, 120_000);
    afterAll(() => store?.cleanup());

    it.each(SYSTEMS.flatMap((system) => (['CKM_SHA256_RSA_PKCS', 'CKM_RSA_PKCS'] as const).map((mechanism) => [system, mechanism] as const)))(
      '%s app, %s: the provider starts on the token and mints tokens signed inside it',
      async (system, mechanism) => {
        const input = { module: found.module, tokenLabel: TOKEN, keyLabel: 'jwt-key', pinEnv: 'IADVIZE_TEST_HSM_PIN', mechanism };
        await expectMints(system, 'pkcs11', input, publicKey, { IADVIZE_TEST_HSM_PIN: PIN, SOFTHSM2_CONF: store.conf });
      },
      60_000,
    );
  });
});

describe('the CLI, through the installed iadvize-auth bin', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(temp.dir, 'cli-'));
  });

  it('--version prints the packed version', async () => {
    const r = await runBin(app, ['--version']);
    const pkg = JSON.parse(readFileSync(join(app.dir, 'node_modules', 'nestjs-iadvize-auth', 'package.json'), 'utf8')) as { version: string };
    expect({ code: r.code, out: r.stdout.trim(), err: r.stderr }).toEqual({ code: 0, out: pkg.version, err: '' });
  }, 60_000);

  it('keygen writes a key pair; doctor passes with it; inspect opens a token it signed', async () => {
    const keygen = await runBin(app, ['keygen', '--out', 'keys'], { cwd: work });
    expect({ code: keygen.code, stderr: keygen.stderr }).toEqual({ code: 0, stderr: '' });
    const privateFile = join(work, 'keys', 'brand-private-key.pem');
    const publicFile = join(work, 'keys', 'brand-public-key.pem');
    const publicPem = readFileSync(publicFile, 'utf8');
    expect(keygen.stdout).toContain(`Public key thumbprint (RFC 7638): ${await thumbprintOf(createPublicKey(publicPem))}`);
    expect(statSync(privateFile).mode & 0o777).toBe(0o600);

    const iadvizePublicFile = join(work, 'iadvize-public.pem');
    writeFileSync(iadvizePublicFile, iadvize.publicKeyPem);
    const doctor = await runBin(app, ['doctor'], {
      env: { IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: privateFile, IADVIZE_SIGNING_PUBLIC_KEY_FILE: publicFile, IADVIZE_PUBLIC_KEY_FILE: iadvizePublicFile },
    });
    expect({ code: doctor.code, stderr: doctor.stderr }).toEqual({ code: 0, stderr: '' });
    expect(doctor.stdout).toContain('[ok]   round trip: signed a token and opened it as iAdvize would');
    expect(doctor.stdout).toContain('All checks passed, with 1 warning.');

    const config = await resolveIAdvizeAuthOptions({ issuer: ISSUER, signingKey: { file: privateFile }, iadvizePublicKey: iadvize.publicKeyPem });
    const { token } = await new TokenService(config).createToken({ userId: 'customer-42' });
    const iadvizeKeyFile = join(work, 'iadvize-private.pem');
    writeFileSync(iadvizeKeyFile, iadvizePrivatePem, { mode: 0o600 });
    const inspect = await runBin(app, ['inspect', '-', '--iadvize-private-key', iadvizeKeyFile, '--brand-public-key', publicFile, '--issuer', ISSUER], { input: `${token}\n` });
    expect({ code: inspect.code, stderr: inspect.stderr }).toEqual({ code: 0, stderr: '' });
    expect(inspect.stdout).toContain('[ok]   iAdvize would accept this token for user id "customer-42"');
  }, 120_000);

  it('doctor fails (exit 1) on a broken configuration, and says which variable', async () => {
    const r = await runBin(app, ['doctor'], { env: { IADVIZE_SIGNING_KEY_FILE: join(work, 'missing.pem') } });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain('IADVIZE_ISSUER');
  }, 60_000);
});
