/**
 * Signer trust rule, over HTTP on Express and Fastify: the library trusts
 * only the signers it built itself. Any other `KeyProvider` (a custom one,
 * whatever its `inProcess` says; a subclass of a built-in provider; a
 * built-in provider whose `sign` was replaced) is held to the signing
 * deadline and its signature is verified, and whatever its `sign()` resolves
 * to that is not signature bytes is a 503, never a 500 and never a token.
 *
 * Each provider behaves correctly during the startup self-check, then
 * switches to the hostile behaviour under test.
 */
import { generateKeyPairSync, randomBytes, sign as cryptoSign } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { PemKeyProvider, type KeyProvider } from '../../lib/index.js';
import type { FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestApp, authTestSetup } from '../support/auth-module.js';
import { PLATFORMS } from '../support/platforms.js';

const PATH = '/iadvize/token';
// Short enough that the hanging case answers quickly, long enough that the startup
// self-check and good signatures never miss it on a loaded CI machine.
const SIGNING_TIMEOUT_MS = 1500;

type Behaviour = (input: Uint8Array, good: () => Promise<Uint8Array>) => unknown;

/** Everything a `sign()` may resolve to that is not signature bytes. Add a member here when one is found. */
const NOT_BYTES: Array<[string, (good: Uint8Array) => unknown]> = [
  ['a base64 string of a valid signature', (good) => Buffer.from(good).toString('base64')],
  ['an empty string', () => ''],
  ['null', () => null],
  ['undefined', () => undefined],
  ['a number', () => 42],
  ['NaN', () => NaN],
  ['a bigint', () => 42n],
  ['true', () => true],
  ['a symbol', () => Symbol('sig')],
  ['a plain object', (good) => ({ signature: good })],
  ['an object with a byteLength', (good) => ({ byteLength: good.byteLength, buffer: good.buffer })],
  ['an ArrayBuffer of a valid signature', (good) => good.buffer.slice(good.byteOffset, good.byteOffset + good.byteLength)],
  ['a DataView of a valid signature', (good) => new DataView(good.buffer, good.byteOffset, good.byteLength)],
  ['a Uint16Array', (good) => new Uint16Array(good.byteLength / 2)],
  ['an array of numbers', (good) => [...good]],
  ['a function', () => () => undefined],
];

/** Signatures with the right type that must never become a token. */
const WRONG_BYTES: Array<[string, (good: Uint8Array, input: Uint8Array) => Uint8Array]> = [
  ['random bytes of the right length', (good) => randomBytes(good.byteLength)],
  ['an empty signature', () => new Uint8Array(0)],
  ['a truncated signature', (good) => good.subarray(0, good.byteLength - 1)],
  ['a signature by another key', (_good, input) => cryptoSign('sha256', input, OTHER_KEY)],
];

const OTHER_KEY = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

/** A custom provider: signs correctly until told otherwise. */
class CustomProvider implements KeyProvider {
  readonly alg = 'RS256' as const;
  readonly kind = 'custom';
  behaviour?: Behaviour;
  constructor(
    private readonly inner: PemKeyProvider,
    readonly inProcess: boolean | undefined,
  ) {}
  init() {
    return this.inner.init();
  }
  async sign(input: Uint8Array) {
    const behaviour = this.behaviour;
    return (behaviour ? behaviour(input, () => this.inner.sign(input)) : this.inner.sign(input)) as Promise<Uint8Array>;
  }
  getPublicKey() {
    return this.inner.getPublicKey();
  }
}

/** A subclass of the built-in provider that replaces how it signs. */
class SubclassedPemProvider extends PemKeyProvider {
  behaviour?: Behaviour;
  override async sign(input: Uint8Array) {
    const behaviour = this.behaviour;
    return (behaviour ? behaviour(input, () => super.sign(input)) : super.sign(input)) as Promise<Uint8Array>;
  }
}

let setup: FakeIAdvizeSetup;
let brandPem: string;

beforeAll(async () => {
  setup = await authTestSetup();
  brandPem = setup.moduleOptions.signingKey.pem;
});

describe.each(PLATFORMS)('signers the library did not build, on %s', (_name, platform) => {
  interface Target {
    name: string;
    app: INestApplication;
    setBehaviour: (b: Behaviour | undefined) => void;
  }
  const targets: Target[] = [];

  beforeAll(async () => {
    const start = async (signingKey: KeyProvider) =>
      (
        await authTestApp(setup, platform, {
          options: { signingKey, signingTimeoutMs: SIGNING_TIMEOUT_MS },
          controller: { guards: [{ canActivate: (ctx) => ((ctx.switchToHttp().getRequest().user = { id: 'alice' }), true) }] },
        })
      ).app;
    for (const inProcess of [true, false, undefined]) {
      const provider = new CustomProvider(new PemKeyProvider({ pem: brandPem }), inProcess);
      targets.push({ name: `custom provider, inProcess: ${String(inProcess)}`, app: await start(provider), setBehaviour: (b) => (provider.behaviour = b) });
    }
    const subclassed = new SubclassedPemProvider({ pem: brandPem });
    targets.push({ name: 'subclass of PemKeyProvider', app: await start(subclassed), setBehaviour: (b) => (subclassed.behaviour = b) });
    const replaced = new PemKeyProvider({ pem: brandPem });
    const librarySign = replaced.sign.bind(replaced);
    targets.push({
      name: 'PemKeyProvider whose sign was replaced',
      app: await start(replaced),
      setBehaviour: (b) => {
        // Replaced on the instance after startup, as a monkey patch would.
        replaced.sign = b ? async (input: Uint8Array) => b(input, () => librarySign(input)) as Promise<Uint8Array> : librarySign;
      },
    });
  });
  afterAll(async () => {
    await Promise.all(targets.map((t) => t.app.close()));
  });

  async function expectRefused(target: Target, behaviour: Behaviour, code: string): Promise<void> {
    target.setBehaviour(behaviour);
    try {
      const res = await request(target.app.getHttpServer()).post(PATH);
      expect({ target: target.name, status: res.status, code: res.body.code, token: res.body.token }).toEqual({ target: target.name, status: 503, code, token: undefined });
      const retryAfter = Number(res.headers['retry-after']);
      expect(Number.isInteger(retryAfter) && retryAfter >= 1).toBe(true);
    } finally {
      target.setBehaviour(undefined);
    }
  }

  it('a well-behaved provider of every kind gets tokens (control)', async () => {
    for (const target of targets) {
      const res = await request(target.app.getHttpServer()).post(PATH).expect(200);
      expect((await setup.open(res.body.token)).userId).toBe('alice');
    }
  });

  it.each(NOT_BYTES)('sign() resolving to %s is 503 IADVIZE_SIGNING_UNAVAILABLE for every such provider', async (_what, make) => {
    for (const target of targets) {
      await expectRefused(target, async (_input, good) => make(await good()), 'IADVIZE_SIGNING_UNAVAILABLE');
    }
  });

  it.each(WRONG_BYTES)('sign() returning %s is 503 IADVIZE_SIGNATURE_MISMATCH, whatever inProcess says', async (_what, make) => {
    for (const target of targets) {
      await expectRefused(target, async (input, good) => make(await good(), input), 'IADVIZE_SIGNATURE_MISMATCH');
    }
  });

  it('a sign() that never answers is 503 IADVIZE_SIGNING_UNAVAILABLE at the deadline, whatever inProcess says', async () => {
    for (const target of targets) {
      await expectRefused(target, () => new Promise(() => undefined), 'IADVIZE_SIGNING_UNAVAILABLE');
    }
  });
});
