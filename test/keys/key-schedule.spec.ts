import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  IAdvizeAuthEvents,
  IAdvizeAuthModule,
  IAdvizeHealthService,
  InvalidOptionsError,
  TokenService,
  thumbprintOf,
  type IAdvizeAuthOptions,
  type SigningKeySwitchedEvent,
} from '../../lib/index.js';
import { IADVIZE_AUTH_CONFIG } from '../../lib/iadvize.constants.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import { type ResolvedIAdvizeAuthConfig } from '../../lib/startup/resolved-config.js';
import type { FakeIAdvize, FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestApp, authTestBrandKey, authTestModule, authTestSetup } from '../support/auth-module.js';
import { expectNoSecrets, rsaKeyPair, tempDir, type TestKeyPair } from '../support/keys.js';
import { PLATFORMS } from '../support/platforms.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { kmsLikeSigner } from '../support/kms-like-signer.js';
import { signedInGuard } from '../support/test-guards.js';

const ISSUER = 'https://brand.example';
/** The instant agreed with iAdvize for the switch from key A to key B. */
const SWITCH = '2027-01-15T09:00:00Z';
const SWITCH_MS = Date.parse(SWITCH);

let keyA: TestKeyPair;
let keyB: TestKeyPair;
let keyC: TestKeyPair;
let setup: FakeIAdvizeSetup;
let iadvize: FakeIAdvize;
let thumbA: string;
let thumbB: string;

beforeAll(async () => {
  [setup, keyB, keyC] = await Promise.all([authTestSetup(ISSUER), rsaKeyPair('rotation-b'), rsaKeyPair('rotation-c')]);
  keyA = authTestBrandKey(setup);
  iadvize = setup.iadvize;
  thumbA = await thumbprintOf(keyA.publicKey);
  thumbB = await thumbprintOf(keyB.publicKey);
});

/** A test clock: the module reads it; tests move it. */
function testClock(start: number) {
  const clock = { now: start, fn: () => clock.now };
  return clock;
}

function scheduleOptions(clock: () => number, extra: Partial<IAdvizeAuthOptions> = {}): IAdvizeAuthOptions {
  return {
    issuer: ISSUER,
    iadvizePublicKey: iadvize.publicKeyPem,
    clock,
    signingKey: { schedule: [{ key: { pem: keyA.privatePem } }, { key: { pem: keyB.privatePem }, from: SWITCH }] },
    ...extra,
  };
}

async function problemsOf(options: unknown): Promise<string> {
  const error = await resolveIAdvizeAuthOptions(options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidOptionsError);
  const message = (error as Error).message;
  expectNoSecrets(message);
  expect(message).not.toContain(keyA.privatePem.slice(40, 80));
  return message;
}

/** Opens `token` as iAdvize would with the public key of `pair`. */
async function openedWith(token: string, pair: TestKeyPair, now: number) {
  return iadvize.open(token, pair.publicPem, { issuer: ISSUER, currentDate: new Date(now) });
}

describe('signingKey schedule: validation at startup', () => {
  it('lists every problem of a schedule in one error, naming each entry', async () => {
    const message = await problemsOf({
      issuer: ISSUER,
      iadvizePublicKey: iadvize.publicKeyPem,
      signingKey: {
        schedule: [
          { key: { pem: keyA.privatePem } },
          { key: { pem: keyB.privatePem } }, // no "from"
          { key: { pem: keyC.privatePem }, from: '2027-01-15 09:00' }, // no zone
          { key: { pem: keyB.privatePem }, from: '2027-02-01T00:00:00Z' },
          { key: { pem: keyC.privatePem }, from: new Date('2027-02-01T00:00:00Z') }, // same instant
          { key: { pem: keyA.privatePem }, from: '2027-01-20T00:00:00Z' }, // earlier than the one before
          { key: { nope: 'x' }, from: '2027-03-01T00:00:00Z' },
          { key: { schedule: [] }, from: '2027-04-01T00:00:00Z' },
          'not an entry',
          { key: { pem: keyA.privatePem }, from: '2027-05-01T00:00:00Z', extra: true },
        ],
      },
    });
    expect(message).toContain('signingKey.schedule[1].from: is required (only the first entry may omit it)');
    expect(message).toContain('signingKey.schedule[2].from: must be an ISO 8601 date-time with a time zone');
    expect(message).toContain('signingKey.schedule[4].from: is the same instant as signingKey.schedule[3].from');
    expect(message).toContain('signingKey.schedule[5].from: is earlier than signingKey.schedule[4].from');
    expect(message).toContain('signingKey.schedule[6].key: give one of "file", "env", "pem", "jwk"');
    expect(message).toContain('signingKey.schedule[7].key: a schedule cannot be nested in a schedule');
    expect(message).toContain('signingKey.schedule[8]: must be an object { key, from }');
    expect(message).toContain('signingKey.schedule[9]: unknown option "extra"');
  });

  it('refuses an empty schedule, an unknown option beside it, and a schedule with no key in force now', async () => {
    expect(await problemsOf({ issuer: ISSUER, signingKey: { schedule: [] } })).toContain('signingKey.schedule: must be a non-empty array');
    expect(await problemsOf({ issuer: ISSUER, signingKey: { schedule: [{ key: { pem: keyA.privatePem } }], watch: true } })).toContain(
      'signingKey: unknown option "watch" next to "schedule"',
    );
    const clock = testClock(SWITCH_MS - 60_000);
    const message = await problemsOf({
      issuer: ISSUER,
      iadvizePublicKey: iadvize.publicKeyPem,
      clock: clock.fn,
      signingKey: { schedule: [{ key: { pem: keyA.privatePem }, from: SWITCH }] },
    });
    expect(message).toContain(`signingKey.schedule: no key is in force now (the first entry takes over at ${new Date(SWITCH_MS).toISOString()})`);
  });

  it('refuses two consecutive entries with the same key', async () => {
    const message = await problemsOf({
      issuer: ISSUER,
      iadvizePublicKey: iadvize.publicKeyPem,
      signingKey: { schedule: [{ key: { pem: keyA.privatePem } }, { key: { jwk: keyA.privateKey.export({ format: 'jwk' }) }, from: '2099-01-01T00:00:00Z' }] },
    });
    expect(message).toContain(`signingKey.schedule[1].key: is the same key as signingKey.schedule[0].key (thumbprint ${thumbA})`);
  });

  it('loads every key still to come at startup: a bad future key fails startup, naming its entry and no key material', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const missing = join(dir, 'brand-2027.pem');
      const clock = testClock(SWITCH_MS - 60_000);
      const message = await problemsOf(scheduleOptions(clock.fn, { signingKey: { schedule: [{ key: { pem: keyA.privatePem } }, { key: { file: missing }, from: SWITCH }] } }));
      expect(message).toContain('signingKey.schedule[1].key: file');
      expect(message).toContain('does not exist');

      const small = await rsaKeyPair('rotation-small', 1024);
      writeFileSync(missing, small.privatePem, { mode: 0o600 });
      const tooSmall = await problemsOf(scheduleOptions(clock.fn, { signingKey: { schedule: [{ key: { pem: keyA.privatePem } }, { key: { file: missing }, from: SWITCH }] } }));
      expect(tooSmall).toContain('signingKey.schedule[1].key: file');
      expect(tooSmall).toContain('RSA-1024');
    } finally {
      cleanup();
    }
  });

  it('self-checks every scheduled key at startup: a future signer whose signatures do not verify fails startup', async () => {
    const signer = kmsLikeSigner(keyB.privatePem);
    signer.mode = 'wrong-signature';
    const clock = testClock(SWITCH_MS - 60_000);
    const message = await problemsOf(scheduleOptions(clock.fn, { signingKey: { schedule: [{ key: { pem: keyA.privatePem } }, { key: signer, from: SWITCH }] } }));
    expect(message).toContain("signingKey.schedule[1].key: self-check failed: the provider's signature does not verify with its public key");
    expect(signer.calls).toBe(1);
  });

  it('reads the schedule through own properties: a polluted Object.prototype changes nothing', async () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.schedule = [{ key: { pem: keyB.privatePem } }];
    proto.from = '2000-01-01T00:00:00Z';
    try {
      const single = await resolveIAdvizeAuthOptions({ issuer: ISSUER, iadvizePublicKey: iadvize.publicKeyPem, signingKey: { pem: keyA.privatePem } });
      expect(single.signingKeyThumbprint).toBe(thumbA);
      await single.signingKeys?.close();
      const clock = testClock(SWITCH_MS - 1000);
      const scheduled = await resolveIAdvizeAuthOptions(scheduleOptions(clock.fn));
      expect(scheduled.signingKeys?.describe().map((l) => l.from)).toEqual([undefined, SWITCH_MS]);
      await scheduled.signingKeys?.close();
    } finally {
      delete proto.schedule;
      delete proto.from;
    }
  });

  it('does not load entries superseded before startup (their key may be gone), and shows them as retired', async () => {
    const clock = testClock(SWITCH_MS + 60_000);
    const config = await resolveIAdvizeAuthOptions(
      scheduleOptions(clock.fn, { signingKey: { schedule: [{ key: { file: '/nonexistent/brand-2026.pem' } }, { key: { pem: keyB.privatePem }, from: SWITCH }] } }),
    );
    expect(config.signingKeyThumbprint).toBe(thumbB);
    const lines = config.signingKeys?.describe() ?? [];
    expect(lines.map((l) => [l.source, l.state, l.thumbprint])).toEqual([
      ['signingKey.schedule[0].key', 'retired', undefined],
      ['signingKey.schedule[1].key', 'in force', thumbB],
    ]);
    await config.signingKeys?.close();
  });
});

describe('signingKey schedule: the switch at the agreed instant', () => {
  async function moduleWith(clock: () => number, extra: Partial<IAdvizeAuthOptions> = {}) {
    const logger = new CapturingLogger();
    const { moduleRef } = await authTestModule(setup, { options: { ...scheduleOptions(clock, extra), controller: false }, moduleLogger: logger });
    await moduleRef.init();
    return { moduleRef, logger };
  }

  it('signs with key A before the instant and key B from it; the switch is logged once and emitted once', async () => {
    const clock = testClock(SWITCH_MS - 1000);
    const { moduleRef, logger } = await moduleWith(clock.fn);
    const tokens = moduleRef.get(TokenService);
    const switched: SigningKeySwitchedEvent[] = [];
    moduleRef.get(IAdvizeAuthEvents).on('signing.key.switched', (e) => switched.push(e));

    expect(logger.matching('Key schedule: signingKey.schedule[1].key')).toEqual([
      `Key schedule: signingKey.schedule[1].key (thumbprint ${thumbB}) takes over at ${new Date(SWITCH_MS).toISOString()} IAdvizeAuthModule`,
    ]);
    const before = await tokens.createToken({ userId: 'alice' });
    expect((await openedWith(before.token, keyA, clock.now)).userId).toBe('alice');
    await expect(openedWith(before.token, keyB, clock.now)).rejects.toThrow();
    expect(tokens.currentSigningKey().thumbprint).toBe(thumbA);
    expect(tokens.currentSigningKey(SWITCH_MS).thumbprint).toBe(thumbB);
    expect(switched).toEqual([]);

    clock.now = SWITCH_MS;
    const after = await tokens.createToken({ userId: 'alice' });
    expect((await openedWith(after.token, keyB, clock.now)).userId).toBe('alice');
    await expect(openedWith(after.token, keyA, clock.now)).rejects.toThrow();
    await tokens.createToken({ userId: 'bob' });
    expect(tokens.signingKeyThumbprint).toBe(thumbB);
    expect(moduleRef.get<ResolvedIAdvizeAuthConfig>(IADVIZE_AUTH_CONFIG).signingKeyThumbprint).toBe(thumbB);

    expect(switched).toEqual([
      { previousThumbprint: thumbA, thumbprint: thumbB, reason: 'schedule', signerKind: 'inline', source: 'signingKey.schedule[1].key', at: SWITCH_MS },
    ]);
    const lines = logger.matching('Signing key switched');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`from thumbprint ${thumbA} to ${thumbB}`);
    expect(lines[0]).toContain(new Date(SWITCH_MS).toISOString());
    expectNoSecrets(logger.all(), [before.token, after.token]);
    await moduleRef.close();
  });

  it('never serves a token cached with key A after the switch, even within its reuse window', async () => {
    const clock = testClock(SWITCH_MS - 5000);
    const { moduleRef } = await moduleWith(clock.fn, { tokenTtlSeconds: 120, tokenCache: { ttlSeconds: 60 } });
    const tokens = moduleRef.get(TokenService);
    const first = await tokens.createToken({ userId: 'alice' });
    clock.now = SWITCH_MS - 4000;
    expect((await tokens.createToken({ userId: 'alice' })).token).toBe(first.token); // the cache works before the switch

    clock.now = SWITCH_MS + 1000; // 6 s after minting: well within the 60 s reuse window
    const after = await tokens.createToken({ userId: 'alice' });
    expect(after.token).not.toBe(first.token);
    expect((await openedWith(after.token, keyB, clock.now)).userId).toBe('alice');
    expect((await tokens.createToken({ userId: 'alice' })).token).toBe(after.token); // and B's tokens are cached in turn
    await moduleRef.close();
  });

  it('the health check signs with the key in force and reports its thumbprint (no stale cached result across the switch)', async () => {
    const clock = testClock(SWITCH_MS - 1000);
    const { moduleRef } = await moduleWith(clock.fn);
    const health = moduleRef.get(IAdvizeHealthService);
    expect(await health.check()).toMatchObject({ healthy: true, signingKeyThumbprint: thumbA, cached: false });
    clock.now = SWITCH_MS + 1000; // within the 10 s cache period of the last result
    expect(await health.check()).toMatchObject({ healthy: true, signingKeyThumbprint: thumbB, cached: false });
    await moduleRef.close();
  });

  it('forRootAsync takes a schedule from a factory', async () => {
    const clock = testClock(SWITCH_MS + 1);
    // Hand-written on purpose: forRootAsync is what this test checks.
    const moduleRef = await Test.createTestingModule({
      imports: [IAdvizeAuthModule.forRootAsync({ useFactory: async () => scheduleOptions(clock.fn), controller: false })],
    }).compile();
    const { token } = await moduleRef.get(TokenService).createToken({ userId: 'carol' });
    expect((await openedWith(token, keyB, clock.now)).userId).toBe('carol');
    await moduleRef.close();
  });
});

describe.each(PLATFORMS)('signingKey schedule over HTTP (%s)', (_name, platform) => {
  let app: INestApplication;
  const clock = testClock(SWITCH_MS - 1000);

  beforeAll(async () => {
    ({ app } = await authTestApp(setup, platform, { options: scheduleOptions(clock.fn, { tokenCache: { ttlSeconds: 30 } }), controller: { guards: [signedInGuard('http-user')] } }));
  });
  afterAll(async () => {
    await app?.close();
  });

  it('the endpoint hands out key A tokens before the instant and key B tokens from it', async () => {
    const before = await request(app.getHttpServer()).post('/iadvize/token').expect(200);
    expect((await openedWith(before.body.token, keyA, clock.now)).userId).toBe('http-user');
    clock.now = SWITCH_MS;
    const after = await request(app.getHttpServer()).post('/iadvize/token').expect(200);
    expect(after.body.token).not.toBe(before.body.token);
    expect((await openedWith(after.body.token, keyB, clock.now)).userId).toBe('http-user');
    await expect(openedWith(after.body.token, keyA, clock.now)).rejects.toThrow();
  });
});
