/**
 * The shared machinery of the remote key providers: retries, backoff,
 * Retry-After, timeouts, the caller's deadline, error mapping, concurrency,
 * lazy SDK loading.
 */
import { generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { InvalidKeyError, MissingDependencyError, SigningUnavailableError } from '../../lib/index.js';
import {
  callWithRetry,
  importOptional,
  Limiter,
  networkErrorCode,
  parseRetryAfter,
  RemoteKeyProvider,
  resolveRetryPolicy,
  type FailureKind,
  type LoadedKey,
  type RemoteFailure,
  type RetryPolicy,
} from '../../lib/kms/remote-key.provider.js';
import { expectNoKeyMaterial, pastedPrivateKeyPem } from '../support/pasted-key.js';
import { DEFAULT_SIGNING_TIMEOUT_MS, worstCaseMs } from '../support/retry-budget.js';

const policy = (overrides: Partial<RetryPolicy> = {}): RetryPolicy => ({
  timeoutMs: 1000,
  maxAttempts: 3,
  backoffBaseMs: 5,
  backoffMaxMs: 200,
  maxConcurrency: 64,
  ...overrides,
});

class Failure extends Error {
  constructor(
    readonly kind: FailureKind,
    readonly retryAfterSeconds?: number,
  ) {
    super(kind);
  }
}
const classify = (e: unknown): RemoteFailure =>
  e instanceof Failure ? { kind: e.kind, detail: `code ${e.kind}`, retryAfterSeconds: e.retryAfterSeconds } : { kind: 'failed', detail: 'unknown' };

function failing(...outcomes: Array<FailureKind | 'ok'>) {
  let calls = 0;
  const op = async () => {
    const outcome = outcomes[Math.min(calls++, outcomes.length - 1)];
    if (outcome === 'ok') return 'done';
    throw new Failure(outcome);
  };
  return { op, calls: () => calls };
}

const ctx = (p: RetryPolicy = policy(), extra: object = {}) => ({ target: 'Test key "k1"', operation: 'Sign', policy: p, classify, ...extra });

describe('callWithRetry', () => {
  it('retries throttling and unavailability, then returns the result', async () => {
    const f = failing('throttled', 'unavailable', 'ok');
    await expect(callWithRetry(f.op, ctx())).resolves.toBe('done');
    expect(f.calls()).toBe(3);
  });

  it('stops after maxAttempts with SigningUnavailableError saying how many attempts were made', async () => {
    const f = failing('unavailable');
    const err = await callWithRetry(f.op, ctx(policy({ maxAttempts: 4 }))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SigningUnavailableError);
    expect((err as Error).message).toBe('Test key "k1": Sign is unavailable (code unavailable) after 4 attempts');
    expect(f.calls()).toBe(4);
  });

  it.each<[FailureKind, RegExp]>([
    ['denied', /was denied \(code denied\); grant it/],
    ['not-found', /found no such key/],
    ['disabled', /the key is disabled/],
    ['rejected', /rejected the request/],
  ])('never retries %s and reports it as InvalidKeyError with the hint', async (kind, message) => {
    const f = failing(kind, 'ok');
    const err = await callWithRetry(f.op, ctx(policy(), { hints: { denied: 'grant it' } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidKeyError);
    expect((err as Error).message).toMatch(message);
    expect(f.calls()).toBe(1);
  });

  it('does not retry unknown failures (SigningUnavailableError) nor errors already typed', async () => {
    const unknown = failing('failed', 'ok');
    await expect(callWithRetry(unknown.op, ctx())).rejects.toBeInstanceOf(SigningUnavailableError);
    expect(unknown.calls()).toBe(1);
    let calls = 0;
    const typed = new InvalidKeyError('already typed');
    await expect(callWithRetry(async () => (calls++, Promise.reject(typed)), ctx())).rejects.toBe(typed);
    expect(calls).toBe(1);
  });

  it('waits for a Retry-After within backoffMaxMs, and gives up at once on a longer one (passing it on)', async () => {
    let calls = 0;
    const started = Date.now();
    const result = await callWithRetry(async () => {
      if (calls++ === 0) throw new Failure('throttled', 1);
      return 'ok';
    }, ctx(policy({ backoffMaxMs: 1500 })));
    expect(result).toBe('ok');
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
    calls = 0;
    const err = await callWithRetry(async () => {
      calls++;
      throw new Failure('throttled', 9);
    }, ctx(policy({ backoffMaxMs: 1500 }))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SigningUnavailableError);
    expect((err as SigningUnavailableError).retryAfterSeconds).toBe(9);
    expect(calls).toBe(1);
  });

  it('aborts an attempt that exceeds timeoutMs (through its signal) and retries it', async () => {
    const signals: AbortSignal[] = [];
    const started = Date.now();
    const err = await callWithRetry(
      (signal) => {
        signals.push(signal);
        return new Promise(() => undefined); // never settles, like an SDK ignoring its signal
      },
      ctx(policy({ timeoutMs: 60, maxAttempts: 2, backoffBaseMs: 0 })),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SigningUnavailableError);
    expect((err as Error).message).toBe('Test key "k1": Sign timed out (no answer within 60 ms) after 2 attempts');
    expect(signals).toHaveLength(2);
    expect(signals.every((s) => s.aborted)).toBe(true);
    expect(Date.now() - started).toBeLessThan(600);
  });

  it('stops at once when the caller\'s signal aborts, during an attempt or a backoff', async () => {
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const during = await callWithRetry(
      (signal) => {
        seen = signal;
        return new Promise(() => undefined);
      },
      { ...ctx(policy({ timeoutMs: 5000 })), signal: controller.signal },
    ).catch((e: unknown) => e);
    expect(during).toBeInstanceOf(SigningUnavailableError);
    expect((during as Error).message).toMatch(/abandoned: the signing deadline passed/);
    expect(seen?.aborted).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);

    const backoff = new AbortController();
    const f = failing('throttled');
    setTimeout(() => backoff.abort(), 50);
    const err = await callWithRetry(f.op, { ...ctx(policy({ backoffBaseMs: 100_000, backoffMaxMs: 100_000 })), signal: backoff.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SigningUnavailableError);
    expect(f.calls()).toBe(1);
  });

  it('hands the caller\'s signal to beforeRetry, and ends with "deadline passed" when it aborts there', async () => {
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    const f = failing('unavailable', 'ok');
    setTimeout(() => controller.abort(new Error('request gone')), 50);
    const started = Date.now();
    const err = await callWithRetry(f.op, {
      ...ctx(policy({ backoffBaseMs: 0 })),
      signal: controller.signal,
      // e.g. waiting for a free HSM session: gives up when the signal aborts, with the signal's reason
      beforeRetry: (_failure: RemoteFailure, signal?: AbortSignal) => {
        seen = signal;
        return new Promise<void>((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
      },
    }).catch((e: unknown) => e);
    expect(seen).toBe(controller.signal);
    expect(err).toBeInstanceOf(SigningUnavailableError);
    expect((err as Error).message).toMatch(/abandoned: the signing deadline passed/);
    expect(f.calls()).toBe(1);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('helpers', () => {
  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('5')).toBe(5);
    expect(parseRetryAfter('1.2')).toBe(2);
    expect(parseRetryAfter(new Date(Date.now() + 30_000).toUTCString())).toBeGreaterThanOrEqual(29);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  it('finds network error codes in causes and messages', () => {
    expect(networkErrorCode(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe('ECONNRESET');
    expect(networkErrorCode(new TypeError('fetch failed', { cause: Object.assign(new Error('c'), { code: 'ECONNREFUSED' }) }))).toBe('ECONNREFUSED');
    expect(networkErrorCode(new Error('socket hang up'))).toBe('ECONNRESET');
    expect(networkErrorCode(new Error('EACCES: permission denied'))).toBeUndefined();
  });

  it('validates retry options, naming the provider and the option', () => {
    expect(resolveRetryPolicy({}, 'X')).toEqual({ timeoutMs: 1500, maxAttempts: 3, backoffBaseMs: 100, backoffMaxMs: 2000, maxConcurrency: 64 });
    expect(() => resolveRetryPolicy({ timeoutMs: 1.5 }, 'AWS KMS key "k"')).toThrow(/AWS KMS key "k": option "timeoutMs" must be a whole number from 10 to 120000 \(got 1.5\)/);
    expect(() => resolveRetryPolicy({ maxAttempts: 11 }, 'X')).toThrow(InvalidKeyError);
  });

  it('has defaults whose worst case (every attempt timing out, longest backoffs) fits in the default signingTimeoutMs of 5000 ms', () => {
    expect(worstCaseMs(resolveRetryPolicy({}, 'X'))).toBeLessThanOrEqual(DEFAULT_SIGNING_TIMEOUT_MS);
    expect(worstCaseMs(resolveRetryPolicy({}, 'X'))).toBe(4800);
  });

  it('never echoes a private key given as a retry option value', () => {
    const pem = pastedPrivateKeyPem();
    const oneLine = pem.replace(/-----[A-Z ]+-----|\s+/g, '');
    for (const value of [pem, oneLine]) {
      for (const name of ['timeoutMs', 'maxAttempts', 'backoffBaseMs', 'backoffMaxMs', 'maxConcurrency'] as const) {
        let message = '';
        try {
          resolveRetryPolicy({ [name]: value as unknown as number }, 'X');
        } catch (e) {
          message = (e as Error).message;
        }
        expect(message).toMatch(new RegExp(`X: option "${name}" must be a whole number .*\\(got <redacted: looks like (?:a PEM private key|base64 key material or a credential), \\d+ chars>\\)`));
        expectNoKeyMaterial(message, pem);
      }
    }
    expect(() => resolveRetryPolicy({ timeoutMs: '2000' as unknown as number }, 'X')).toThrow(/\(got "2000"\)/);
    expect(() => resolveRetryPolicy({ timeoutMs: { ms: 1 } as unknown as number }, 'X')).toThrow(/\(got a value of type object\)/);
  });

  it('turns a missing optional package into MissingDependencyError ("install X")', async () => {
    const err = await importOptional(() => import('iadvize-definitely-not-installed-sdk' as string), 'iadvize-definitely-not-installed-sdk', 'TestProvider').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingDependencyError);
    expect((err as Error).message).toBe('TestProvider needs the optional package "iadvize-definitely-not-installed-sdk". Install it: npm install iadvize-definitely-not-installed-sdk');
    const other = new Error('boom');
    await expect(importOptional(() => Promise.reject(other), 'x', 'y')).rejects.toBe(other);
  });

  it('Limiter admits at most N holders and lets an aborted waiter leave the line', async () => {
    const limiter = new Limiter(2);
    const a = await limiter.acquire();
    const b = await limiter.acquire();
    const gave = new AbortController();
    const leaving = limiter.acquire(gave.signal);
    let third = false;
    const waiting = limiter.acquire().then((release) => ((third = true), release));
    gave.abort();
    // The aborted waiter leaves with the limiter's own abort error (not exported: checked by class name).
    const reason = await leaving.then(() => undefined, (e: unknown) => e);
    expect(reason).toBeInstanceOf(Error);
    expect((reason as Error).constructor.name).toBe('CallerAborted');
    await new Promise((r) => setTimeout(r, 10));
    expect(third).toBe(false);
    a();
    const c = await waiting;
    expect(third).toBe(true);
    b();
    c();
    const d = await limiter.acquire();
    const e = await limiter.acquire();
    d();
    e();
  });
});

/** A minimal remote provider over a local key with a delay, to test the base class. */
class SlowLocalProvider extends RemoteKeyProvider {
  readonly kind = 'slow-local';
  loads = 0;
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    private readonly key: KeyObject,
    options: { maxConcurrency?: number },
  ) {
    super(options);
  }
  describe() {
    return 'slow local key';
  }
  protected async load(): Promise<LoadedKey> {
    this.loads++;
    await new Promise((r) => setTimeout(r, 20));
    return { publicKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey };
  }
  protected async signOnce(input: Uint8Array): Promise<Uint8Array> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, 5));
    this.inFlight--;
    return cryptoSign('sha256', input, this.key);
  }
  protected override classify(): RemoteFailure {
    return { kind: 'failed', detail: 'test' };
  }
}

describe('RemoteKeyProvider', () => {
  it('loads once under concurrent first calls and bounds signatures in flight by maxConcurrency', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const p = new SlowLocalProvider(privateKey, { maxConcurrency: 4 });
    await Promise.all(Array.from({ length: 40 }, (_, i) => p.sign(Buffer.from(`m${i}`))));
    expect(p.loads).toBe(1);
    expect(p.maxInFlight).toBe(4);
    await p.close();
    await expect(p.sign(Buffer.from('x'))).rejects.toThrow('slow local key: the key provider is closed');
  });
});
