import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import { IADVIZE_AUTH_MODULE_OPTIONS, IAdvizeAuthModule, InvalidOptionsError, TokenService, type IAdvizeAuthOptions } from '../../lib/index.js';
import { iadvizeAuthConfig } from '../../lib/config/index.js';
import { FakeIAdvizeSetup, type FakeIAdvize } from '../../lib/testing/index.js';
import { authTestBrandKey, authTestSetup } from '../support/auth-module.js';
import { rsaKeyPair, tempDir, type TestKeyPair } from '../support/keys.js';

const ISSUER = 'https://brand.example';

/** Runs `fn` with exactly these IADVIZE_* variables in process.env, then restores it. */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  for (const key of Object.keys(process.env)) if (key.startsWith('IADVIZE_')) delete process.env[key];
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
}

/** Hand-written on purpose: forRootAsync fed by ConfigModule, as users write it, is what this file tests (not the test helper). */
const recipes = {
  'explicit forRootAsync recipe': () =>
    IAdvizeAuthModule.forRootAsync({
      imports: [ConfigModule.forFeature(iadvizeAuthConfig)],
      inject: [iadvizeAuthConfig.KEY],
      useFactory: (options: IAdvizeAuthOptions) => options,
      controller: false,
    }),
  'iadvizeAuthConfig.asProvider()': () => IAdvizeAuthModule.forRootAsync({ ...iadvizeAuthConfig.asProvider(), controller: false }),
};

describe('@nestjs/config integration (iadvizeAuthConfig)', () => {
  let dir: string;
  let cleanup: () => void;
  let brand: TestKeyPair;
  let iadvize: FakeIAdvize;
  let keyFile: string;

  beforeAll(async () => {
    ({ dir, cleanup } = tempDir());
    const setup = await authTestSetup(ISSUER);
    brand = authTestBrandKey(setup);
    iadvize = setup.iadvize;
    keyFile = join(dir, 'brand.pem');
    writeFileSync(keyFile, brand.privatePem, { mode: 0o600 });
  });
  afterAll(() => cleanup());

  describe.each(Object.entries(recipes))('%s', (_name, importModule) => {
    it('builds the module from a good environment; tokens open with FakeIAdvize', async () => {
      await withEnv(
        {
          IADVIZE_ISSUER: ISSUER,
          IADVIZE_SIGNING_KEY_FILE: keyFile,
          IADVIZE_SIGNING_PUBLIC_KEY: brand.publicPem.replace(/\n/g, '\\n'),
          IADVIZE_PUBLIC_KEY: iadvize.publicKeyBase64,
          IADVIZE_TOKEN_TTL_SECONDS: '30',
        },
        async () => {
          const moduleRef = await Test.createTestingModule({ imports: [ConfigModule.forRoot({ ignoreEnvFile: true }), importModule()] }).compile();
          try {
            const tokens = moduleRef.get(TokenService);
            const { token, expiresAt } = await tokens.createToken({ userId: 'customer-7', visitorData: { firstName: 'Jane' } });
            const opened = await iadvize.open(token, brand.publicPem, { issuer: ISSUER });
            expect(opened.userId).toBe('customer-7');
            expect(opened.visitorData).toEqual({ firstName: 'Jane' });
            expect(expiresAt - (opened.claims.iat as number)).toBe(30);
            expect(moduleRef.get(ConfigService).get<IAdvizeAuthOptions>('iadvize')?.issuer).toBe(ISSUER);
          } finally {
            await moduleRef.close();
          }
        },
      );
    });

    it('the documented override (IADVIZE_AUTH_MODULE_OPTIONS → FakeIAdvizeSetup) serves this form with no IADVIZE_* variable set', async () => {
      const setup = await FakeIAdvizeSetup.create({ issuer: ISSUER });
      await withEnv({}, async () => {
        const moduleRef = await Test.createTestingModule({ imports: [ConfigModule.forRoot({ ignoreEnvFile: true }), importModule()] })
          .overrideProvider(IADVIZE_AUTH_MODULE_OPTIONS)
          .useValue(setup.moduleOptions)
          .compile();
        try {
          const { token } = await moduleRef.get(TokenService).createToken({ userId: 'customer-8' });
          expect((await setup.open(token)).userId).toBe('customer-8');
        } finally {
          await moduleRef.close();
        }
      });
    });

    it('fails .compile() with one message naming every bad variable', async () => {
      await withEnv({ IADVIZE_SIGNING_KEY: 'x', IADVIZE_SIGNING_KEY_FILE: keyFile, IADVIZE_TOKEN_TTL_SECONDS: 'soon', IADVIZE_PUBLIC_KEY: 'a', IADVIZE_PUBLIC_KEY_FILE: 'b' }, async () => {
        const error = await Test.createTestingModule({ imports: [importModule()] })
          .compile()
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(InvalidOptionsError);
        const { message, problems } = error as InvalidOptionsError;
        expect(problems).toHaveLength(4);
        for (const name of ['IADVIZE_ISSUER', 'IADVIZE_SIGNING_KEY and IADVIZE_SIGNING_KEY_FILE', 'IADVIZE_TOKEN_TTL_SECONDS', 'IADVIZE_PUBLIC_KEY and IADVIZE_PUBLIC_KEY_FILE']) {
          expect(message).toContain(`  - ${name}:`);
        }
      });
    });
  });

  it('fails .compile() on key problems with the module\'s all-at-once error, naming the variables', async () => {
    const other = await rsaKeyPair('other');
    const missing = join(dir, 'missing.pem');
    await withEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: missing, IADVIZE_PUBLIC_KEY: 'not a key!' }, async () => {
      const error = await Test.createTestingModule({ imports: [recipes['iadvizeAuthConfig.asProvider()']()] })
        .compile()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect((error as Error).message).toContain(`signingKey: file "${missing}" (IADVIZE_SIGNING_KEY_FILE) does not exist`);
      expect((error as Error).message).toContain('iadvizePublicKey.env "IADVIZE_PUBLIC_KEY"');
    });
    await withEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: keyFile, IADVIZE_SIGNING_PUBLIC_KEY: other.publicPem }, async () => {
      const error = await Test.createTestingModule({ imports: [recipes['explicit forRootAsync recipe']()] })
        .compile()
        .catch((e: unknown) => e);
      expect((error as Error).message).toMatch(/signingPublicKey: is not the public half of signingKey/);
    });
  });

  it('reads variables ConfigModule.forRoot() loaded from a .env file', async () => {
    const envFile = join(dir, 'test.env');
    writeFileSync(envFile, [`IADVIZE_ISSUER=${ISSUER}`, `IADVIZE_SIGNING_KEY_FILE=${keyFile}`, `IADVIZE_PUBLIC_KEY=${iadvize.publicKeyBase64}`].join('\n'));
    await withEnv({}, async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [ConfigModule.forRoot({ envFilePath: envFile }), IAdvizeAuthModule.forRootAsync({ ...iadvizeAuthConfig.asProvider(), controller: false })],
      }).compile();
      try {
        const { token } = await moduleRef.get(TokenService).createToken({ userId: 'from-dotenv' });
        expect((await iadvize.open(token, brand.publicPem, { issuer: ISSUER })).userId).toBe('from-dotenv');
      } finally {
        await moduleRef.close();
      }
    });
  });
});
