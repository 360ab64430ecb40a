import { InvalidOptionsError, TokenService } from '../../lib/index.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import { type FakeIAdvize, FakeKeyProvider } from '../../lib/testing/index.js';
import { authTestBrandKey, authTestModule, authTestSetup } from '../support/auth-module.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import type { TestKeyPair } from '../support/keys.js';

let brand: TestKeyPair;
let iadvize: FakeIAdvize;
beforeAll(async () => {
  const auth = await authTestSetup();
  brand = authTestBrandKey(auth);
  iadvize = auth.iadvize;
});

async function setup(tokenCache: unknown, now = { ms: Date.now() }) {
  const signer = new FakeKeyProvider({ privateKeyPem: brand.privatePem, kind: 'counting-kms', latencyMs: 5, error: () => new Error('throttled') });
  const config = await resolveIAdvizeAuthOptions({
    issuer: 'https://brand.example', signingKey: signer, iadvizePublicKey: iadvize.publicKeyPem, tokenCache, clock: () => now.ms,
  });
  signer.calls = 0; // ignore the startup self-check
  return { service: new TokenService(config), signer, now };
}

describe('optional per-identity token cache', () => {
  it('is off by default: every call signs and mints a fresh token', async () => {
    const { service, signer } = await setup(undefined);
    const a = await service.createToken({ userId: 'u' });
    const b = await service.createToken({ userId: 'u' });
    expect(a.token).not.toBe(b.token);
    expect(signer.calls).toBe(2);
  });

  it('hands out the same token for the same identity within ttlSeconds, then mints again', async () => {
    const { service, signer, now } = await setup({ ttlSeconds: 20 });
    const a = await service.createToken({ userId: 'u', visitorData: { city: 'Nantes' } });
    now.ms += 19_000;
    const b = await service.createToken({ userId: 'u', visitorData: { city: 'Nantes' } });
    expect(b).toEqual(a);
    expect(signer.calls).toBe(1);
    // Other visitor data or another user: another token.
    const c = await service.createToken({ userId: 'u', visitorData: { city: 'Paris' } });
    const d = await service.createToken({ userId: 'v', visitorData: { city: 'Nantes' } });
    expect(new Set([a.token, c.token, d.token]).size).toBe(3);
    expect((await iadvize.open(d.token, brand.publicPem, { currentDate: new Date(now.ms) })).userId).toBe('v');
    now.ms += 1_001;
    const e = await service.createToken({ userId: 'u', visitorData: { city: 'Nantes' } });
    expect(e.token).not.toBe(a.token);
    expect(signer.calls).toBe(4);
  });

  it('coalesces concurrent requests for one identity into one signature, each user still gets their own', async () => {
    const { service, signer, now } = await setup({ ttlSeconds: 10 });
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => service.createToken({ userId: `user-${i % 4}` })));
    expect(signer.calls).toBe(4);
    for (let i = 0; i < 64; i++) {
      expect((await iadvize.open(results[i].token, brand.publicPem, { currentDate: new Date(now.ms) })).userId).toBe(`user-${i % 4}`);
    }
  });

  it('never caches failures and evicts the oldest identity past maxEntries', async () => {
    const { service, signer } = await setup({ ttlSeconds: 10, maxEntries: 2 });
    signer.failNext();
    await expect(service.createToken({ userId: 'a' })).rejects.toMatchObject({ code: 'IADVIZE_SIGNING_UNAVAILABLE' });
    const a = await service.createToken({ userId: 'a' });
    await service.createToken({ userId: 'b' });
    await service.createToken({ userId: 'c' }); // evicts a
    const a2 = await service.createToken({ userId: 'a' });
    expect(a2.token).not.toBe(a.token);
    expect(signer.calls).toBe(5);
  });

  it('reports cached hands-outs in the token.issued event', async () => {
    const { service } = await setup({ ttlSeconds: 10 });
    const seen: Array<boolean | undefined> = [];
    service.events.on('token.issued', (e) => seen.push(e.cached));
    await service.createToken({ userId: 'u' });
    await service.createToken({ userId: 'u' });
    expect(seen).toEqual([undefined, true]);
  });

  it.each([
    [{ ttlSeconds: 31 }, /tokenCache.ttlSeconds: must be a whole number of seconds from 1 to 30/],
    [{ ttlSeconds: 0 }, /tokenCache.ttlSeconds/],
    [{ ttlSeconds: 5, maxEntries: 0 }, /tokenCache.maxEntries/],
    [{ ttlSeconds: 5, size: 3 }, /tokenCache: unknown option "size"/],
    ['yes', /tokenCache: must be false or/],
  ])('refuses tokenCache %j at startup', async (tokenCache, message) => {
    const error = await setup(tokenCache).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as Error).message).toMatch(message);
  });
});

describe('one canonical identity key', () => {
  it('the same visitor data in another field order is the same identity: one signature', async () => {
    const { service, signer } = await setup({ ttlSeconds: 20 });
    const a = await service.createToken({ userId: 'u', visitorData: { city: 'Nantes', country: 'FR', email: 'u@example.com' } });
    const b = await service.createToken({ userId: 'u', visitorData: { email: 'u@example.com', country: 'FR', city: 'Nantes' } });
    expect(b.token === a.token).toBe(true); // never print a token (the suite's output check)
    expect(signer.calls).toBe(1);
  });
});

describe('the startup line names the token store in force', () => {
  it.each([
    [{ ttlSeconds: 20 }, 'token store: in-process (tokenCache: a token reused for 20 s, at most 10000 identities)'],
    [undefined, 'no token store (a fresh token per request)'],
  ])('tokenCache %j', async (tokenCache, expected) => {
    const logger = new CapturingLogger();
    const auth = await authTestSetup();
    const { moduleRef } = await authTestModule(auth, { options: tokenCache ? { tokenCache } : {}, controller: false, moduleLogger: logger });
    await moduleRef.close();
    expect(logger.matching('Signing with', 'log')).toEqual([expect.stringContaining(expected)]);
  });
});
