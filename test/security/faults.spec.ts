/**
 * Faults of the signing backend, seen through the HTTP endpoint:
 * - a signer slower than `signingTimeoutMs`: 503 + Retry-After at the
 *   deadline, the provider's AbortSignal fires, no late token;
 * - throttling: 503 with the backend's Retry-After;
 * - a signer that dies mid-run (black hole, then connection refused) and
 *   comes back: requests in flight get 503s, none outlives the deadline, and
 *   the service recovers by itself — with a KeyProvider stand-in on both
 *   adapters, and with the real Vault Transit provider over HTTP against its
 *   loopback stand-in, killed and restarted at the same address.
 * Every log line and every error body is scanned for secrets at the end.
 */
import type { AddressInfo } from 'node:net';
import { Injectable, type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { compactDecrypt } from 'jose';
import { PemKeyProvider, SigningUnavailableError, type KeyProvider, type SignOptions } from '../../lib/index.js';
import { VaultTransitKeyProvider } from '../../lib/kms/vault-transit.js';
import type { FakeIAdvize, FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestBrandKey, authTestModule, authTestSetup } from '../support/auth-module.js';
import type { TestKeyPair } from '../support/keys.js';
import { PLATFORMS, type PlatformFactory } from '../support/platforms.js';
import { VaultTransitStandin } from '../support/standins/vault-transit.standin.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { captureProcessOutput, LeakCorpus, SecretRegistry } from '../support/leak-scanner.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const ISSUER = 'https://brand.example';
const PATH = '/iadvize/token';
/** Extra time a request may take beyond the signing deadline (HTTP, JSON, a busy 2-core CI box). */
const MARGIN_MS = 1200;
const BACKEND_SECRET = 'kms-session-token-5f1e2d3c4b5a69788796a5b4';
const VAULT_TOKEN = 'hvs.faults-standin-token-0a9b8c7d6e5f4a3b';

/** `Authorization: Bearer u<n>` → user `user-<n>`; the only source of user ids. */
@Injectable()
class BearerGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: unknown }>();
    const m = /^Bearer u(\d{1,6})$/.exec(req.headers.authorization ?? '');
    if (m) req.user = { id: `user-${m[1]}` };
    return true;
  }
}

type Mode = 'ok' | 'slow' | 'throttled' | 'refused' | 'blackhole';

/**
 * A remote-signer stand-in driven by the test: answers, answers late (and
 * ignores the abort, the worst case), throttles, refuses connections, or
 * swallows requests; `die()` also resets the calls in flight.
 */
class ScriptedSigner implements KeyProvider {
  readonly alg = 'RS256' as const;
  readonly kind = 'scripted-kms';
  readonly inProcess = false;
  mode: Mode = 'ok';
  slowMs = 1500;
  aborted = 0;
  calls = 0;
  private readonly pending = new Set<(e: Error) => void>();
  private readonly late = new Set<Promise<unknown>>();

  constructor(private readonly inner: PemKeyProvider) {}

  init() {
    return this.inner.init();
  }

  getPublicKey() {
    return this.inner.getPublicKey();
  }

  async sign(input: Uint8Array, options: SignOptions = {}): Promise<Uint8Array> {
    this.calls++;
    options.signal?.addEventListener('abort', () => this.aborted++, { once: true });
    switch (this.mode) {
      case 'ok':
        return this.inner.sign(input);
      case 'slow': {
        const late = new Promise((r) => setTimeout(r, this.slowMs)).then(() => this.inner.sign(input));
        this.late.add(late);
        void late.finally(() => this.late.delete(late));
        return late;
      }
      case 'throttled':
        throw new SigningUnavailableError('scripted-kms: Sign was throttled (ThrottlingException)', { retryAfterSeconds: 7 });
      case 'refused':
        throw Object.assign(new Error(`connect ECONNREFUSED 10.0.0.7:443 (session ${BACKEND_SECRET})`), { code: 'ECONNREFUSED' });
      case 'blackhole':
        return new Promise<Uint8Array>((_, reject) => {
          this.pending.add(reject);
        });
    }
  }

  /** The backend crashes: calls in flight are reset, new ones are refused. */
  die(): void {
    for (const reject of this.pending) reject(Object.assign(new Error(`read ECONNRESET (session ${BACKEND_SECRET})`), { code: 'ECONNRESET' }));
    this.pending.clear();
    this.mode = 'refused';
  }

  /** Waits for the late (slow) signatures to settle. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.late]);
  }
}

interface Outcome {
  user: string;
  status: number;
  ms: number;
  startedAt: number;
  retryAfter: string | null;
  body: string;
}

let setup: FakeIAdvizeSetup;
let brand: TestKeyPair;
let iadvize: FakeIAdvize;
const corpus = new LeakCorpus();
const secrets = new SecretRegistry();
let restoreOutput: () => void;
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);

beforeAll(async () => {
  setup = await authTestSetup(ISSUER);
  brand = authTestBrandKey(setup);
  iadvize = setup.iadvize;
  secrets
    .addPrivateKey('brand', brand.privateKey)
    .addPrivateKey('iadvize', iadvize.privateKey)
    .add('backend session', BACKEND_SECRET)
    .add('Vault token', VAULT_TOKEN);
  restoreOutput = captureProcessOutput(corpus);
  process.on('unhandledRejection', onUnhandled);
});

afterAll(() => {
  restoreOutput?.();
  process.off('unhandledRejection', onUnhandled);
});

async function startApp(signingKey: KeyProvider, signingTimeoutMs: number, platform: PlatformFactory, label: string): Promise<{ app: INestApplication; url: string }> {
  const logger = new CapturingLogger(corpus, `log(${label})`);
  const { moduleRef } = await authTestModule(setup, { options: { signingKey, signingTimeoutMs }, controller: { guards: [BearerGuard] }, moduleLogger: logger });
  const app = moduleRef.createNestApplication(platform(), { logger });
  await app.listen(0, '127.0.0.1');
  return { app, url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}${PATH}` };
}

async function call(url: string, n: number): Promise<Outcome> {
  const startedAt = Date.now();
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer u${n}` }, signal: AbortSignal.timeout(15_000) });
  const body = await res.text();
  return { user: `user-${n}`, status: res.status, ms: Date.now() - startedAt, startedAt, retryAfter: res.headers.get('retry-after'), body };
}

/** Runs `workers` request loops until `until()` says stop; each worker is one user. */
async function load(url: string, workers: number, stopAt: number): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (Date.now() < stopAt) outcomes.push(await call(url, w));
    }),
  );
  return outcomes;
}

/** Checks one outcome: 200 with a token for the caller, or 503 + Retry-After; within the deadline. */
async function check(o: Outcome, deadlineMs: number, publicKey: TestKeyPair['publicKey'], label: string): Promise<void> {
  expect({ label, status: [200, 503].includes(o.status) ? 'ok' : o.status }).toEqual({ label, status: 'ok' });
  expect(o.ms).toBeLessThan(deadlineMs + MARGIN_MS);
  if (o.status === 200) {
    const { token } = JSON.parse(o.body) as { token: string };
    expect((await iadvize.open(token, publicKey, { issuer: ISSUER })).userId).toBe(o.user);
    const { plaintext } = await compactDecrypt(token, iadvize.privateKey);
    secrets.addToken(token, new TextDecoder().decode(plaintext));
  } else {
    expect(Number(o.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(o.body)).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'Token signing is temporarily unavailable; retry later',
      code: expect.stringMatching(/^IADVIZE_(SIGNING_UNAVAILABLE|SIGNATURE_MISMATCH)$/),
    });
    corpus.record(`${label} 503 body`, o.body);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(PLATFORMS)('signer faults through the endpoint on %s', (name, platform) => {
  const DEADLINE = 500;
  let signer: ScriptedSigner;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    signer = new ScriptedSigner(new PemKeyProvider({ pem: brand.privatePem }));
    ({ app, url } = await startApp(signer, DEADLINE, platform, name));
  });
  afterAll(async () => {
    await signer.settle();
    await app?.close();
  });
  afterEach(() => {
    signer.mode = 'ok';
  });

  it('a signer slower than signingTimeoutMs: 503 + Retry-After at the deadline, its signal aborted, no late token', async () => {
    signer.mode = 'slow';
    const abortedBefore = signer.aborted;
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => call(url, i)));
    for (const o of outcomes) {
      expect(o.status).toBe(503);
      expect(o.ms).toBeGreaterThanOrEqual(DEADLINE - 50);
      await check(o, DEADLINE, brand.publicKey, `${name} slow`);
    }
    expect(signer.aborted - abortedBefore).toBe(8);
    // The late signatures complete afterwards and go nowhere (no crash, no unhandled rejection).
    await signer.settle();
    signer.mode = 'ok';
    await check(await call(url, 1), DEADLINE, brand.publicKey, `${name} after slow`);
    expect(unhandled).toEqual([]);
  });

  it('throttling: 503 with the backend’s Retry-After', async () => {
    signer.mode = 'throttled';
    const o = await call(url, 3);
    expect(o.status).toBe(503);
    expect(o.retryAfter).toBe('7');
    await check(o, DEADLINE, brand.publicKey, `${name} throttled`);
  });

  it('a signer that dies mid-run and comes back: 503s while down, none past the deadline, recovery without restart', async () => {
    const t0 = Date.now();
    let holeAt = Infinity;
    let upAt = Infinity;
    const timeline = (async () => {
      await sleep(500);
      holeAt = Date.now();
      signer.mode = 'blackhole'; // requests vanish: only the deadline ends them
      await sleep(700);
      signer.die(); // the crash resets what was in flight, then refuses
      await sleep(500);
      signer.mode = 'ok'; // back
      upAt = Date.now();
    })();
    const outcomes = await load(url, 12, t0 + 2600);
    await timeline;
    for (const o of outcomes) await check(o, DEADLINE, brand.publicKey, `${name} outage`);
    const statuses = (from: number, to: number) => outcomes.filter((o) => o.startedAt >= from && o.startedAt < to).map((o) => o.status);
    expect(statuses(t0, holeAt)).toContain(200);
    // Requests that started and ended while the signer was down got 503s (not hangs, not 500s).
    const down = outcomes.filter((o) => o.startedAt >= holeAt + 20 && o.startedAt + o.ms <= upAt).map((o) => o.status);
    expect(down.length).toBeGreaterThan(0);
    expect(down.every((s) => s === 503)).toBe(true);
    // Everything started after the signer came back succeeds.
    const after = statuses(upAt + 20, Infinity);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((s) => s === 200)).toBe(true);
    // A fresh burst, no restart in between.
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => call(url, 100 + i)));
    for (const o of burst) {
      expect(o.status).toBe(200);
      await check(o, DEADLINE, brand.publicKey, `${name} after outage`);
    }
    expect(unhandled).toEqual([]);
  });
});

describe('Vault Transit over HTTP: the backend is throttled, sealed, hangs, is killed and restarted', () => {
  const KEY = 'iadvize-jwt';
  const DEADLINE = 1000;
  let vault: VaultTransitStandin;
  let proxy: TcpProxy;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    vault = await VaultTransitStandin.create(KEY, VAULT_TOKEN);
    proxy = await new TcpProxy(vault.port).start();
    const provider = new VaultTransitKeyProvider({
      address: proxy.url,
      keyName: KEY,
      token: VAULT_TOKEN,
      timeoutMs: 300,
      maxAttempts: 3,
      backoffBaseMs: 20,
      backoffMaxMs: 2000,
      maxConcurrency: 4,
    });
    ({ app, url } = await startApp(provider, DEADLINE, PLATFORMS[1][1], 'vault'));
  });
  afterAll(async () => {
    await app?.close();
    await proxy?.kill();
    await vault?.stop();
  });
  afterEach(() => {
    vault.reset();
    vault.retryAfter = '0';
  });

  it('throttled with Retry-After longer than the backoff: 503 carrying the backend’s Retry-After', async () => {
    vault.retryAfter = '5';
    vault.inject('throttle', { op: 'sign', times: Infinity });
    const o = await call(url, 1);
    expect(o.status).toBe(503);
    expect(o.retryAfter).toBe('5');
    await check(o, DEADLINE, vault.key.publicKey, 'vault throttled');
  });

  it('sealed (503 from Vault): retried, then 503 to the client within the deadline', async () => {
    vault.inject('unavailable', { op: 'sign', times: Infinity });
    const before = vault.requestsOf('sign').length;
    const o = await call(url, 2);
    expect(o.status).toBe(503);
    expect(vault.requestsOf('sign').length - before).toBe(3);
    await check(o, DEADLINE, vault.key.publicKey, 'vault sealed');
  });

  it('hanging: every request answered 503 by the deadline, the HTTP calls to Vault aborted, queued ones too', async () => {
    vault.inject('hang', { op: 'sign', times: Infinity });
    const before = vault.requestsOf('sign').length;
    // 10 requests against maxConcurrency 4: six wait in line and must give up at the deadline too.
    const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => call(url, 10 + i)));
    for (const o of outcomes) {
      expect(o.status).toBe(503);
      await check(o, DEADLINE, vault.key.publicKey, 'vault hang');
    }
    await sleep(100);
    const hung = vault.requestsOf('sign').slice(before);
    expect(hung.length).toBeGreaterThan(0);
    expect(hung.every((r) => r.fault !== 'hang' || r.abortedByClient)).toBe(true);
  });

  it('killed mid-run and restarted at the same address: 503s while down, then tokens again without an app restart', async () => {
    const t0 = Date.now();
    let downAt = 0;
    let upAt = 0;
    const timeline = (async () => {
      await sleep(500);
      downAt = Date.now();
      await proxy.kill();
      await vault.stop();
      await sleep(1200);
      await vault.start(); // same keys, new port behind the same address
      proxy.targetPort = vault.port;
      await proxy.start();
      upAt = Date.now();
    })();
    const outcomes = await load(url, 8, t0 + 3200);
    await timeline;
    for (const o of outcomes) await check(o, DEADLINE, vault.key.publicKey, 'vault outage');
    const started = (from: number, to: number) => outcomes.filter((o) => o.startedAt >= from && o.startedAt < to);
    expect(started(t0, downAt).some((o) => o.status === 200)).toBe(true);
    const down = outcomes.filter((o) => o.startedAt >= downAt + 20 && o.startedAt + o.ms <= upAt);
    expect(down.length).toBeGreaterThan(0);
    expect(down.every((o) => o.status === 503)).toBe(true);
    // Requests started well after the restart succeed (allow one retry/backoff round for stale connections).
    const after = started(upAt + DEADLINE, Infinity);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((o) => o.status === 200)).toBe(true);
    const burst = await Promise.all(Array.from({ length: 12 }, (_, i) => call(url, 200 + i)));
    for (const o of burst) {
      expect(o.status).toBe(200);
      await check(o, DEADLINE, vault.key.publicKey, 'vault after restart');
    }
    expect(unhandled).toEqual([]);
  });
});

describe('secrets across every fault scenario', () => {
  it('no log line, console output or error body holds a key, a backend credential, a token or a stack', () => {
    restoreOutput();
    expect(corpus.entries.some((e) => e.label.startsWith('log('))).toBe(true);
    expect(corpus.entries.filter((e) => e.label.endsWith('503 body')).length).toBeGreaterThan(10);
    corpus.assertClean(secrets);
  });
});
