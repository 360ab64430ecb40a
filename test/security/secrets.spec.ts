/**
 * Nothing secret leaves the process: keys, passphrases, backend credentials,
 * tokens (and the inner JWS), user ids and visitor data (PII).
 *
 * The other security specs (hostile HTTP, faults, the options properties
 * through Nest, the soak) each capture their own log lines, console output and
 * error bodies and scan them with the same scanner. This spec adds:
 * - a self-test of the scanner (each kind of leak is caught, so a clean
 *   verdict means something);
 * - the library's life cycle under Nest's real ConsoleLogger, text and JSON
 *   formats, on both adapters, with stdout/stderr captured: startup, a token,
 *   401, 422 with PII, 503 from a signer whose error carries a credential and
 *   a PEM, 503 on timeout, shutdown; plus every event payload emitted;
 * - startups that fail on bad keys, as Nest itself reports them (message and
 *   stack), for every kind of key mistake.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConsoleLogger, Injectable, Module, type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { compactDecrypt } from 'jose';
import { IAdvizeAuthEvents, IAdvizeAuthModule, PemKeyProvider, TokenService, UserResolver, type IAdvizeAuthOptions, type IAdvizeUser, type KeyProvider } from '../../lib/index.js';
import type { FakeIAdvize, FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestBrandKey, authTestOptions, authTestSetup } from '../support/auth-module.js';
import { tempDir, type TestKeyPair } from '../support/keys.js';
import { PLATFORMS } from '../support/platforms.js';
import { captureProcessOutput, describeLeaks, LeakCorpus, scanText, SecretRegistry } from '../support/leak-scanner.js';

const ISSUER = 'https://brand.example';
const PASSPHRASE = `pass-${randomBytes(12).toString('hex')}`;
const BACKEND_CREDENTIAL = `kms-credential-${randomBytes(12).toString('hex')}`;
const USER_ID = `customer-${randomBytes(6).toString('hex')}`;
const PII = { firstName: 'Zéphyrine', lastName: 'Quatremains', email: `zephyrine.${randomBytes(4).toString('hex')}@example.com`, phoneNumber: '+33612345678' };

let setup: FakeIAdvizeSetup;
let brand: TestKeyPair;
let iadvize: FakeIAdvize;
const secrets = new SecretRegistry();

beforeAll(async () => {
  setup = await authTestSetup(ISSUER);
  brand = authTestBrandKey(setup);
  iadvize = setup.iadvize;
  secrets
    .addPrivateKey('brand', brand.privateKey)
    .addPrivateKey('iadvize', iadvize.privateKey)
    .add('passphrase', PASSPHRASE)
    .add('backend credential', BACKEND_CREDENTIAL)
    .add('user id', USER_ID)
    .add('email', PII.email)
    .add('last name', PII.lastName)
    .add('phone', PII.phoneNumber);
});

describe('the leak scanner catches every kind of leak', () => {
  it('PEM blocks, private JWK members, compact JOSE objects, issued tokens, key lines, stacks', async () => {
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const registry = new SecretRegistry().addPrivateKey('k', key.privateKey);
    const jwk = key.privateKey.export({ format: 'jwk' });
    const service = await import('../../lib/startup/resolve-options.js').then(async (m) =>
      new TokenService(await m.resolveIAdvizeAuthOptions({ issuer: ISSUER, signingKey: { pem: brand.privatePem }, iadvizePublicKey: iadvize.publicKeyPem })),
    );
    const { token } = await service.createToken({ userId: 'u' });
    const jws = new TextDecoder().decode((await compactDecrypt(token, iadvize.privateKey)).plaintext);
    registry.addToken(token, jws);
    const kinds = (text: string) => scanText('t', text, registry).map((l) => l.kind);
    expect(kinds(key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())).toEqual(expect.arrayContaining(['pem-block', 'known-secret']));
    expect(kinds(key.publicKey.export({ type: 'spki', format: 'pem' }).toString())).toEqual(['pem-block']);
    expect(kinds(JSON.stringify({ kty: 'RSA', d: 'abc' }))).toEqual(['private-jwk-member']);
    expect(kinds(`{ kty: 'RSA', qi: 'abc' }`)).toEqual(['private-jwk-member']);
    expect(kinds(`key ${JSON.stringify(jwk)}`)).toEqual(expect.arrayContaining(['private-jwk-member', 'known-secret']));
    expect(kinds(`token=${token}`)).toEqual(expect.arrayContaining(['jose-compact-token', 'known-secret']));
    expect(kinds(`inner ${jws}`)).toEqual(expect.arrayContaining(['jose-compact-token', 'known-secret']));
    expect(kinds(`sig ${jws.split('.')[2]}`)).toEqual(['known-secret']);
    // One PEM line, re-wrapped: still caught by the line registry.
    const line = key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().split('\n')[5];
    expect(kinds(`...${line}...`)).toEqual(['known-secret']);
    expect(kinds(new Error('x').stack ?? '')).toEqual(['stack-trace']);
    expect(scanText('t', new Error('x').stack ?? '', undefined, { allowStack: true })).toEqual([]);
    expect(kinds('Signing with pem key (thumbprint QspNamaz04P1Fh1DKF1IUvMLLiYJHmQhECR3ue0eJGU); token lifetime 60s')).toEqual([]);
  });
});

/** `Bearer ok|bad|fail|hang` → the scenario; the user id is a secret (PII). */
@Injectable()
class ScenarioGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: unknown }>();
    const scenario = /^Bearer (ok|bad|fail|hang)$/.exec(req.headers.authorization ?? '')?.[1];
    if (scenario) req.user = { scenario };
    return true;
  }
}

@Injectable()
class ScenarioResolver extends UserResolver {
  resolve(context: ExecutionContext): IAdvizeUser | null {
    const user = context.switchToHttp().getRequest<{ user?: { scenario: string } }>().user;
    if (!user) return null;
    if (user.scenario === 'bad') return { userId: USER_ID.repeat(30), visitorData: { ...PII, shoeSize: '42' } } as never;
    return { userId: USER_ID, visitorData: PII };
  }
}

/** A remote signer whose failures carry a credential and key material in their message and cause. */
class LeakySigner implements KeyProvider {
  readonly alg = 'RS256' as const;
  readonly kind = 'leaky-kms';
  constructor(private readonly inner: PemKeyProvider) {}
  init() {
    return this.inner.init();
  }
  getPublicKey() {
    return this.inner.getPublicKey();
  }
  async sign(input: Uint8Array): Promise<Uint8Array> {
    const scenario = (globalThis as { __scenario?: string }).__scenario;
    if (scenario === 'fail') {
      throw new Error(`AccessDenied for credential ${BACKEND_CREDENTIAL}`, { cause: new Error(`key was ${brand.privatePem}`) });
    }
    if (scenario === 'hang') return new Promise(() => undefined);
    return this.inner.sign(input);
  }
}

describe.each(PLATFORMS)('under Nest’s real ConsoleLogger on %s', (name, platform) => {
  it.each([['text'], ['json']])('%s logs, error bodies and console output of a whole life cycle hold nothing secret', async (format) => {
    const corpus = new LeakCorpus();
    const restore = captureProcessOutput(corpus);
    const logger = new ConsoleLogger({ json: format === 'json', logLevels: ['log', 'error', 'warn', 'debug', 'verbose', 'fatal'] });
    let app: INestApplication | undefined;
    const g = globalThis as { __scenario?: string };
    try {
      // Hand-written on purpose: Nest's own NestFactory start-up under its real ConsoleLogger is what this test checks.
      @Module({
        imports: [
          IAdvizeAuthModule.forRoot(
            authTestOptions(setup, {
              options: { signingKey: new LeakySigner(new PemKeyProvider({ pem: brand.privatePem })), signingTimeoutMs: 200 },
              userResolver: ScenarioResolver,
              controller: { guards: [ScenarioGuard] },
            }),
          ),
        ],
      })
      class AppModule {}
      app = await NestFactory.create(AppModule, platform(), { logger });
      const events = app.get(IAdvizeAuthEvents);
      for (const event of ['token.issued', 'token.refused', 'signer.failure', 'health.checked'] as const) {
        events.on(event, (payload) => corpus.record(`event ${event}`, payload));
      }
      await app.listen(0, '127.0.0.1');
      const base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
      const hit = async (scenario: string) => {
        g.__scenario = scenario;
        const res = await fetch(`${base}/iadvize/token`, { method: 'POST', headers: scenario === 'anon' ? {} : { authorization: `Bearer ${scenario}` } });
        const body = await res.text();
        return { status: res.status, body, headers: JSON.stringify([...res.headers]) };
      };
      const ok = await hit('ok');
      expect(ok.status).toBe(200);
      const { token } = JSON.parse(ok.body) as { token: string };
      expect((await iadvize.open(token, brand.publicPem)).visitorData).toEqual(PII);
      secrets.addToken(token, new TextDecoder().decode((await compactDecrypt(token, iadvize.privateKey)).plaintext));
      const outcomes = { anon: await hit('anon'), bad: await hit('bad'), fail: await hit('fail'), hang: await hit('hang') };
      expect(Object.fromEntries(Object.entries(outcomes).map(([k, v]) => [k, v.status]))).toEqual({ anon: 401, bad: 422, fail: 503, hang: 503 });
      for (const [k, v] of Object.entries(outcomes)) corpus.record(`${name} ${format} ${k} response`, `${v.status} ${v.headers} ${v.body}`);
      corpus.record(`${name} ${format} ok response headers`, ok.headers);
    } finally {
      g.__scenario = undefined;
      await app?.close();
      restore();
    }
    // The life cycle did log (startup, 422 warning, 503 errors) …
    const output = corpus.entries.filter((e) => e.label.startsWith('process.')).map((e) => e.text).join('');
    expect(output).toMatch(/IAdvizeAuthModule/);
    expect(output).toMatch(/IADVIZE_INVALID_IDENTITY/);
    expect(output).toMatch(/IADVIZE_SIGNING_UNAVAILABLE/);
    // Event payloads (for metrics and audit) were captured too.
    expect(corpus.entries.filter((e) => e.label.startsWith('event ')).map((e) => e.label).sort()).toEqual(
      ['event signer.failure', 'event signer.failure', 'event token.issued', 'event token.refused', 'event token.refused'],
    );
    // … and nothing secret: no key, passphrase, credential, token, user id or visitor data.
    corpus.assertClean(secrets);
  });
});

describe('startups that fail on bad keys, as Nest reports them', () => {
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let dir: string;
  let cleanup: () => void;
  beforeAll(() => {
    ({ dir, cleanup } = tempDir());
    secrets.addPrivateKey('rsa-1024', small.privateKey);
    for (const line of ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().split('\n').filter((l) => l.length >= 32 && !l.startsWith('-----'))) {
      secrets.add('ec key line', line, 32);
    }
  });
  afterAll(() => {
    cleanup?.();
    delete process.env.IADVIZE_SECRETS_SPEC_KEY;
  });

  const encrypted = () => brand.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: PASSPHRASE }).toString();
  const cases: Array<[string, () => Partial<IAdvizeAuthOptions>]> = [
    ['encrypted key, wrong passphrase', () => ({ signingKey: { pem: encrypted(), passphrase: `${PASSPHRASE}x` } })],
    ['encrypted key, no passphrase', () => ({ signingKey: { pem: encrypted() } })],
    ['encrypted key in a variable, passphrase from an unset variable', () => {
      process.env.IADVIZE_SECRETS_SPEC_KEY = encrypted();
      return { signingKey: { env: 'IADVIZE_SECRETS_SPEC_KEY', passphraseEnv: 'IADVIZE_SECRETS_SPEC_UNSET' } };
    }],
    ['encrypted key file, wrong passphrase', () => {
      const file = join(dir, 'enc.pem');
      writeFileSync(file, encrypted());
      return { signingKey: { file, passphrase: 'not it' } };
    }],
    ['a 1024-bit key', () => ({ signingKey: { pem: small.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() } })],
    ['an EC key', () => ({ signingKey: { pem: ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() } })],
    ['a PEM with a line missing', () => ({ signingKey: { pem: brand.privatePem.split('\n').filter((_, i) => i !== 5).join('\n') } })],
    ['a truncated PEM with literal \\n', () => ({ signingKey: { pem: brand.privatePem.slice(0, 900).replace(/\n/g, '\\n') } })],
    ['a private JWK with a damaged member', () => ({ signingKey: { jwk: { ...brand.privateKey.export({ format: 'jwk' }), n: 'AQAB' } } })],
    ['a public key as the signing key', () => ({ signingKey: { pem: brand.publicPem } })],
    ['a private key as iAdvize’s key', () => ({ signingKey: { pem: brand.privatePem }, iadvizePublicKey: brand.privatePem })],
    ['the signing key as iAdvize’s key', () => ({ signingKey: { pem: brand.privatePem }, iadvizePublicKey: brand.publicPem })],
    ['a key file holding garbage', () => {
      const file = join(dir, 'garbage.pem');
      const dashes = '-'.repeat(5); // no PEM header literal in the repo
      writeFileSync(file, `${dashes}BEGIN PRIVATE KEY${dashes}\n${randomBytes(300).toString('base64')}\n${dashes}END PRIVATE KEY${dashes}\n`);
      return { signingKey: { file } };
    }],
    ['a signer whose startup fails with a credential in its error', () => ({
      signingKey: { alg: 'RS256', kind: 'kms', init: async () => { throw new Error(`denied: ${BACKEND_CREDENTIAL}`); }, sign: async () => new Uint8Array(), getPublicKey: async () => brand.publicKey } as KeyProvider,
    })],
  ];

  async function crashReport(options: Partial<IAdvizeAuthOptions>): Promise<{ error: unknown; corpus: LeakCorpus }> {
    const corpus = new LeakCorpus();
    const restore = captureProcessOutput(corpus);
    let error: unknown;
    try {
      // Hand-written on purpose: Nest's own crash report of a failed NestFactory start-up is what these tests check.
      @Module({ imports: [IAdvizeAuthModule.forRoot(authTestOptions(setup, { options }))] })
      class BrokenModule {}
      const app = await NestFactory.create(BrokenModule, { logger: new ConsoleLogger(), abortOnError: false });
      await app.close();
    } catch (e) {
      error = e;
    } finally {
      restore();
    }
    return { error, corpus };
  }

  // The key pasted where its path or variable name belongs must not be quoted in the
  // message, which Nest prints on stderr.
  it('the PEM itself given as `file` or `env` does not reach Nest’s crash report', async () => {
    for (const signingKey of [{ file: brand.privatePem }, { env: brand.privatePem }]) {
      const { corpus } = await crashReport({ signingKey });
      expect(describeLeaks(corpus.scan(secrets, (label) => label.startsWith('process.')))).toBe('');
    }
  });

  it.each(cases)('%s: the error and Nest’s crash report hold no secret', async (_name, options) => {
    const { error, corpus } = await crashReport(options());
    expect((error as Error)?.name).toBe('InvalidOptionsError');
    corpus.record('error.message', (error as Error).message);
    const printed = corpus.entries.filter((e) => e.label.startsWith('process.')).map((e) => e.text).join('');
    expect(printed).toContain('Invalid IAdvizeAuthModule options');
    // Nest prints the failed startup with its stack: frames are allowed there, secrets are not.
    expect(describeLeaks(corpus.scan(secrets, (label) => label.startsWith('process.')))).toBe('');
  });
});
