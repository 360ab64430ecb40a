import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EnvKeyProvider,
  FileKeyProvider,
  InvalidKeyError,
  PemKeyProvider,
  TokenService,
  type KeyProvider,
  type SigningKeyOption,
} from '../../lib/index.js';
import { loadPublicKeyInput } from '../../lib/keys/public-key-input.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import type { FakeIAdvize } from '../../lib/testing/index.js';
import { authTestBrandKey, authTestSetup } from '../support/auth-module.js';
import { expectNoSecrets, tempDir, type TestKeyPair } from '../support/keys.js';

const ISSUER = 'https://brand.example';
let brand: TestKeyPair;
let iadvize: FakeIAdvize;
const tmp = tempDir();
const envNames: string[] = [];

function setEnv(name: string, value: string): string {
  process.env[name] = value;
  envNames.push(name);
  return name;
}

beforeAll(async () => {
  const setup = await authTestSetup();
  brand = authTestBrandKey(setup);
  iadvize = setup.iadvize;
});
afterAll(() => {
  tmp.cleanup();
  for (const n of envNames) delete process.env[n];
});

async function roundTrip(signingKey: SigningKeyOption, visitorData?: Record<string, string>) {
  const config = await resolveIAdvizeAuthOptions({ issuer: ISSUER, signingKey, iadvizePublicKey: iadvize.publicKeyPem });
  const { token } = await new TokenService(config).createToken({ userId: 'kp-user', ...(visitorData ? { visitorData } : {}) });
  const opened = await iadvize.open(token, brand.publicPem, { issuer: ISSUER });
  expect(opened.userId).toBe('kp-user');
  expect(opened.visitorData).toEqual(visitorData);
  return config;
}

describe('built-in key providers: every accepted form round-trips through FakeIAdvize', () => {
  const forms: Array<[string, () => SigningKeyOption]> = [
    ['inline PKCS#8 PEM', () => ({ pem: brand.privatePem })],
    ['inline PKCS#1 PEM', () => ({ pem: brand.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString() })],
    ['inline encrypted PKCS#8 PEM', () => ({ pem: brand.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 's3cret' }).toString(), passphrase: 's3cret' })],
    ['inline private JWK', () => ({ jwk: brand.privateKey.export({ format: 'jwk' }) })],
    ['PemKeyProvider instance', () => new PemKeyProvider({ pem: brand.privatePem })],
    ['PKCS#8 file', () => { const f = join(tmp.dir, 'p8.pem'); writeFileSync(f, brand.privatePem); return { file: f }; }],
    ['PKCS#1 file', () => { const f = join(tmp.dir, 'p1.pem'); writeFileSync(f, brand.privateKey.export({ type: 'pkcs1', format: 'pem' })); return { file: f }; }],
    ['DER file', () => { const f = join(tmp.dir, 'k.der'); writeFileSync(f, brand.privateKey.export({ type: 'pkcs8', format: 'der' })); return { file: f }; }],
    ['encrypted file', () => { const f = join(tmp.dir, 'enc.pem'); writeFileSync(f, brand.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })); return new FileKeyProvider({ file: f, passphrase: 'pw' }); }],
    ['env PEM with real newlines', () => ({ env: setEnv('IADVIZE_T_REAL', brand.privatePem) })],
    ['env PEM with literal \\n', () => ({ env: setEnv('IADVIZE_T_ESCAPED', brand.privatePem.trim().replace(/\n/g, '\\n')) })],
    ['env PEM in double quotes with literal \\n', () => ({ env: setEnv('IADVIZE_T_QUOTED', `"${brand.privatePem.trim().replace(/\n/g, '\\n')}"`) })],
    ['env base64 of PEM', () => ({ env: setEnv('IADVIZE_T_B64PEM', Buffer.from(brand.privatePem).toString('base64')) })],
    ['env base64 of PKCS#8 DER', () => ({ env: setEnv('IADVIZE_T_B64DER', brand.privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64')) })],
    ['env base64 of PKCS#1 DER', () => ({ env: setEnv('IADVIZE_T_B64DER1', brand.privateKey.export({ type: 'pkcs1', format: 'der' }).toString('base64')) })],
    ['env encrypted PEM with passphraseEnv', () => new EnvKeyProvider({
      env: setEnv('IADVIZE_T_ENC', brand.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'from-env' }).toString()),
      passphraseEnv: setEnv('IADVIZE_T_PASS', 'from-env'),
    })],
  ];
  it.each(forms)('%s', async (_name, make) => {
    await roundTrip(make());
    await roundTrip(make(), { firstName: 'Zoë', city: 'Nantes' });
  });

  it('local providers are in-process and sign off the main thread: the event loop keeps turning while 32 signatures are made', async () => {
    const provider = new PemKeyProvider({ pem: brand.privatePem });
    await provider.init();
    expect(provider.inProcess).toBe(true);
    let turns = 0;
    let signing = true;
    const spin = () => {
      if (!signing) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    const sigs = await Promise.all(Array.from({ length: 32 }, (_, i) => provider.sign(Buffer.from(`input-${i}`))));
    signing = false;
    // Signing on the main thread would finish all 32 before the first setImmediate callback runs.
    expect(turns).toBeGreaterThan(0);
    expect(new Set(sigs.map((s) => Buffer.from(s).toString('hex'))).size).toBe(32);
    sigs.forEach((s) => expect(s).toHaveLength(256));
  });
});

describe('key source errors name the source, never the key', () => {
  const cases: Array<[string, () => KeyProvider, RegExp]> = [
    ['garbage text', () => new PemKeyProvider({ pem: 'not a key at all!' }), /inline pem is neither PEM, base64 nor a JWK/],
    ['truncated PEM', () => new PemKeyProvider({ pem: brand.privatePem.slice(0, 200) + '\n-----END PRIVATE KEY-----' }), /inline pem is not a readable PEM private key/],
    ['empty env', () => new EnvKeyProvider({ env: setEnv('IADVIZE_T_EMPTY', '  ') }), /environment variable "IADVIZE_T_EMPTY" is not set/],
    ['directory as file', () => new FileKeyProvider({ file: tmp.dir }), /is a directory, not a key file/],
    ['public JWK', () => new PemKeyProvider({ jwk: brand.publicKey.export({ format: 'jwk' }) }), /inline jwk is a public JWK; a private key is needed here/],
    ['base64 of a public DER', () => new PemKeyProvider({ pem: brand.publicKey.export({ type: 'spki', format: 'der' }).toString('base64') }), /holds a public key; a private key is needed here/],
    ['random base64', () => new PemKeyProvider({ pem: Buffer.from('hello world, no key here').toString('base64') }), /base64 but not of a PEM or DER key/],
    ['passphrase env unset', () => new EnvKeyProvider({ env: setEnv('IADVIZE_T_X', brand.privatePem), passphraseEnv: 'IADVIZE_T_NO_PASS' }), /"IADVIZE_T_NO_PASS" \(passphrase\) is not set/],
  ];
  it.each(cases)('%s', async (_name, make, message) => {
    const error = await make().init!().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidKeyError);
    expect((error as Error).message).toMatch(message);
    expectNoSecrets((error as Error).message);
    expect((error as Error).message).not.toContain(brand.privatePem.split('\n')[1]);
  });
});

describe('public key inputs', () => {
  it('accepts PEM, the bare base64 SPKI body iAdvize publishes, { file }, { env }, { jwk } and KeyObject; all equal', () => {
    const f = join(tmp.dir, 'pub.pem');
    writeFileSync(f, brand.publicPem);
    const inputs = [
      brand.publicPem,
      brand.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
      brand.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
      { pem: brand.publicPem },
      { file: f },
      { env: setEnv('IADVIZE_T_PUB', brand.publicPem.replace(/\n/g, '\\n')) },
      { jwk: brand.publicKey.export({ format: 'jwk' }) },
      brand.publicKey,
    ];
    const ns = inputs.map((i) => loadPublicKeyInput(i, 'iadvizePublicKey').export({ format: 'jwk' }).n);
    expect(new Set(ns).size).toBe(1);
  });

  it('refuses ambiguous objects and private KeyObjects', () => {
    expect(() => loadPublicKeyInput({ pem: 'x', file: 'y' } as never, 'iadvizePublicKey')).toThrow(/exactly one of "pem", "file", "env", "jwk"/);
    expect(() => loadPublicKeyInput(brand.privateKey, 'iadvizePublicKey')).toThrow(/is a private KeyObject; a public key is needed/);
    expect(() => loadPublicKeyInput({ jwk: brand.privateKey.export({ format: 'jwk' }) }, 'iadvizePublicKey')).toThrow(/holds a private key/);
  });
});
