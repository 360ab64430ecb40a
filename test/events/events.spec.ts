import { createHmac } from 'node:crypto';
import { Injectable, type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { jest } from '@jest/globals';
import request from 'supertest';
import {
  InvalidIdentityError,
  InvalidOptionsError,
  SignatureMismatchError,
  SigningUnavailableError,
  TokenService,
  UserResolver,
  type IAdvizeAuthOptions,
  type IAdvizeUser,
} from '../../lib/index.js';
import {
  IADVIZE_AUTH_EVENTS_OPTIONS,
  IAdvizeAuthEvents,
  type IAdvizeAuthEventMap,
  type IAdvizeAuthEventName,
} from '../../lib/events/iadvize-auth-events.service.js';
import type { FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestApp, authTestModule, authTestSetup } from '../support/auth-module.js';
import { expectNoSecrets } from '../support/keys.js';
import { PLATFORMS } from '../support/platforms.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import type { FakeKeyProvider } from '../../lib/testing/index.js';
import { kmsLikeSigner } from '../support/kms-like-signer.js';

const HASH_KEY = 'k'.repeat(16) + '-0123456789abcdef-correlation';

let setup: FakeIAdvizeSetup;
let brandPem: string;

beforeAll(async () => {
  setup = await authTestSetup();
  brandPem = setup.moduleOptions.signingKey.pem;
});

type Recorded = Array<{ name: IAdvizeAuthEventName; event: IAdvizeAuthEventMap[IAdvizeAuthEventName] }>;

/** Subscribes to every event and records them in order. */
function record(events: IAdvizeAuthEvents): Recorded {
  const seen: Recorded = [];
  for (const name of ['token.issued', 'token.refused', 'signer.failure', 'health.checked'] as const) {
    events.on(name, (event) => seen.push({ name, event }));
  }
  return seen;
}

async function compile(options: Partial<IAdvizeAuthOptions> = {}, extras: { extraProviders?: unknown[]; logger?: CapturingLogger } = {}) {
  const { logger } = extras;
  const { moduleRef } = await authTestModule(setup, {
    options: { controller: false, ...options, extraProviders: (extras.extraProviders ?? []) as never[] },
    moduleLogger: logger,
  });
  return { moduleRef, tokens: moduleRef.get(TokenService), events: moduleRef.get(IAdvizeAuthEvents) };
}

describe('IAdvizeAuthEvents through TokenService', () => {
  it('is one instance shared by the module, TokenService and the app', async () => {
    const { tokens, events } = await compile();
    expect(events).toBeInstanceOf(IAdvizeAuthEvents);
    expect(tokens.events).toBe(events);
  });

  it('token.issued carries the duration and signer kind, and nothing about the user by default', async () => {
    const { tokens, events } = await compile();
    const seen = record(events);
    const { token } = await tokens.createToken({ userId: 'customer-42', visitorData: { email: 'a@example.com' } });
    expect((await setup.open(token)).userId).toBe('customer-42');
    expect(seen).toHaveLength(1);
    expect(seen[0].name).toBe('token.issued');
    const e = seen[0].event as IAdvizeAuthEventMap['token.issued'];
    expect(e.signerKind).toBe('inline');
    expect(e.durationMs).toBeGreaterThan(0);
    expect(e.durationMs).toBeLessThan(5000);
    expect(e.userIdHash).toBeUndefined();
    expect(JSON.stringify(seen)).not.toMatch(/customer-42|a@example\.com/);
  });

  it('token.refused with IADVIZE_INVALID_IDENTITY when the identity breaks the rules; the error still propagates', async () => {
    const { tokens, events } = await compile();
    const seen = record(events);
    await expect(tokens.createToken({ userId: '' })).rejects.toBeInstanceOf(InvalidIdentityError);
    await expect(tokens.createToken(null as unknown as IAdvizeUser)).rejects.toBeInstanceOf(InvalidIdentityError);
    expect(seen.map((s) => [s.name, (s.event as { code?: string }).code])).toEqual([
      ['token.refused', 'IADVIZE_INVALID_IDENTITY'],
      ['token.refused', 'IADVIZE_INVALID_IDENTITY'],
    ]);
  });

  it('signer.failure for a failing, hanging or mismatching signer, with code, kind and duration', async () => {
    const signer = kmsLikeSigner(brandPem);
    const { tokens, events } = await compile({ signingKey: signer, signingTimeoutMs: 150 });
    const seen = record(events);
    signer.mode = 'fail';
    await expect(tokens.createToken({ userId: 'u1' })).rejects.toBeInstanceOf(SigningUnavailableError);
    signer.mode = 'hang';
    await expect(tokens.createToken({ userId: 'u1' })).rejects.toBeInstanceOf(SigningUnavailableError);
    signer.mode = 'wrong-signature';
    await expect(tokens.createToken({ userId: 'u1' })).rejects.toBeInstanceOf(SignatureMismatchError);
    signer.mode = 'ok';
    await tokens.createToken({ userId: 'u1' });
    expect(seen.map((s) => s.name)).toEqual(['signer.failure', 'signer.failure', 'signer.failure', 'token.issued']);
    const failures = seen.slice(0, 3).map((s) => s.event as IAdvizeAuthEventMap['signer.failure']);
    expect(failures.map((f) => f.code)).toEqual(['IADVIZE_SIGNING_UNAVAILABLE', 'IADVIZE_SIGNING_UNAVAILABLE', 'IADVIZE_SIGNATURE_MISMATCH']);
    expect(failures.every((f) => f.signerKind === 'test-kms')).toBe(true);
    expect(failures[1].durationMs).toBeGreaterThanOrEqual(140);
    expect(JSON.stringify(seen)).not.toMatch(/hunter2|ECONNREFUSED|u1/);
  });

  it('with no listener, nothing is built or emitted (the hot path only reads a timestamp)', async () => {
    const { tokens, events } = await compile();
    const emit = jest.spyOn(events, 'emit');
    const hash = jest.spyOn(events, 'hashUserId');
    await tokens.createToken({ userId: 'quiet' });
    await expect(tokens.createToken({ userId: '' })).rejects.toThrow();
    expect(emit).not.toHaveBeenCalled();
    expect(hash).not.toHaveBeenCalled();
    // Subscribing to one event does not build the others.
    events.on('signer.failure', () => undefined);
    await tokens.createToken({ userId: 'quiet' });
    expect(emit).not.toHaveBeenCalled();
  });

  it('unsubscribes, rejects unknown events and non-function listeners', async () => {
    const { tokens, events } = await compile();
    const issued: unknown[] = [];
    const off = events.on('token.issued', (e) => issued.push(e));
    await tokens.createToken({ userId: 'a' });
    off();
    expect(events.listening('token.issued')).toBe(false);
    await tokens.createToken({ userId: 'b' });
    expect(issued).toHaveLength(1);
    const listener = () => issued.push('again');
    events.on('token.issued', listener);
    events.off('token.issued', listener);
    await tokens.createToken({ userId: 'c' });
    expect(issued).toHaveLength(1);
    expect(() => events.on('token.minted' as never, () => undefined)).toThrow(/unknown event "token.minted".*token.issued/);
    expect(() => events.on('token.issued', 'nope' as never)).toThrow(TypeError);
  });

  it('a throwing or rejecting listener never breaks issuance; each failure is one log line with no message content', async () => {
    const logger = new CapturingLogger();
    const { tokens, events } = await compile({}, { logger });
    const later: unknown[] = [];
    events.on('token.issued', () => {
      throw new RangeError('listener bug with user secret-user');
    });
    events.on('token.issued', async () => {
      throw new TypeError('async listener bug');
    });
    events.on('token.issued', (e) => later.push(e));
    const { token } = await tokens.createToken({ userId: 'still-works' });
    expect((await setup.open(token)).userId).toBe('still-works');
    expect(later).toHaveLength(1);
    await new Promise((r) => setImmediate(r));
    const lines = logger.matching('listener threw', 'error');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('"token.issued" listener threw RangeError');
    expect(lines[1]).toContain('threw TypeError');
    expect(logger.all()).not.toContain('secret-user');
  });

  describe('userIdHash (opt-in keyed hash for correlation)', () => {
    const expected = (userId: string) => createHmac('sha256', HASH_KEY).update(userId).digest('base64url');

    it('is HMAC-SHA256 of the user id with the app key, on issued, refused and failure events', async () => {
      const signer = kmsLikeSigner(brandPem);
      const { tokens, events } = await compile(
        { signingKey: signer },
        { extraProviders: [{ provide: IADVIZE_AUTH_EVENTS_OPTIONS, useValue: { userIdHashKey: HASH_KEY } }] },
      );
      const seen = record(events);
      await tokens.createToken({ userId: 'customer-42' });
      await expect(tokens.createToken({ userId: 'x'.repeat(300) })).rejects.toThrow();
      await expect(tokens.createToken({ userId: 7 } as never)).rejects.toThrow();
      signer.mode = 'fail';
      await expect(tokens.createToken({ userId: 'customer-43' })).rejects.toThrow();
      const hashes = seen.map((s) => (s.event as { userIdHash?: string }).userIdHash);
      expect(hashes).toEqual([expected('customer-42'), expected('x'.repeat(300)), undefined, expected('customer-43')]);
      expect(hashes[0]).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(events.hashUserId('customer-42')).toBe(expected('customer-42'));
      expect(JSON.stringify(seen)).not.toMatch(/customer-4/);
    });

    it('accepts a Uint8Array key and gives different hashes for different keys', async () => {
      const bytes = new Uint8Array(32).fill(7);
      const a = new IAdvizeAuthEvents({ userIdHashKey: bytes });
      const b = new IAdvizeAuthEvents({ userIdHashKey: HASH_KEY });
      expect(a.hashUserId('u')).toBe(createHmac('sha256', bytes).update('u').digest('base64url'));
      expect(a.hashUserId('u')).not.toBe(b.hashUserId('u'));
      expect(new IAdvizeAuthEvents().hashUserId('u')).toBeUndefined();
    });

    it('refuses a short or mistyped key at startup, naming the option and the fix', async () => {
      const start = (userIdHashKey: unknown) =>
        compile({}, { extraProviders: [{ provide: IADVIZE_AUTH_EVENTS_OPTIONS, useValue: { userIdHashKey } }] });
      await expect(start('too-short')).rejects.toThrow(InvalidOptionsError);
      await expect(start('too-short')).rejects.toThrow(/userIdHashKey: must be at least 32 bytes \(got 9\).*openssl rand/);
      await expect(start(12345)).rejects.toThrow(/userIdHashKey: must be a string or a Uint8Array/);
      await expect(start('too-short')).rejects.not.toThrow(/too-short/);
    });
  });
});

/** Server-side sessions: bearer token → user. */
const SESSIONS = new Map<string, { id: string; bad?: boolean }>([
  ['tok-alice', { id: 'alice' }],
  ['tok-bad', { id: 'bad', bad: true }],
]);

@Injectable()
class BearerAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: unknown }>();
    const user = SESSIONS.get(/^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
    if (user) req.user = user;
    return true;
  }
}

@Injectable()
class BadAwareResolver extends UserResolver {
  resolve(context: ExecutionContext): IAdvizeUser | null {
    const user = context.switchToHttp().getRequest<{ user?: { id: string; bad?: boolean } }>().user;
    if (!user) return null;
    return user.bad ? { userId: '', visitorData: { email: 'leak@example.com' } } : { userId: user.id };
  }
}

describe.each(PLATFORMS)('events and logs of the token endpoint on %s', (_name, platform) => {
  let app: INestApplication;
  let signer: FakeKeyProvider;
  let logger: CapturingLogger;
  let seen: Recorded;

  beforeAll(async () => {
    signer = kmsLikeSigner(brandPem);
    logger = new CapturingLogger();
    ({ app } = await authTestApp(setup, platform, {
      options: { signingKey: signer, signingTimeoutMs: 200 },
      userResolver: BadAwareResolver,
      controller: { guards: [BearerAuthGuard] },
      logger,
    }));
    seen = record(app.get(IAdvizeAuthEvents));
  });
  afterAll(() => app.close());
  beforeEach(() => {
    seen.length = 0;
    logger.lines = [];
    signer.mode = 'ok';
  });

  it('one token.issued per token, one token.refused per 401 and 422', async () => {
    const server = app.getHttpServer();
    await request(server).post('/iadvize/token').set('Authorization', 'Bearer tok-alice').expect(200);
    await request(server).get('/iadvize/token').set('Authorization', 'Bearer tok-alice').expect(200);
    await request(server).post('/iadvize/token').expect(401);
    await request(server).post('/iadvize/token').set('Authorization', 'Bearer tok-bad').expect(422);
    expect(seen.map((s) => [s.name, (s.event as { code?: string }).code])).toEqual([
      ['token.issued', undefined],
      ['token.issued', undefined],
      ['token.refused', 'IADVIZE_UNAUTHENTICATED'],
      ['token.refused', 'IADVIZE_INVALID_IDENTITY'],
    ]);
    expect(JSON.stringify(seen)).not.toMatch(/alice|leak@example/);
  });

  it('logs exactly one line per failure, with the code, never the token, key or backend message; 401s are not logged', async () => {
    const server = app.getHttpServer();
    const ok = await request(server).post('/iadvize/token').set('Authorization', 'Bearer tok-alice').expect(200);
    await request(server).post('/iadvize/token').expect(401);
    await request(server).post('/iadvize/token').set('Authorization', 'Bearer tok-bad').expect(422);
    signer.mode = 'fail';
    await request(server).post('/iadvize/token').set('Authorization', 'Bearer tok-alice').expect(503);
    signer.mode = 'wrong-signature';
    await request(server).post('/iadvize/token').set('Authorization', 'Bearer tok-alice').expect(503);
    const failures = logger.lines.filter((l) => l.level === 'warn' || l.level === 'error');
    expect(failures.map((l) => [l.level, l.text.split(':')[0]])).toEqual([
      ['warn', 'IADVIZE_INVALID_IDENTITY'],
      ['error', 'IADVIZE_SIGNING_UNAVAILABLE'],
      ['error', 'IADVIZE_SIGNATURE_MISMATCH'],
    ]);
    expect(logger.matching('IADVIZE_UNAUTHENTICATED')).toEqual([]);
    const all = logger.all();
    expect(all).not.toMatch(/hunter2|ECONNREFUSED|leak@example|alice/);
    expectNoSecrets(all, [ok.body.token]);
    expect(seen.filter((s) => s.name === 'signer.failure').map((s) => (s.event as { code: string }).code)).toEqual([
      'IADVIZE_SIGNING_UNAVAILABLE',
      'IADVIZE_SIGNATURE_MISMATCH',
    ]);
  });
});
