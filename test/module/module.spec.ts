import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Injectable, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import {
  IAdvizeAuthModule,
  InvalidOptionsError,
  TokenService,
  type IAdvizeAuthOptions,
  type KeyProvider,
} from '../../lib/index.js';
import { IADVIZE_AUTH_CONFIG } from '../../lib/iadvize.constants.js';
import type { ResolvedIAdvizeAuthConfig } from '../../lib/startup/resolved-config.js';
import { FakeKeyProvider, type FakeIAdvize } from '../../lib/testing/index.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { authTestBrandKey, authTestSetup } from '../support/auth-module.js';
import { expectNoSecrets, rsaKeyPair, tempDir } from '../support/keys.js';

const ISSUER = 'https://brand.example';


let iadvize: FakeIAdvize;
let brand: Awaited<ReturnType<typeof rsaKeyPair>>;
beforeAll(async () => {
  const setup = await authTestSetup();
  brand = authTestBrandKey(setup);
  iadvize = setup.iadvize;
});

async function expectWorking(tokens: TokenService) {
  const { token } = await tokens.createToken({ userId: 'module-user' });
  expect((await iadvize.open(token, brand.publicPem, { issuer: ISSUER })).userId).toBe('module-user');
}

function goodOptions(): IAdvizeAuthOptions {
  return { issuer: ISSUER, signingKey: { pem: brand.privatePem }, iadvizePublicKey: iadvize.publicKeyPem };
}

// forRoot / forRootAsync are written by hand on purpose: they are what this file tests (other specs use test/support/auth-module.ts).
describe('IAdvizeAuthModule registration', () => {
  it('forRoot provides a working TokenService and logs thumbprints, never keys', async () => {
    const logger = new CapturingLogger();
    const moduleRef = await Test.createTestingModule({ imports: [IAdvizeAuthModule.forRoot({ ...goodOptions(), controller: false })] })
      .setLogger(logger)
      .compile();
    await expectWorking(moduleRef.get(TokenService));
    const config = moduleRef.get<ResolvedIAdvizeAuthConfig>(IADVIZE_AUTH_CONFIG);
    const line = logger.texts('log', 'warn', 'error').find((l) => l.includes('thumbprint'));
    expect(line).toContain(config.signingKeyThumbprint);
    expect(line).toContain(config.iadvizeKeyThumbprint);
    expect(line).toContain('custom iAdvize key');
    expectNoSecrets(logger.texts('log', 'warn', 'error').join('\n'));
    await moduleRef.close();
  });

  it('forRootAsync with useFactory reads options from ConfigService', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ iadvize: { issuer: ISSUER, key: brand.privatePem, iadvizeKey: iadvize.publicKeyBase64 } })] }),
        IAdvizeAuthModule.forRootAsync({
          imports: [ConfigModule],
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            issuer: config.getOrThrow<string>('iadvize.issuer'),
            signingKey: { pem: config.getOrThrow<string>('iadvize.key') },
            iadvizePublicKey: config.getOrThrow<string>('iadvize.iadvizeKey'),
          }),
          controller: false,
        }),
      ],
    }).compile();
    await expectWorking(moduleRef.get(TokenService));
    await moduleRef.close();
  });

  it('forRootAsync with useClass and useExisting', async () => {
    @Injectable()
    class OptionsFactory {
      createIAdvizeAuthOptions(): IAdvizeAuthOptions {
        return goodOptions();
      }
    }
    @Module({ providers: [OptionsFactory], exports: [OptionsFactory] })
    class OptionsModule {}

    const byClass = await Test.createTestingModule({
      imports: [IAdvizeAuthModule.forRootAsync({ useClass: OptionsFactory, controller: false })],
    }).compile();
    await expectWorking(byClass.get(TokenService));
    await byClass.close();

    const byExisting = await Test.createTestingModule({
      imports: [IAdvizeAuthModule.forRootAsync({ imports: [OptionsModule], useExisting: OptionsFactory, controller: false })],
    }).compile();
    await expectWorking(byExisting.get(TokenService));
    await byExisting.close();
  });

  it('isGlobal makes TokenService injectable everywhere; extraProviders are added', async () => {
    @Injectable()
    class Consumer {
      constructor(readonly tokens: TokenService) {}
    }
    @Module({ providers: [Consumer] })
    class FeatureModule {}
    const EXTRA = Symbol('extra');
    const moduleRef = await Test.createTestingModule({
      imports: [IAdvizeAuthModule.forRoot({ ...goodOptions(), isGlobal: true, controller: false, extraProviders: [{ provide: EXTRA, useValue: 42 }] }), FeatureModule],
    }).compile();
    await expectWorking(moduleRef.get(Consumer).tokens);
    expect(moduleRef.get(EXTRA, { strict: false })).toBe(42);
    await moduleRef.close();
  });

  it('closes the key provider on shutdown', async () => {
    const calls: string[] = [];
    const inner = { ...goodOptions() };
    const { PemKeyProvider } = await import('../../lib/index.js');
    const pem = new PemKeyProvider({ pem: brand.privatePem });
    const provider: KeyProvider = {
      alg: 'RS256',
      kind: 'counting',
      inProcess: true,
      init: async () => { calls.push('init'); await pem.init(); },
      sign: (input) => pem.sign(input),
      getPublicKey: () => pem.getPublicKey(),
      close: async () => { calls.push('close'); },
    };
    const moduleRef = await Test.createTestingModule({ imports: [IAdvizeAuthModule.forRoot({ ...inner, signingKey: provider, controller: false })] }).compile();
    await expectWorking(moduleRef.get(TokenService));
    await moduleRef.close();
    expect(calls).toEqual(['init', 'close']);
  });
});

describe('IAdvizeAuthModule startup validation', () => {
  const dirs: Array<() => void> = [];
  afterAll(() => dirs.forEach((c) => c()));

  async function compileError(options: unknown): Promise<InvalidOptionsError> {
    const promise = Test.createTestingModule({ imports: [IAdvizeAuthModule.forRoot({ ...(options as IAdvizeAuthOptions), controller: false })] })
      .setLogger(new CapturingLogger())
      .compile();
    const error = await promise.then(
      () => { throw new Error('compile() should have rejected'); },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidOptionsError);
    const message = (error as Error).message;
    expect(message).not.toMatch(/PRIVATE KEY/);
    expect(message).not.toMatch(/MII[A-Za-z0-9+/]{20}/); // no base64 DER
    expectNoSecrets(message + JSON.stringify((error as InvalidOptionsError).problems));
    return error as InvalidOptionsError;
  }

  it('reports a missing issuer and signing key', async () => {
    const e = await compileError({});
    expect(e.problems).toEqual([
      expect.stringMatching(/^issuer: is required/),
      expect.stringMatching(/^signingKey: is required/),
    ]);
    expect(e.code).toBe('IADVIZE_INVALID_OPTIONS');
  });

  it('names an unreadable file, an unset env var and bad option values', async () => {
    const { dir, cleanup } = tempDir();
    dirs.push(cleanup);
    const missing = join(dir, 'nope.pem');
    let e = await compileError({ ...goodOptions(), signingKey: { file: missing } });
    expect(e.message).toContain(`signingKey: file "${missing}" does not exist`);
    delete process.env.IADVIZE_TEST_UNSET_KEY;
    e = await compileError({ ...goodOptions(), signingKey: { env: 'IADVIZE_TEST_UNSET_KEY' } });
    expect(e.message).toContain('signingKey: environment variable "IADVIZE_TEST_UNSET_KEY" is not set');
    e = await compileError({ ...goodOptions(), tokenTtlSeconds: 0, selfCheck: 'yes', issuer: '  ', unknownThing: 1 });
    expect(e.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^unknownThing: unknown option/),
        expect.stringMatching(/^issuer: must be a non-empty string/),
        expect.stringMatching(/^tokenTtlSeconds: must be a whole number of seconds from 10 to 3600/),
        expect.stringMatching(/^selfCheck: must be true or false/),
      ]),
    );
  });

  it('reports a wrong passphrase and a missing one', async () => {
    const encrypted = brand.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'correct horse' }).toString();
    let e = await compileError({ ...goodOptions(), signingKey: { pem: encrypted, passphrase: 'wrong' } });
    expect(e.message).toContain('signingKey: inline pem cannot be decrypted: wrong passphrase');
    e = await compileError({ ...goodOptions(), signingKey: { pem: encrypted } });
    expect(e.message).toContain('signingKey: inline pem is an encrypted private key; set its passphrase');
  });

  it('refuses non-RSA keys, short keys, and keys on the wrong side', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 });
    let e = await compileError({ ...goodOptions(), signingKey: { pem: ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() } });
    expect(e.message).toContain('signingKey: inline pem is an EC key; iAdvize needs an RSA key');
    e = await compileError({ ...goodOptions(), signingKey: { pem: short.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() } });
    expect(e.message).toContain('signingKey: inline pem is an RSA-1024 key; at least 2048 bits are required');
    e = await compileError({ ...goodOptions(), signingKey: { pem: brand.publicPem } });
    expect(e.message).toContain('signingKey: inline pem holds a public key (PUBLIC KEY); a private key is needed here');
    e = await compileError({ ...goodOptions(), iadvizePublicKey: { pem: brand.privatePem } });
    expect(e.message).toContain('iadvizePublicKey.pem holds a private key; only the public key belongs here');
    e = await compileError({ ...goodOptions(), iadvizePublicKey: short.publicKey.export({ type: 'spki', format: 'pem' }).toString() });
    expect(e.message).toContain('iadvizePublicKey is an RSA-1024 key');
    e = await compileError({ ...goodOptions(), iadvizePublicKey: brand.publicPem });
    expect(e.message).toContain('iadvizePublicKey: is the same key as signingKey');
  });

  it('checks signingPublicKey against the signing key', async () => {
    const other = await rsaKeyPair('other');
    const e = await compileError({ ...goodOptions(), signingPublicKey: other.publicPem });
    expect(e.message).toMatch(/signingPublicKey: is not the public half of signingKey \(thumbprints [\w-]{43} vs [\w-]{43}\)/);
    const ok = await Test.createTestingModule({ imports: [IAdvizeAuthModule.forRoot({ ...goodOptions(), signingPublicKey: brand.publicPem, controller: false })] }).compile();
    await ok.close();
  });

  it('lists every problem of a badly broken configuration in one error', async () => {
    const { dir, cleanup } = tempDir();
    dirs.push(cleanup);
    const pubFile = join(dir, 'public.pem');
    writeFileSync(pubFile, brand.publicPem);
    const e = await compileError({ signingKey: { file: pubFile }, iadvizePublicKey: { env: 'IADVIZE_TEST_UNSET_PUB' }, tokenTtlSeconds: 1e9 });
    expect(e.problems).toHaveLength(4);
    expect(e.message).toMatch(/^Invalid IAdvizeAuthModule options \(4 problems\):/);
    expect(e.message).toContain(`signingKey: file "${pubFile}" holds a public key`);
    expect(e.message).toContain('iadvizePublicKey.env "IADVIZE_TEST_UNSET_PUB" is not set');
  });

  it('bounds the startup self-check by signingTimeoutMs when the signer hangs', async () => {
    const hanging = new FakeKeyProvider({ privateKeyPem: brand.privatePem, kind: 'hanging-kms', mode: 'hang' });
    const started = Date.now();
    const e = await compileError({ ...goodOptions(), signingKey: hanging, signingTimeoutMs: 200 });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(hanging.aborted).toBe(1);
    expect(e.message).toContain('signingKey: self-check failed: the signer did not answer within signingTimeoutMs (200 ms)');
  });

  it('fails the startup self-check when the provider signs with another key than it reports', async () => {
    // Signs with the brand key but reports another key as its public key (FakeKeyProvider can only sign wrong bytes).
    const signer = new FakeKeyProvider({ privateKeyPem: brand.privatePem });
    const other = await rsaKeyPair('other');
    const liar: KeyProvider = { alg: 'RS256', kind: 'liar', sign: (input) => signer.sign(input), getPublicKey: async () => other.publicKey };
    const e = await compileError({ ...goodOptions(), signingKey: liar });
    expect(e.message).toContain("signingKey: self-check failed: the provider's signature does not verify with its public key");
  });
});
