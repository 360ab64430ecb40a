import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IADVIZE_PRODUCTION_KEY_THUMBPRINT, thumbprintOf } from '../../lib/index.js';
import type { FakeIAdvize } from '../../lib/testing/index.js';
import { authTestBrandKey, authTestSetup } from '../support/auth-module.js';
import { rsaKeyPair, tempDir, type TestKeyPair } from '../support/keys.js';
import { PRIVATE_PEM, requireBuiltCli, runCli, type CliResult } from '../support/cli-runner.js';

const ISSUER = 'https://brand.example';
/** The shipped docs/operations.md of the package the binary runs from. */
const DOCS = fileURLToPath(new URL('../../docs/operations.md', import.meta.url));

describe('iadvize-auth doctor (built binary)', () => {
  let dir: string;
  let cleanup: () => void;
  let brand: TestKeyPair;
  let iadvize: FakeIAdvize;
  let files: Record<'key' | 'pub' | 'iadvize' | 'encrypted' | 'small' | 'otherPub' | 'loose', string>;
  let good: Record<string, string>;

  /** Asserts the run printed no key material, passphrase or token. */
  function expectNothingSecret(r: CliResult): void {
    expect(r.all).not.toMatch(PRIVATE_PEM);
    expect(r.all).not.toContain(brand.privatePem.split('\n')[1]);
    expect(r.all).not.toContain('s3cret pass');
    expect(r.all).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./); // no JOSE token
  }

  beforeAll(async () => {
    requireBuiltCli();
    ({ dir, cleanup } = tempDir());
    const setup = await authTestSetup();
    brand = authTestBrandKey(setup);
    iadvize = setup.iadvize;
    const other = await rsaKeyPair('other');
    files = {
      key: join(dir, 'brand.pem'),
      pub: join(dir, 'brand-public.pem'),
      iadvize: join(dir, 'iadvize-public.pem'),
      encrypted: join(dir, 'encrypted.pem'),
      small: join(dir, 'rsa-1024.pem'),
      otherPub: join(dir, 'other-public.pem'),
      loose: join(dir, 'loose.pem'),
    };
    writeFileSync(files.key, brand.privatePem, { mode: 0o600 });
    writeFileSync(files.pub, brand.publicPem);
    writeFileSync(files.iadvize, iadvize.publicKeyPem);
    writeFileSync(files.otherPub, other.publicPem);
    writeFileSync(files.encrypted, brand.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 's3cret pass' }), { mode: 0o600 });
    writeFileSync(files.small, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(files.loose, brand.privatePem);
    chmodSync(files.loose, 0o644);
    good = {
      IADVIZE_ISSUER: ISSUER,
      IADVIZE_SIGNING_KEY_FILE: files.key,
      IADVIZE_SIGNING_PUBLIC_KEY_FILE: files.pub,
      IADVIZE_PUBLIC_KEY_FILE: files.iadvize,
    };
  });
  afterAll(() => cleanup());

  it('passes on a good configuration, with thumbprints and the custom iAdvize key named', async () => {
    const r = await runCli(['doctor'], { env: good });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('[ok]   environment variables');
    expect(r.stdout).toContain('[ok]   keys loaded and checked; the self-check signature verifies');
    expect(r.stdout).toContain(`signing key    file "${files.key}" (IADVIZE_SIGNING_KEY_FILE), RSA-2048`);
    expect(r.stdout).toContain(`thumbprint ${await thumbprintOf(brand.publicKey)}`);
    expect(r.stdout).toContain('registered key matches the signing key (IADVIZE_SIGNING_PUBLIC_KEY_FILE)');
    expect(r.stdout).toContain(`iAdvize key    custom, from IADVIZE_PUBLIC_KEY_FILE (thumbprint ${await thumbprintOf(iadvize.publicKey)})`);
    expect(r.stdout).toContain('[warn] tokens are encrypted to a custom iAdvize key');
    expect(r.stdout).toContain('[ok]   round trip: signed a token and opened it as iAdvize would');
    expect(r.stdout).toContain('All checks passed, with 1 warning.');
    expect(r.stderr).toBe('');
    expectNothingSecret(r);
  });

  it('names the production iAdvize key by default, reads a key held in IADVIZE_SIGNING_KEY (escaped \\n) and keeps it hidden', async () => {
    const r = await runCli(['doctor'], { env: { IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY: brand.privatePem.replace(/\n/g, '\\n'), IADVIZE_TOKEN_TTL_SECONDS: '45' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`iAdvize key    production (thumbprint ${IADVIZE_PRODUCTION_KEY_THUMBPRINT})`);
    expect(r.stdout).toContain('IADVIZE_SIGNING_KEY              (set, hidden)');
    expect(r.stdout).toContain('signing key    environment variable IADVIZE_SIGNING_KEY, RSA-2048');
    expect(r.stdout).toContain('token lifetime 45 s');
    expect(r.stdout).toContain('[info] no IADVIZE_SIGNING_PUBLIC_KEY_FILE');
    expect(r.stdout).toContain('[ok]   encrypted a token to the configured iAdvize key');
    expect(r.stdout).toMatch(/All checks passed\.\n$/);
    expectNothingSecret(r);
  });

  it('decrypts an encrypted key with IADVIZE_SIGNING_KEY_PASSPHRASE without printing it', async () => {
    const r = await runCli(['doctor'], { env: { ...good, IADVIZE_SIGNING_KEY_FILE: files.encrypted, IADVIZE_SIGNING_KEY_PASSPHRASE: 's3cret pass' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('IADVIZE_SIGNING_KEY_PASSPHRASE   (set, hidden)');
    expectNothingSecret(r);
  });

  const failures: Array<[string, () => Record<string, string>, string, string[]]> = [
    ['unset issuer', () => ({ ...good, IADVIZE_ISSUER: '' }), 'environment variables', ['IADVIZE_ISSUER: is not set']],
    ['a missing key file', () => ({ ...good, IADVIZE_SIGNING_KEY_FILE: join(dir, 'nope.pem') }), 'keys and startup self-check', ['nope.pem" (IADVIZE_SIGNING_KEY_FILE) does not exist']],
    [
      'a wrong passphrase',
      () => ({ ...good, IADVIZE_SIGNING_KEY_FILE: files.encrypted, IADVIZE_SIGNING_KEY_PASSPHRASE: 'not the s3cret' }),
      'keys and startup self-check',
      ['cannot be decrypted: wrong passphrase (check IADVIZE_SIGNING_KEY_PASSPHRASE)'],
    ],
    ['a missing passphrase', () => ({ ...good, IADVIZE_SIGNING_KEY_FILE: files.encrypted }), 'keys and startup self-check', ['is an encrypted private key; set its passphrase (set IADVIZE_SIGNING_KEY_PASSPHRASE)']],
    ['a 1024-bit key', () => ({ ...good, IADVIZE_SIGNING_KEY_FILE: files.small, IADVIZE_SIGNING_PUBLIC_KEY_FILE: '' }), 'keys and startup self-check', ['is an RSA-1024 key; at least 2048 bits are required']],
    ['a public key given as the signing key', () => ({ ...good, IADVIZE_SIGNING_KEY_FILE: files.pub }), 'keys and startup self-check', ['holds a public key (PUBLIC KEY); a private key is needed here']],
    [
      'a path given in IADVIZE_SIGNING_PUBLIC_KEY instead of _FILE',
      () => ({ ...good, IADVIZE_SIGNING_PUBLIC_KEY_FILE: '', IADVIZE_SIGNING_PUBLIC_KEY: files.otherPub }),
      'environment variables',
      ['IADVIZE_SIGNING_PUBLIC_KEY: holds what looks like a file path, not a key; set IADVIZE_SIGNING_PUBLIC_KEY_FILE to the path instead (and unset IADVIZE_SIGNING_PUBLIC_KEY)'],
    ],
    [
      'a mismatched IADVIZE_SIGNING_PUBLIC_KEY_FILE (another key pair)',
      () => ({ ...good, IADVIZE_SIGNING_PUBLIC_KEY_FILE: files.otherPub }),
      'keys and startup self-check',
      ['signingPublicKey: is not the public half of signingKey'],
    ],
    ['iAdvize\'s key replaced by the brand\'s own', () => ({ ...good, IADVIZE_PUBLIC_KEY_FILE: files.pub }), 'keys and startup self-check', ['iadvizePublicKey: is the same key as signingKey']],
    [
      'several problems at once',
      () => ({ IADVIZE_SIGNING_KEY: 'x', IADVIZE_SIGNING_KEY_FILE: files.key, IADVIZE_TOKEN_TTL_SECONDS: '1h' }),
      'environment variables',
      ['(3 problems)', 'IADVIZE_ISSUER: is not set', 'IADVIZE_SIGNING_KEY and IADVIZE_SIGNING_KEY_FILE: both are set', 'IADVIZE_TOKEN_TTL_SECONDS: must be a whole number'],
    ],
  ];

  it.each(failures)('fails on %s with the validation message', async (_name, env, step, messages) => {
    const r = await runCli(['doctor'], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`[FAIL] ${step}`);
    for (const m of messages) expect(r.stdout).toContain(m);
    expect(r.stdout).not.toContain('All checks passed');
    expect(r.stderr).toContain(`iadvize-auth doctor: ${step}: problems found`);
    expect(r.stdout).toContain(`Problems found. "Troubleshooting" in ${DOCS} maps each one to a fix.`);
    expectNothingSecret(r);
  });

  it('fails on a mismatched IADVIZE_SIGNING_PUBLIC_KEY given as PEM, naming both thumbprints', async () => {
    const other = await rsaKeyPair('other');
    const r = await runCli(['doctor'], { env: { ...good, IADVIZE_SIGNING_PUBLIC_KEY_FILE: '', IADVIZE_SIGNING_PUBLIC_KEY: other.publicPem } });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`signingPublicKey: is not the public half of signingKey (thumbprints ${await thumbprintOf(other.publicKey)} vs ${await thumbprintOf(brand.publicKey)})`);
  });

  it('warns about a key file readable by others and a mistyped variable; --strict turns warnings into a failure', async () => {
    const env = { ...good, IADVIZE_SIGNING_KEY_FILE: files.loose, IADVIZE_SIGNINGKEY_FILE: files.key };
    const lax = await runCli(['doctor'], { env });
    expect(lax.code).toBe(0);
    expect(lax.stdout).toContain(`[warn] the private key file is readable by group or others (mode 0644); run: chmod 600 "${files.loose}"`);
    expect(lax.stdout).toContain('[warn] IADVIZE_SIGNINGKEY_FILE is not read by this library (did you mean IADVIZE_SIGNING_KEY_FILE?)\n');
    expect(lax.stdout).toContain('All checks passed, with 3 warnings.');
    const strict = await runCli(['doctor', '--strict'], { env });
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain('[FAIL] 3 warnings (--strict)');
  });

  it.each([
    ['IADVIZE_SIGNING_KEY_FLIE', 'IADVIZE_SIGNING_KEY_FILE'],
    ['IADVIZE_ISUER', 'IADVIZE_ISSUER'],
    ['IADVIZE_TOKEN_TTL_SECOND', 'IADVIZE_TOKEN_TTL_SECONDS'],
  ])('says "did you mean" for the typo %s', async (typo, meant) => {
    const r = await runCli(['doctor'], { env: { ...good, [typo]: 'x' } });
    expect(r.stdout).toContain(`[warn] ${typo} is not read by this library (did you mean ${meant}?)\n`);
  });

  it('--strict passes with the app\'s own IADVIZE_* settings the docs and sample use, and other non-typo names', async () => {
    const { IADVIZE_PUBLIC_KEY_FILE: _custom, ...production } = good;
    const env = {
      ...production,
      IADVIZE_SID: '12345', // sample
      IADVIZE_PLATFORM: 'halc.iadvize.com', // sample
      IADVIZE_KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/x', // docs/key-providers.md
      IADVIZE_EVENTS_HASH_KEY: 'k'.repeat(32), // docs/observability.md
      IADVIZE_FEATURE_ENABLED: 'true', // an app setting, far from every module variable
    };
    const r = await runCli(['doctor', '--strict'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('[warn]');
    expect(r.stdout).not.toContain('is not read by this library');
    expect(r.stdout).toMatch(/All checks passed\.\n$/);
  });

  it('loads --dotenv without overriding variables already set', async () => {
    const envFile = join(dir, 'app.env');
    writeFileSync(envFile, Object.entries({ ...good, IADVIZE_ISSUER: 'https://from-file.example' }).map(([k, v]) => `${k}=${v}`).join('\n'));
    const fromFile = await runCli(['doctor', '--dotenv', envFile]);
    expect(fromFile.code).toBe(0);
    expect(fromFile.stdout).toContain('issuer         https://from-file.example');
    const overridden = await runCli(['doctor', '--dotenv', envFile], { env: { IADVIZE_ISSUER: ISSUER } });
    expect(overridden.stdout).toContain(`issuer         ${ISSUER}`);
    const missing = await runCli(['doctor', '--dotenv', join(dir, 'none.env')]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('does not exist');
    // A relative path: the message says which directory it was resolved from.
    const relative = await runCli(['doctor', '--dotenv', 'config/app.env'], { cwd: dir });
    expect(relative.code).toBe(1);
    expect(relative.stdout).toContain(`--dotenv "config/app.env" does not exist (a relative path, resolved from the working directory ${JSON.stringify(dir)})`);
  });

  it('exits 2 on usage errors and prints its help', async () => {
    const bad = await runCli(['doctor', '--verbose']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('iadvize-auth doctor: unknown option "--verbose"');
    const help = await runCli(['doctor', '-h']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: iadvize-auth doctor/);
  });
});
