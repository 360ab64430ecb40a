import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  IAdvizeAuthEvents,
  InvalidOptionsError,
  TokenService,
  thumbprintOf,
  type IAdvizeAuthOptions,
  type SigningKeyReloadFailedEvent,
  type SigningKeySwitchedEvent,
} from '../../lib/index.js';
import { IADVIZE_AUTH_CONFIG } from '../../lib/iadvize.constants.js';
import type { LocalKeyProvider } from '../../lib/keys/local-key.provider.js';
import { SigningPool } from '../../lib/keys/signing-thread.pool.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import { type ResolvedIAdvizeAuthConfig } from '../../lib/startup/resolved-config.js';
import type { FakeIAdvize, FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestApp, authTestBrandKey, authTestModule, authTestSetup } from '../support/auth-module.js';
import { expectNoSecrets, rsaKeyPair, tempDir, type TestKeyPair } from '../support/keys.js';
import { PLATFORMS } from '../support/platforms.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { signedInGuard } from '../support/test-guards.js';

const ISSUER = 'https://brand.example';

let keyA: TestKeyPair;
let keyB: TestKeyPair;
let setup: FakeIAdvizeSetup;
let iadvize: FakeIAdvize;
let thumbA: string;
let thumbB: string;

beforeAll(async () => {
  [setup, keyB] = await Promise.all([authTestSetup(ISSUER), rsaKeyPair('watch-b')]);
  keyA = authTestBrandKey(setup);
  iadvize = setup.iadvize;
  thumbA = await thumbprintOf(keyA.publicKey);
  thumbB = await thumbprintOf(keyB.publicKey);
});

/**
 * A secret volume laid out as Kubernetes does it: `key.pem -> ..data/key.pem`,
 * `..data -> ..v1`; an update writes a new `..vN` directory and renames a new
 * symlink over `..data` (one atomic step), then deletes the old directory.
 */
class SecretVolume {
  private version = 0;
  constructor(readonly dir: string, content: string | Buffer) {
    const first = this.writeVersion(content);
    symlinkSync(first, join(dir, '..data'));
    symlinkSync(join('..data', 'key.pem'), this.keyFile);
  }
  get keyFile(): string {
    return join(this.dir, 'key.pem');
  }
  /** The kubelet's atomic update. */
  swap(content: string | Buffer): void {
    const old = `..v${this.version}`;
    const next = this.writeVersion(content);
    symlinkSync(next, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    rmSync(join(this.dir, old), { recursive: true, force: true });
  }
  private writeVersion(content: string | Buffer): string {
    const name = `..v${++this.version}`;
    mkdirSync(join(this.dir, name));
    writeFileSync(join(this.dir, name, 'key.pem'), content, { mode: 0o600 });
    return name;
  }
}

let volume: SecretVolume;
let cleanup: () => void;
beforeEach(() => {
  const tmp = tempDir();
  cleanup = tmp.cleanup;
  volume = new SecretVolume(tmp.dir, keyA.privatePem);
});
afterEach(() => cleanup());

function watchOptions(extra: Partial<IAdvizeAuthOptions> = {}, watchIntervalMs = 3_600_000): IAdvizeAuthOptions {
  // A long interval: these tests drive the poll with checkNow(); one test below uses the timer.
  return { issuer: ISSUER, iadvizePublicKey: iadvize.publicKeyPem, signingKey: { file: volume.keyFile, watch: true, watchIntervalMs }, ...extra };
}

async function start(options: IAdvizeAuthOptions) {
  const logger = new CapturingLogger();
  const { moduleRef } = await authTestModule(setup, { options: { ...options, controller: false }, moduleLogger: logger });
  await moduleRef.init();
  const config = moduleRef.get<ResolvedIAdvizeAuthConfig>(IADVIZE_AUTH_CONFIG);
  const events = moduleRef.get(IAdvizeAuthEvents);
  const switched: SigningKeySwitchedEvent[] = [];
  const failed: SigningKeyReloadFailedEvent[] = [];
  events.on('signing.key.switched', (e) => switched.push(e));
  events.on('signing.key.reload.failed', (e) => failed.push(e));
  const checkNow = () => (config.signingKeys as NonNullable<ResolvedIAdvizeAuthConfig['signingKeys']>).checkNow();
  return { moduleRef, logger, tokens: moduleRef.get(TokenService), switched, failed, checkNow, events };
}

async function signer(tokens: TokenService, userId = 'alice'): Promise<'A' | 'B'> {
  const { token } = await tokens.createToken({ userId });
  const a = await iadvize.open(token, keyA.publicPem, { issuer: ISSUER }).then(() => true, () => false);
  const b = await iadvize.open(token, keyB.publicPem, { issuer: ISSUER }).then(() => true, () => false);
  if (a === b) throw new Error('the token opens with both keys or neither');
  return a ? 'A' : 'B';
}

describe('signingKey { file, watch: true }: reload without restart', () => {
  it('follows the Kubernetes ..data symlink swap: the new key is loaded, checked, switched to, logged and emitted once', async () => {
    const { moduleRef, logger, tokens, switched, failed, checkNow } = await start(watchOptions());
    expect(await signer(tokens)).toBe('A');
    expect(await checkNow()).toEqual(['unchanged']);

    volume.swap(keyB.privatePem);
    expect(await checkNow()).toEqual(['reloaded']);
    expect(await signer(tokens)).toBe('B');
    expect(tokens.currentSigningKey().thumbprint).toBe(thumbB);
    expect(await checkNow()).toEqual(['unchanged']);

    expect(switched).toEqual([
      { previousThumbprint: thumbA, thumbprint: thumbB, reason: 'reload', signerKind: 'file', source: 'signingKey', at: expect.any(Number) },
    ]);
    expect(failed).toEqual([]);
    const lines = logger.matching('Signing key switched');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`from thumbprint ${thumbA} to ${thumbB}`);
    expect(lines[0]).toContain('was reloaded');
    expectNoSecrets(logger.all());
    await moduleRef.close();
  });

  it('a rewrite with the same key (new file, same content) is not a switch', async () => {
    const { moduleRef, tokens, switched, checkNow } = await start(watchOptions());
    volume.swap(keyA.privatePem);
    expect(await checkNow()).toEqual(['unchanged']);
    expect(await signer(tokens)).toBe('A');
    expect(switched).toEqual([]);
    await moduleRef.close();
  });

  it('never serves a token cached with the old key after a reload, even within its reuse window', async () => {
    const { moduleRef, tokens, checkNow } = await start(watchOptions({ tokenCache: { ttlSeconds: 30 } }));
    const first = await tokens.createToken({ userId: 'alice' });
    expect((await tokens.createToken({ userId: 'alice' })).token).toBe(first.token);
    volume.swap(keyB.privatePem);
    await checkNow();
    const after = await tokens.createToken({ userId: 'alice' });
    expect(after.token).not.toBe(first.token);
    expect((await iadvize.open(after.token, keyB.publicPem, { issuer: ISSUER })).userId).toBe('alice');
    await moduleRef.close();
  });

  it('a bad new file keeps the current key and is reported once (log + event), never half-loaded; a good one then loads', async () => {
    const small = await rsaKeyPair('watch-small', 1024);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const notMine = await rsaKeyPair('watch-iadvize');
    const { moduleRef, logger, tokens, switched, failed, checkNow } = await start(watchOptions({ iadvizePublicKey: notMine.publicPem }));
    const cases: Array<[string, string, RegExp]> = [
      ['garbage', '%% not a key %%\n', /is neither PEM, base64 nor a JWK/],
      ['too small', small.privatePem, /RSA-1024 key; at least 2048 bits/],
      ['a public key', keyB.publicPem, /holds a public key/],
      ['an EC key', ec, /is an EC key/],
      ['the iAdvize key', notMine.privatePem, /the new key is iAdvize's key/],
    ];
    for (const [label, content] of cases) {
      volume.swap(content);
      expect([label, await checkNow()]).toEqual([label, ['refused']]);
      expect([label, await checkNow()]).toEqual([label, ['refused']]); // reported once, not on every poll
      expect(tokens.currentSigningKey().thumbprint).toBe(thumbA);
    }
    // The token pipeline still encrypts to the configured (custom) iAdvize key and signs with A.
    const { token } = await tokens.createToken({ userId: 'alice' });
    expect(token.split('.')).toHaveLength(5);
    expect(failed.map((f) => f.reason)).toHaveLength(cases.length);
    cases.forEach(([, , reason], i) => {
      expect(failed[i]).toMatchObject({ source: 'signingKey', thumbprint: thumbA });
      expect(failed[i].reason).toMatch(reason);
    });
    expect(logger.matching('Kept the current key for signingKey', 'warn')).toHaveLength(cases.length);
    expect(switched).toEqual([]);
    expectNoSecrets(logger.all());
    expectNoSecrets(JSON.stringify(failed));

    volume.swap(keyB.privatePem);
    expect(await checkNow()).toEqual(['reloaded']);
    expect(tokens.currentSigningKey().thumbprint).toBe(thumbB);
    expect(switched).toHaveLength(1);
    await moduleRef.close();
  });

  it('a vanished file keeps the current key and is reported', async () => {
    const { moduleRef, tokens, failed, checkNow } = await start(watchOptions());
    rmSync(join(volume.dir, '..data'));
    expect(await checkNow()).toEqual(['refused']);
    expect(failed[0].reason).toContain('cannot be read (ENOENT)');
    expect(await signer(tokens)).toBe('A');
    await moduleRef.close();
  });

  it('the poll timer picks up a swap by itself', async () => {
    const { moduleRef, tokens, events } = await start(watchOptions({}, 100));
    const switchedEvent = new Promise<SigningKeySwitchedEvent>((resolve) => events.on('signing.key.switched', resolve));
    volume.swap(keyB.privatePem);
    expect((await switchedEvent).thumbprint).toBe(thumbB);
    expect(await signer(tokens)).toBe('B');
    await moduleRef.close();
  });

  it('validates the watch options', async () => {
    const error = await resolveIAdvizeAuthOptions({
      issuer: ISSUER,
      iadvizePublicKey: iadvize.publicKeyPem,
      signingKey: { file: volume.keyFile, watch: 'yes' },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as Error).message).toContain('signingKey.watch: must be true or false');
    const interval = await resolveIAdvizeAuthOptions(watchOptions({}, 5)).catch((e: unknown) => e);
    expect((interval as Error).message).toContain('signingKey.watchIntervalMs: must be a whole number of milliseconds from 100 to 3600000');
  });

  it('a watched key file can be a schedule entry: a reload of a future key is checked and used at its instant', async () => {
    const now = { t: Date.parse('2027-01-15T08:00:00Z') };
    const otherDir = tempDir();
    try {
      const future = new SecretVolume(otherDir.dir, (await rsaKeyPair('watch-c')).privatePem);
      const { moduleRef, tokens, checkNow, switched } = await start({
        issuer: ISSUER,
        iadvizePublicKey: iadvize.publicKeyPem,
        clock: () => now.t,
        signingKey: {
          schedule: [
            { key: { pem: keyA.privatePem } },
            { key: { file: future.keyFile, watch: true, watchIntervalMs: 3_600_000 }, from: '2027-01-15T09:00:00Z' },
          ],
        },
      });
      future.swap(keyB.privatePem);
      expect(await checkNow()).toEqual(['reloaded']);
      expect(tokens.currentSigningKey().thumbprint).toBe(thumbA);
      expect(switched).toEqual([]);
      now.t = Date.parse('2027-01-15T09:00:00Z');
      expect(tokens.currentSigningKey().thumbprint).toBe(thumbB);
      expect(switched.map((e) => e.reason)).toEqual(['schedule']);
      await moduleRef.close();
    } finally {
      otherDir.cleanup();
    }
  });
});

describe('signingThreads of a watched key file carries into the key a reload swaps in', () => {
  function inForce(moduleRef: Awaited<ReturnType<typeof start>>['moduleRef']): LocalKeyProvider {
    const config = moduleRef.get<ResolvedIAdvizeAuthConfig>(IADVIZE_AUTH_CONFIG);
    return (config.signingKeys as NonNullable<ResolvedIAdvizeAuthConfig['signingKeys']>).currentKey().provider as LocalKeyProvider;
  }
  // 3 threads: a pool size no other test of this file uses, so its threads show whose keys it holds.
  const shapes: Array<[string, (n: number) => IAdvizeAuthOptions]> = [
    ['{ file, watch: true }', (n) => ({ ...watchOptions(), signingKey: { file: volume.keyFile, watch: true, watchIntervalMs: 3_600_000, signingThreads: n } })],
    [
      'a schedule entry { file, watch: true }',
      (n) => ({ ...watchOptions(), signingKey: { schedule: [{ key: { file: volume.keyFile, watch: true, watchIntervalMs: 3_600_000, signingThreads: n } }] } }),
    ],
  ];

  it.each(shapes)('%s with signingThreads: 3: the reloaded key signs on the same 3 threads; the old key is released', async (_shape, options) => {
    const pool = SigningPool.shared(3);
    const { moduleRef, tokens, checkNow } = await start(options(3));
    const before = inForce(moduleRef);
    expect(before.signingThreads).toBe(3);
    expect(pool.workers()).toHaveLength(3);
    volume.swap(keyB.privatePem);
    expect(await checkNow()).toEqual(['reloaded']);
    const after = inForce(moduleRef);
    expect(after).not.toBe(before);
    expect(after.signingThreads).toBe(3);
    expect(await signer(tokens)).toBe('B');
    expect(pool.workers()).toHaveLength(3);
    // The old key left the pool at the reload: closing the module (the new key) stops the threads.
    await moduleRef.close();
    expect(pool.workers()).toHaveLength(0);
  });

  it.each(shapes)('%s with signingThreads: 3: a new file refused after it loaded (iAdvize\'s key, a 1024-bit key) leaves the threads too', async (_shape, options) => {
    const pool = SigningPool.shared(3);
    const notMine = await rsaKeyPair('watch-refused-iadvize');
    const small = await rsaKeyPair('watch-refused-small', 1024);
    const built = options(3);
    const { moduleRef, tokens, checkNow } = await start({ ...built, iadvizePublicKey: notMine.publicPem });
    for (const content of [notMine.privatePem, small.privatePem]) {
      volume.swap(content);
      expect(await checkNow()).toEqual(['refused']);
    }
    expect(tokens.currentSigningKey().thumbprint).toBe(thumbA);
    // Only key A is left in the pool: closing the module stops the threads.
    await moduleRef.close();
    expect(pool.workers()).toHaveLength(0);
  });

  it.each(shapes)('%s with signingThreads: 0: the reloaded key signs on libuv\'s pool too', async (_shape, options) => {
    const { moduleRef, tokens, checkNow } = await start(options(0));
    expect(inForce(moduleRef).signingThreads).toBe(0);
    volume.swap(keyB.privatePem);
    expect(await checkNow()).toEqual(['reloaded']);
    expect(inForce(moduleRef).signingThreads).toBe(0);
    expect(await signer(tokens)).toBe('B');
    await moduleRef.close();
  });
});

describe.each(PLATFORMS)('watched key file over HTTP (%s)', (_name, platform) => {
  let app: INestApplication;

  afterEach(async () => {
    await app?.close();
  });

  it('the endpoint switches to the reloaded key', async () => {
    const { moduleRef, app: started } = await authTestApp(setup, platform, { options: watchOptions({ tokenCache: { ttlSeconds: 30 } }), controller: { guards: [signedInGuard('http-user')] } });
    app = started;
    const before = await request(app.getHttpServer()).post('/iadvize/token').expect(200);
    expect((await iadvize.open(before.body.token, keyA.publicPem, { issuer: ISSUER })).userId).toBe('http-user');
    volume.swap(keyB.privatePem);
    await moduleRef.get<ResolvedIAdvizeAuthConfig>(IADVIZE_AUTH_CONFIG).signingKeys?.checkNow();
    const after = await request(app.getHttpServer()).post('/iadvize/token').expect(200);
    expect((await iadvize.open(after.body.token, keyB.publicPem, { issuer: ISSUER })).userId).toBe('http-user');
    await expect(iadvize.open(after.body.token, keyA.publicPem, { issuer: ISSUER })).rejects.toThrow();
  });
});
