import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { InvalidOptionsError, PemKeyProvider, TokenService } from '../../lib/index.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import { EnvConfiguredKeyProvider, IADVIZE_ENV_VARIABLES, IAdvizeEnv, iadvizeAuthOptionsFromEnv } from '../../lib/config/index.js';
import type { FakeIAdvize } from '../../lib/testing/index.js';
import { authTestBrandKey, authTestSetup } from '../support/auth-module.js';
import { expectNoSecrets, rsaKeyPair, tempDir, type TestKeyPair } from '../support/keys.js';

const ISSUER = 'https://brand.example';

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidOptionsError);
    return (e as InvalidOptionsError).problems;
  }
  throw new Error('expected an InvalidOptionsError');
}

async function resolveProblems(options: unknown): Promise<string> {
  const error = await resolveIAdvizeAuthOptions(options).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(InvalidOptionsError);
  return (error as Error).message;
}

describe('iadvizeAuthOptionsFromEnv', () => {
  let dir: string;
  let cleanup: () => void;
  let iadvize: FakeIAdvize;
  let brand: TestKeyPair;

  beforeAll(async () => {
    ({ dir, cleanup } = tempDir());
    const setup = await authTestSetup(ISSUER);
    iadvize = setup.iadvize;
    brand = authTestBrandKey(setup);
  });
  afterAll(() => cleanup());

  it('maps a minimal file-based environment to options the module resolves, and tokens open', async () => {
    const file = join(dir, 'brand.pem');
    writeFileSync(file, brand.privatePem, { mode: 0o600 });
    const options = iadvizeAuthOptionsFromEnv({
      IADVIZE_ISSUER: ` ${ISSUER} `,
      IADVIZE_SIGNING_KEY_FILE: file,
      IADVIZE_PUBLIC_KEY: iadvize.publicKeyBase64,
      IADVIZE_TOKEN_TTL_SECONDS: '120',
      IADVIZE_SIGNING_TIMEOUT_MS: '2500',
    });
    expect(options.issuer).toBe(ISSUER);
    expect(options.tokenTtlSeconds).toBe(120);
    expect(options.signingTimeoutMs).toBe(2500);
    expect(options.signingKey).toBeInstanceOf(EnvConfiguredKeyProvider);
    expect((options.signingKey as EnvConfiguredKeyProvider).kind).toBe('file');
    expect(options.signingPublicKey).toBeUndefined();

    const config = await resolveIAdvizeAuthOptions(options);
    expect(config.usesProductionIAdvizeKey).toBe(false);
    const { token, expiresAt } = await new TokenService(config).createToken({ userId: 'u-1' });
    const opened = await iadvize.open(token, brand.publicPem, { issuer: ISSUER });
    expect(opened.userId).toBe('u-1');
    expect(expiresAt - (opened.claims.iat as number)).toBe(120);
  });

  it('leaves optional options unset so the module defaults apply (production iAdvize key, 60 s)', async () => {
    const options = iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY: brand.privatePem, IADVIZE_TOKEN_TTL_SECONDS: '  ' });
    expect(Object.keys(options).sort()).toEqual(['issuer', 'signingKey']);
    const config = await resolveIAdvizeAuthOptions(options);
    expect(config.usesProductionIAdvizeKey).toBe(true);
    expect(config.tokenTtlSeconds).toBe(60);
  });

  it.each([
    ['PEM with literal \\n', (pem: string) => pem.replace(/\n/g, '\\n')],
    ['base64 of the PEM', (pem: string) => Buffer.from(pem).toString('base64')],
    ['plain PEM', (pem: string) => pem],
  ])('reads IADVIZE_SIGNING_KEY given as %s', async (_name, encode) => {
    const options = iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY: encode(brand.privatePem), IADVIZE_PUBLIC_KEY: iadvize.publicKeyPem });
    const config = await resolveIAdvizeAuthOptions(options);
    const { token } = await new TokenService(config).createToken({ userId: 'u-2' });
    expect((await iadvize.open(token, brand.publicPem)).userId).toBe('u-2');
  });

  it('reports every problem in the variables at once, naming each variable', () => {
    const problems = problemsOf(() =>
      iadvizeAuthOptionsFromEnv({
        IADVIZE_SIGNING_KEY: 'x',
        IADVIZE_SIGNING_KEY_FILE: '/k.pem',
        IADVIZE_SIGNING_PUBLIC_KEY: 'y',
        IADVIZE_SIGNING_PUBLIC_KEY_FILE: '/p.pem',
        IADVIZE_PUBLIC_KEY: 'z',
        IADVIZE_PUBLIC_KEY_FILE: '/i.pem',
        IADVIZE_TOKEN_TTL_SECONDS: 'one minute',
        IADVIZE_SIGNING_TIMEOUT_MS: '50',
      }),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^IADVIZE_ISSUER: is not set/),
      expect.stringMatching(/^IADVIZE_SIGNING_KEY and IADVIZE_SIGNING_KEY_FILE: both are set; keep only one/),
      expect.stringMatching(/^IADVIZE_SIGNING_PUBLIC_KEY and IADVIZE_SIGNING_PUBLIC_KEY_FILE: both are set/),
      expect.stringMatching(/^IADVIZE_PUBLIC_KEY and IADVIZE_PUBLIC_KEY_FILE: both are set/),
      expect.stringMatching(/^IADVIZE_TOKEN_TTL_SECONDS: must be a whole number of seconds from 10 to 3600 \(got <redacted: holds spaces \(like a passphrase\), 10 chars>\)/),
      expect.stringMatching(/^IADVIZE_SIGNING_TIMEOUT_MS: must be a whole number of milliseconds from 100 to 60000 \(got "50"\)/),
    ]);
  });

  // Messages that say more, without the value.
  it.each([
    [IAdvizeEnv.SigningKey, IAdvizeEnv.SigningKeyFile],
    [IAdvizeEnv.SigningPublicKey, IAdvizeEnv.SigningPublicKeyFile],
    [IAdvizeEnv.PublicKey, IAdvizeEnv.PublicKeyFile],
  ])('a file path in %s (meant for the key itself) points to %s, without repeating the path', (variable, fileVariable) => {
    const env: Record<string, string> = { IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: '/k.pem', [variable]: 'app/secrets/brand.pem' };
    if (variable === IAdvizeEnv.SigningKey) delete env.IADVIZE_SIGNING_KEY_FILE;
    const problems = problemsOf(() => iadvizeAuthOptionsFromEnv(env));
    expect(problems).toEqual([
      `${variable}: holds what looks like a file path, not a key; set ${fileVariable} to the path instead (and unset ${variable})`,
    ]);
  });

  it.each([
    [IAdvizeEnv.SigningKeyFile, IAdvizeEnv.SigningKey],
    [IAdvizeEnv.SigningPublicKeyFile, IAdvizeEnv.SigningPublicKey],
    [IAdvizeEnv.PublicKeyFile, IAdvizeEnv.PublicKey],
  ])('a key pasted into %s (meant for a path) is described, never shown, and %s is suggested', async (variable, keyVariable) => {
    const { privatePem } = brand;
    for (const value of [privatePem, privatePem.replace(/\n/g, '\\n'), Buffer.from(privatePem).toString('base64')]) {
      const env: Record<string, string> = { IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: '/k.pem', [variable]: value };
      const problems = problemsOf(() => iadvizeAuthOptionsFromEnv(env));
      expect(problems).toEqual([
        expect.stringMatching(new RegExp(`^${variable}: holds <redacted: [^>]+, \\d+ chars>, not a file path; put the key itself in ${keyVariable}, or its path here$`)),
      ]);
      expectNoSecrets(problems.join('\n'));
    }
  });

  it('a relative key file that does not exist: the message names the directory it was resolved from', async () => {
    const options = iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: 'secret/brand.pem' });
    const message = await resolveProblems(options);
    expect(message).toContain(
      `signingKey: file "secret/brand.pem" (IADVIZE_SIGNING_KEY_FILE) does not exist (a relative path, resolved from the working directory ${JSON.stringify(process.cwd())})`,
    );
    // The same for the module's own { file } and public key files; an absolute path needs no such note.
    const direct = await resolveProblems({ issuer: ISSUER, signingKey: { file: 'secret/brand.pem' }, iadvizePublicKey: { file: join(dir, 'missing.pem') } });
    expect(direct).toContain(`signingKey: file "secret/brand.pem" does not exist (a relative path, resolved from the working directory ${JSON.stringify(process.cwd())})`);
    expect(direct).toContain(`iadvizePublicKey.file ${JSON.stringify(join(dir, 'missing.pem'))} does not exist\n`.trimEnd());
    expect(direct).not.toMatch(/missing\.pem" does not exist \(a relative path/);
  });

  it('an issuer that looks like a key or credential is refused, described, never shown (it would be in every token)', async () => {
    const { privatePem } = brand;
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    for (const issuer of [privatePem, secret, `hvs.${'CAESIJ'.repeat(8)}`]) {
      const problems = problemsOf(() => iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: issuer, IADVIZE_SIGNING_KEY_FILE: '/k.pem' }));
      expect(problems).toEqual([expect.stringMatching(/^IADVIZE_ISSUER: holds <redacted: [^>]+>, not an issuer; set it to the "iss" your tokens carry/)]);
      expect(problems.join('\n')).not.toContain(issuer.slice(0, 16));
    }
  });

  it('says which variable to set when nothing is configured, and the message starts with the context', () => {
    let message = '';
    try {
      iadvizeAuthOptionsFromEnv({});
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^Invalid iAdvize environment configuration \(2 problems\):/);
    expect(message).toContain('IADVIZE_ISSUER: is not set');
    expect(message).toContain('IADVIZE_SIGNING_KEY_FILE: is not set (nor IADVIZE_SIGNING_KEY)');
    expect(message).toContain('npx iadvize-auth keygen');
  });

  it.each(['9', '3601', '60.5', '-60', '1e2', '0x3c'])('refuses IADVIZE_TOKEN_TTL_SECONDS=%s', (ttl) => {
    const problems = problemsOf(() => iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: '/k.pem', IADVIZE_TOKEN_TTL_SECONDS: ttl }));
    expect(problems).toEqual([expect.stringContaining('IADVIZE_TOKEN_TTL_SECONDS: must be a whole number')]);
  });

  it('treats blank variables as unset', () => {
    const problems = problemsOf(() => iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: '  ', IADVIZE_SIGNING_KEY: '', IADVIZE_SIGNING_KEY_FILE: '\n' }));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^IADVIZE_ISSUER: is not set/);
    expect(problems[1]).toMatch(/^IADVIZE_SIGNING_KEY_FILE: is not set/);
  });

  it('passes public keys read from process.env as { env } so load errors name the variable', async () => {
    const saved = { ...process.env };
    try {
      process.env.IADVIZE_ISSUER = ISSUER;
      process.env.IADVIZE_SIGNING_KEY = brand.privatePem;
      process.env.IADVIZE_PUBLIC_KEY = 'not a key!';
      process.env.IADVIZE_SIGNING_PUBLIC_KEY_FILE = join(dir, 'missing-public.pem');
      const options = iadvizeAuthOptionsFromEnv();
      expect(options.iadvizePublicKey).toEqual({ env: 'IADVIZE_PUBLIC_KEY' });
      expect(options.signingPublicKey).toEqual({ file: join(dir, 'missing-public.pem') });
      const message = await resolveProblems(options);
      expect(message).toContain('iadvizePublicKey.env "IADVIZE_PUBLIC_KEY" is neither PEM, base64 nor a JWK');
      expect(message).toContain(`signingPublicKey.file "${join(dir, 'missing-public.pem')}" does not exist`);
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });

  it('passes public keys from a custom record inline (they are not secret)', () => {
    const options = iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: '/k.pem', IADVIZE_PUBLIC_KEY: iadvize.publicKeyBase64 });
    expect(options.iadvizePublicKey).toBe(iadvize.publicKeyBase64);
  });

  describe('key problems found at startup name the variable', () => {
    it('a missing key file', async () => {
      const file = join(dir, 'nowhere', 'brand.pem');
      const message = await resolveProblems(iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: file }));
      expect(message).toContain(`signingKey: file "${file}" (IADVIZE_SIGNING_KEY_FILE) does not exist`);
    });

    it('an encrypted key without, or with the wrong, passphrase', async () => {
      const encrypted = brand.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'right horse' }).toString();
      const file = join(dir, 'encrypted.pem');
      writeFileSync(file, encrypted, { mode: 0o600 });
      const missing = await resolveProblems(iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: file }));
      expect(missing).toContain('is an encrypted private key; set its passphrase (set IADVIZE_SIGNING_KEY_PASSPHRASE)');
      const wrong = await resolveProblems(iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY: encrypted, IADVIZE_SIGNING_KEY_PASSPHRASE: 'wrong horse' }));
      expect(wrong).toContain('signingKey: environment variable IADVIZE_SIGNING_KEY cannot be decrypted: wrong passphrase (check IADVIZE_SIGNING_KEY_PASSPHRASE)');
      expect(wrong).not.toContain('wrong horse');
      const config = await resolveIAdvizeAuthOptions(
        iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: file, IADVIZE_SIGNING_KEY_PASSPHRASE: 'right horse' }),
      );
      expect(config.keyProvider.kind).toBe('file');
    });

    it('a 1024-bit key and a public key given as the signing key', async () => {
      const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      expect(await resolveProblems(iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY: small }))).toContain(
        'signingKey: environment variable IADVIZE_SIGNING_KEY is an RSA-1024 key; at least 2048 bits are required',
      );
      const { publicPem } = brand;
      expect(await resolveProblems(iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY: publicPem }))).toContain(
        'environment variable IADVIZE_SIGNING_KEY holds a public key (PUBLIC KEY); a private key is needed here',
      );
    });
  });

  it('never shows the key or passphrase when the options are logged', async () => {
    const options = iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY: brand.privatePem, IADVIZE_SIGNING_KEY_PASSPHRASE: 'p4ss-phrase' });
    await resolveIAdvizeAuthOptions({ ...options, iadvizePublicKey: iadvize.publicKeyPem });
    const printed = inspect(options, { depth: 10, showHidden: true }) + JSON.stringify(options);
    expectNoSecrets(printed);
    expect(printed).not.toContain('p4ss-phrase');
    expect(printed).not.toContain(brand.privatePem.split('\n')[1]);
  });

  it('takes a signing key given in code (KMS) and refuses a second one from the environment', async () => {
    const provider = new PemKeyProvider({ pem: brand.privatePem });
    const options = iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER }, { signingKey: provider });
    expect(options.signingKey).toBe(provider);
    expect(problemsOf(() => iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: '/k.pem' }, { signingKey: provider }))).toEqual([
      expect.stringMatching(/^IADVIZE_SIGNING_KEY_FILE: is set, but the signing key is given in code/),
    ]);
  });

  describe('IADVIZE_SIGNING_THREADS', () => {
    it('sets signingThreads of the local key the environment describes: a key file, the key itself, each schedule entry', async () => {
      const file = join(dir, 'threads.pem');
      writeFileSync(file, brand.privatePem, { mode: 0o600 });
      for (const threads of [0, 1, 16]) {
        const IADVIZE_SIGNING_THREADS = ` ${threads} `;
        const fromFile = iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: file, IADVIZE_SIGNING_THREADS });
        expect((fromFile.signingKey as EnvConfiguredKeyProvider).signingThreads).toBe(threads);
        const fromValue = iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY: brand.privatePem, IADVIZE_SIGNING_THREADS });
        expect((fromValue.signingKey as EnvConfiguredKeyProvider).signingThreads).toBe(threads);
        const fromSchedule = iadvizeAuthOptionsFromEnv({
          IADVIZE_ISSUER: ISSUER,
          IADVIZE_SIGNING_KEY_SCHEDULE: JSON.stringify([{ file }, { file, from: '2099-01-01T00:00:00Z' }]),
          IADVIZE_SIGNING_THREADS,
        });
        const entries = (fromSchedule.signingKey as { schedule: Array<{ key: EnvConfiguredKeyProvider }> }).schedule;
        expect(entries.map((e) => e.key.signingThreads)).toEqual([threads, threads]);
      }
      // Unset: the default of every local provider.
      const unset = iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: file });
      expect((unset.signingKey as EnvConfiguredKeyProvider).signingThreads).toBe(new PemKeyProvider({ pem: brand.privatePem }).signingThreads);
    });

    it('a watched key file keeps it across a reload, and tokens open', async () => {
      const [a, b] = [brand, await rsaKeyPair('watch-b')];
      const file = join(dir, 'watched-threads.pem');
      writeFileSync(file, a.privatePem, { mode: 0o600 });
      const options = iadvizeAuthOptionsFromEnv({
        IADVIZE_ISSUER: ISSUER,
        IADVIZE_SIGNING_KEY_FILE: file,
        IADVIZE_SIGNING_KEY_WATCH: 'true',
        IADVIZE_SIGNING_KEY_WATCH_MS: '3600000',
        IADVIZE_SIGNING_THREADS: '0',
        IADVIZE_PUBLIC_KEY: iadvize.publicKeyBase64,
      });
      const config = await resolveIAdvizeAuthOptions(options);
      const schedule = config.signingKeys as NonNullable<typeof config.signingKeys>;
      try {
        expect((schedule.currentKey().provider as EnvConfiguredKeyProvider).signingThreads).toBe(0);
        writeFileSync(file, b.privatePem, { mode: 0o600 });
        expect(await schedule.checkNow()).toEqual(['reloaded']);
        const reloaded = schedule.currentKey().provider as EnvConfiguredKeyProvider;
        expect(reloaded.signingThreads).toBe(0);
        const { token } = await new TokenService(config).createToken({ userId: 'u-threads' });
        expect((await iadvize.open(token, b.publicPem, { issuer: ISSUER })).userId).toBe('u-threads');
      } finally {
        await schedule.close();
      }
    });

    it.each([['-1'], ['17'], ['1.5'], ['two'], ['0x2'], ['1e1']])('refuses %p, naming the variable and the range', (bad) => {
      expect(problemsOf(() => iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: '/k.pem', IADVIZE_SIGNING_THREADS: bad }))).toEqual([
        `IADVIZE_SIGNING_THREADS: must be a whole number of threads from 0 to 16 (got ${JSON.stringify(bad)}); 0 signs on libuv's thread pool, unset for the default (the number of cores, at most 4)`,
      ]);
    });

    it('never shows a key pasted into it, and lists its problem with the others', async () => {
      const { privatePem } = brand;
      const problems = problemsOf(() => iadvizeAuthOptionsFromEnv({ IADVIZE_SIGNING_KEY_FILE: '/k.pem', IADVIZE_SIGNING_THREADS: privatePem }));
      expect(problems).toEqual([
        expect.stringMatching(/^IADVIZE_ISSUER: is not set/),
        expect.stringMatching(/^IADVIZE_SIGNING_THREADS: must be a whole number of threads from 0 to 16 \(got <redacted: looks like a PEM private key, \d+ chars>\)/),
      ]);
      expectNoSecrets(problems.join('\n'));
    });

    it('with a signing key given in code it is refused: set signingThreads on that provider', () => {
      const provider = new PemKeyProvider({ pem: 'unused' });
      expect(problemsOf(() => iadvizeAuthOptionsFromEnv({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_THREADS: '2' }, { signingKey: provider }))).toEqual([
        'IADVIZE_SIGNING_THREADS: is set, but the signing key is given in code; set signingThreads on that key provider (local keys only), or unset it',
      ]);
    });
  });

  it('documents every variable it reads in IADVIZE_ENV_VARIABLES', () => {
    expect(IADVIZE_ENV_VARIABLES.map((v) => v.name).sort()).toEqual(Object.values(IAdvizeEnv).sort());
    expect(IADVIZE_ENV_VARIABLES.filter((v) => v.secret).map((v) => v.name).sort()).toEqual(['IADVIZE_SIGNING_KEY', 'IADVIZE_SIGNING_KEY_PASSPHRASE']);
  });
});
