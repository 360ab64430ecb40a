/**
 * `Retry-After` of the token endpoint's 503 is always a whole number of
 * seconds from 1 to MAX_RETRY_AFTER_SECONDS (60), whatever the signer asks
 * for, over HTTP on Express and Fastify:
 * - a remote signer (the Vault transit stand-in, through the real provider)
 *   answering 429 with a hostile `Retry-After` header;
 * - a custom provider throwing `SigningUnavailableError` with a hostile
 *   `retryAfterSeconds`.
 */
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { SigningUnavailableError, type KeyProvider } from '../../lib/index.js';
import { MAX_RETRY_AFTER_SECONDS } from '../../lib/http/retry-after.js';
import { VaultTransitKeyProvider } from '../../lib/kms/vault-transit.js';
import { FakeKeyProvider, type FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestApp, authTestSetup } from '../support/auth-module.js';
import { PLATFORMS } from '../support/platforms.js';
import { VaultTransitStandin } from '../support/standins/vault-transit.standin.js';

const PATH = '/iadvize/token';
const TOKEN = 'hvs.standin-token-retry-after-0123';
const KEY = 'iadvize-jwt';

/** Hostile `Retry-After` header values and the bounded value each must become. */
const HEADERS: Array<[string, number]> = [
  ['9'.repeat(400), MAX_RETRY_AFTER_SECONDS], // 400 digits
  ['1' + '0'.repeat(30), MAX_RETRY_AFTER_SECONDS],
  ['86400', MAX_RETRY_AFTER_SECONDS],
  ['Thu, 01 Jan 2099 00:00:00 GMT', MAX_RETRY_AFTER_SECONDS],
  ['Thu, 01 Jan 1970 00:00:00 GMT', 1],
  ['Infinity', 1],
  ['-5', 1],
  ['NaN', 1],
  ['0', 1],
  ['0.001', 1],
  ['7', 7],
];

/** Hostile `retryAfterSeconds` of a custom provider's error, and the bounded value. */
const VALUES: Array<[string, number, number]> = [
  ['Infinity', Infinity, MAX_RETRY_AFTER_SECONDS],
  ['1e308', 1e308, MAX_RETRY_AFTER_SECONDS],
  ['Number.MAX_VALUE', Number.MAX_VALUE, MAX_RETRY_AFTER_SECONDS],
  ['-Infinity', -Infinity, 1],
  ['NaN', NaN, 1],
  ['-5', -5, 1],
  ['0', 0, 1],
  ['0.2', 0.2, 1],
  ['59.5', 59.5, MAX_RETRY_AFTER_SECONDS],
  ['12', 12, 12],
];

let setup: FakeIAdvizeSetup;
let vault: VaultTransitStandin;

beforeAll(async () => {
  setup = await authTestSetup();
  vault = await VaultTransitStandin.create(KEY, TOKEN);
});
afterAll(async () => {
  await vault.stop();
});

/** A custom provider that signs correctly until put in mode `'fail'`, then rejects with `failWith`. */
function failingProvider(failWith: () => Error): FakeKeyProvider {
  return new FakeKeyProvider({ privateKeyPem: setup.moduleOptions.signingKey.pem, kind: 'custom', error: failWith });
}

describe.each(PLATFORMS)('Retry-After is bounded on %s', (_name, platform) => {
  let vaultApp: INestApplication;
  let customApp: INestApplication;
  let custom: FakeKeyProvider;
  let failWith = new Error('unset');

  const start = async (signingKey: KeyProvider) =>
    (
      await authTestApp(setup, platform, {
        options: { signingKey },
        controller: { guards: [{ canActivate: (ctx) => ((ctx.switchToHttp().getRequest().user = { id: 'alice' }), true) }] },
      })
    ).app;

  beforeAll(async () => {
    vaultApp = await start(new VaultTransitKeyProvider({ address: vault.url, keyName: KEY, token: TOKEN, backoffBaseMs: 5, backoffMaxMs: 50, maxAttempts: 1 }));
    custom = failingProvider(() => failWith);
    customApp = await start(custom);
  });
  afterAll(async () => {
    await Promise.all([vaultApp?.close(), customApp?.close()]);
  });
  afterEach(() => {
    vault.reset();
    vault.retryAfter = '0';
    custom.mode = 'ok';
  });

  async function retryAfterOf(app: INestApplication): Promise<string> {
    const res = await request(app.getHttpServer()).post(PATH);
    expect([res.status, res.body.code]).toEqual([503, 'IADVIZE_SIGNING_UNAVAILABLE']);
    return res.headers['retry-after'] as string;
  }

  it.each(HEADERS.map(([h, e]) => [h.length > 40 ? `${h.slice(0, 12)}… (${h.length} characters)` : h, h, e] as const))('a remote signer answering 429 with Retry-After: %s', async (_label, header, expected) => {
    vault.retryAfter = header;
    vault.inject('throttle', { op: 'sign', times: Infinity });
    expect(await retryAfterOf(vaultApp)).toBe(String(expected));
  });

  it.each(VALUES)('a custom provider failing with retryAfterSeconds %s', async (_label, value, expected) => {
    failWith = new SigningUnavailableError('busy', { retryAfterSeconds: value });
    custom.mode = 'fail';
    expect(await retryAfterOf(customApp)).toBe(String(expected));
  });
});
