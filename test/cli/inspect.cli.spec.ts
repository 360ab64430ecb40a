import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compactDecrypt } from 'jose';
import { thumbprintOf, TokenService } from '../../lib/index.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import { FakeIAdvize } from '../../lib/testing/index.js';
import { authTestBrandKey, authTestSetup } from '../support/auth-module.js';
import { rsaKeyPair, tempDir, type TestKeyPair } from '../support/keys.js';
import { PRIVATE_PEM, requireBuiltCli, runCli, type CliResult } from '../support/cli-runner.js';

const ISSUER = 'https://brand.example';
const VISITOR = { firstName: 'Jane', city: 'Nantes' };

describe('iadvize-auth inspect (built binary)', () => {
  let dir: string;
  let cleanup: () => void;
  let brand: TestKeyPair;
  let iadvize: FakeIAdvize;
  let token: string;
  let expiresAt: number;
  let innerJws: string;
  let files: Record<'iadvizeKey' | 'brandPub' | 'otherIadvizeKey' | 'otherPub', string>;

  async function mint(overrides: Record<string, unknown> = {}): Promise<string> {
    const config = await resolveIAdvizeAuthOptions({ issuer: ISSUER, signingKey: { pem: brand.privatePem }, iadvizePublicKey: iadvize.publicKeyPem, ...overrides });
    return (await new TokenService(config).createToken({ userId: 'customer-42', visitorData: VISITOR })).token;
  }

  /** The report never shows the encrypted parts, the inner JWS or key material. */
  function expectNoTokenParts(r: CliResult, t = token): void {
    for (const part of t.split('.').slice(1)) expect(r.all).not.toContain(part);
    expect(r.all).not.toContain(innerJws);
    expect(r.all).not.toContain(innerJws.split('.')[2]);
    expect(r.all).not.toMatch(PRIVATE_PEM);
  }

  beforeAll(async () => {
    requireBuiltCli();
    ({ dir, cleanup } = tempDir());
    const setup = await authTestSetup();
    brand = authTestBrandKey(setup);
    iadvize = setup.iadvize;
    const otherIAdvize = await FakeIAdvize.create();
    const other = await rsaKeyPair('other');
    files = {
      iadvizeKey: join(dir, 'fake-iadvize-private.pem'),
      brandPub: join(dir, 'brand-public.pem'),
      otherIadvizeKey: join(dir, 'other-iadvize-private.pem'),
      otherPub: join(dir, 'other-public.pem'),
    };
    writeFileSync(files.iadvizeKey, iadvize.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(files.otherIadvizeKey, otherIAdvize.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(files.brandPub, brand.publicPem);
    writeFileSync(files.otherPub, other.publicPem);
    const config = await resolveIAdvizeAuthOptions({ issuer: ISSUER, signingKey: { pem: brand.privatePem }, iadvizePublicKey: iadvize.publicKeyPem });
    ({ token, expiresAt } = await new TokenService(config).createToken({ userId: 'customer-42', visitorData: VISITOR }));
    innerJws = new TextDecoder().decode((await compactDecrypt(token, iadvize.privateKey)).plaintext);
  });
  afterAll(() => cleanup());

  it('shows the protected header, size and part lengths, and nothing of the encrypted parts', async () => {
    const r = await runCli(['inspect', token]);
    expect(r.code).toBe(0);
    const parts = token.split('.');
    expect(r.stdout).toContain(`Token: ${token.length} characters, 5 parts`);
    expect(r.stdout).toContain('Protected header: {"alg":"RSA-OAEP-256","enc":"A256GCM","cty":"JWT"}');
    expect(r.stdout).toMatch(new RegExp(`encrypted key\\s+${parts[1].length} ->\\s+256\\n`));
    expect(r.stdout).toMatch(new RegExp(`initialization vector\\s+${parts[2].length} ->\\s+12\\n`));
    expect(r.stdout).toMatch(new RegExp(`ciphertext\\s+${parts[3].length} ->\\s+${Buffer.from(parts[3], 'base64url').length}\\n`));
    expect(r.stdout).toMatch(/authentication tag\s+22 ->\s+16\n/);
    expect(r.stdout).toContain('[ok]   RSA-OAEP-256 / A256GCM compact JWE, encrypted to an RSA-2048 key');
    expect(r.stdout).not.toContain('customer-42');
    expectNoTokenParts(r);
  });

  it('with the test keys, decrypts, verifies and prints the claims', async () => {
    const r = await runCli(['inspect', token, '--iadvize-private-key', files.iadvizeKey, '--brand-public-key', files.brandPub, '--issuer', ISSUER]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`[ok]   decrypted with --iadvize-private-key (thumbprint ${await thumbprintOf(iadvize.publicKey)})`);
    expect(r.stdout).toContain('Inner JWS header: {"alg":"RS256"}');
    expect(r.stdout).toContain('"https://iadvize.com/userId": "customer-42"');
    expect(r.stdout).toContain('"firstName": "Jane"');
    expect(r.stdout).toContain(`"iss": "${ISSUER}"`);
    expect(r.stdout).toContain(`"exp": ${expiresAt}`);
    expect(r.stdout).toContain('lifetime 60 s');
    expect(r.stdout).toContain(`[ok]   signature verifies with --brand-public-key (thumbprint ${await thumbprintOf(brand.publicKey)})`);
    expect(r.stdout).toContain('[ok]   iAdvize would accept this token for user id "customer-42"');
    expectNoTokenParts(r);
  });

  it('reads the token from stdin with "-", also as the endpoint\'s JSON answer', async () => {
    const plain = await runCli(['inspect', '-', '--iadvize-private-key', files.iadvizeKey, '--brand-public-key', files.brandPub], { input: `${token}\n` });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('iAdvize would accept this token');
    const json = await runCli(['inspect', '-'], { input: JSON.stringify({ token, expiresAt }) });
    expect(json.code).toBe(0);
    expect(json.stdout).toContain(`Token: ${token.length} characters, 5 parts`);
  });

  it('decrypts but does not vouch for the signature without --brand-public-key', async () => {
    const r = await runCli(['inspect', token, '--iadvize-private-key', files.iadvizeKey]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('"https://iadvize.com/userId": "customer-42"');
    expect(r.stdout).toContain('[info] signature not verified: add --brand-public-key FILE');
    expect(r.stdout).not.toContain('would accept');
  });

  it.each([
    ['the wrong iAdvize key', () => ['--iadvize-private-key', files.otherIadvizeKey], 'cannot decrypt with --iadvize-private-key'],
    ['the wrong brand key', () => ['--iadvize-private-key', files.iadvizeKey, '--brand-public-key', files.otherPub], 'the signature does not verify with --brand-public-key'],
    ['another issuer', () => ['--iadvize-private-key', files.iadvizeKey, '--brand-public-key', files.brandPub, '--issuer', 'https://evil.example'], 'iAdvize would refuse this token: WRONG_ISSUER'],
  ])('exits 1 with %s', async (_name, args, message) => {
    const r = await runCli(['inspect', token, ...args()]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`[FAIL] ${message}`);
    expectNoTokenParts(r);
  });

  it('exits 1 on an expired token, saying when it expired', async () => {
    const expired = await mint({ clock: () => Date.now() - 3_600_000 });
    const r = await runCli(['inspect', expired, '--iadvize-private-key', files.iadvizeKey, '--brand-public-key', files.brandPub]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/exp \d+ = .* \(\d+ s ago\)/);
    expect(r.stdout).toContain('[FAIL] iAdvize would refuse this token: EXPIRED');
  });

  it('exits 1 on a tampered token', async () => {
    const parts = token.split('.');
    const bytes = Buffer.from(parts[3], 'base64url');
    bytes[0] ^= 1;
    const tampered = [parts[0], parts[1], parts[2], bytes.toString('base64url'), parts[4]].join('.');
    const r = await runCli(['inspect', tampered, '--iadvize-private-key', files.iadvizeKey, '--brand-public-key', files.brandPub]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('[FAIL] cannot decrypt');
  });

  it.each([
    ['garbage', 'not-a-token', 'not a compact JWE'],
    ['a bare JWS', 'eyJhbGciOiJSUzI1NiJ9.eyJ4IjoxfQ.c2ln', 'this is a JWS (signed, not encrypted)'],
    ['a wrong algorithm', `${Buffer.from('{"alg":"RSA1_5","enc":"A128CBC-HS256"}').toString('base64url')}.a.b.c.d`, 'alg is "RSA1_5", iAdvize expects "RSA-OAEP-256"'],
  ])('exits 1 on %s', async (_name, input, message) => {
    const r = await runCli(['inspect', input]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`[FAIL] ${message}`);
  });

  it.each([
    [[], 'missing the token'],
    [['a', 'b'], 'expected one token, got 2 arguments'],
    [['tok', '--brand-public-key', 'x.pem'], '--brand-public-key needs --iadvize-private-key'],
    [['tok', '--iadvize-private-key'], 'option "--iadvize-private-key" needs a value'],
  ])('exits 2 on usage error %j', async (args, message) => {
    const r = await runCli(['inspect', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`iadvize-auth inspect: ${message}`);
  });

  it('exits 1 naming the file when a key file is missing or holds the wrong kind of key', async () => {
    const missing = await runCli(['inspect', token, '--iadvize-private-key', join(dir, 'none.pem')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('--iadvize-private-key file');
    expect(missing.stderr).toContain('none.pem" does not exist');
    const relative = await runCli(['inspect', token, '--iadvize-private-key', 'keys/none.pem'], { cwd: dir });
    expect(relative.code).toBe(1);
    expect(relative.stderr).toContain(`--iadvize-private-key file "keys/none.pem" does not exist (a relative path, resolved from the working directory ${JSON.stringify(dir)})`);
    const wrongKind = await runCli(['inspect', token, '--iadvize-private-key', files.brandPub]);
    expect(wrongKind.code).toBe(1);
    expect(wrongKind.stderr).toContain('holds a public key (PUBLIC KEY); a private key is needed here');
  });
});

describe('iadvize-auth (built binary): general usage', () => {
  beforeAll(() => requireBuiltCli());

  it('lists the commands with --help and exit codes; exits 2 without a command or with an unknown one', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['keygen', 'doctor', 'inspect']) expect(help.stdout).toMatch(new RegExp(`\\n  ${c} `));
    expect(help.stdout).toContain('Exit codes: 0 ok, 1 a problem was found, 2 usage error.');
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: iadvize-auth <command>');
    const unknown = await runCli(['keygne']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('iadvize-auth: unknown command "keygne"');
    const option = await runCli(['--bits', '2048']);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain('unknown option "--bits" (options go after the command)');
  });

  it('points at docs/operations.md inside the package it runs from, installed or not', async () => {
    const { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { fileURLToPath } = await import('node:url');
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const here = await runCli(['--help']);
    expect(here.stdout).toContain(`\nDocs: ${join(root, 'docs', 'operations.md')}\n`);

    // As npm installs it: dist/, docs/ and package.json under node_modules (the files "npm pack" ships).
    const app = mkdtempSync(join(tmpdir(), 'iadvize-cli-install-'));
    try {
      const pkgDir = join(app, 'node_modules', 'nestjs-iadvize-auth');
      mkdirSync(pkgDir, { recursive: true });
      for (const f of ['dist', 'docs', 'package.json']) cpSync(join(root, f), join(pkgDir, f), { recursive: true });
      for (const dep of ['jose', '@nestjs', 'reflect-metadata', 'rxjs']) symlinkSync(join(root, 'node_modules', dep), join(app, 'node_modules', dep), 'dir');
      const installed = await runCli(['--help'], { cwd: app, bin: join(pkgDir, 'dist', 'cli', 'main.js') });
      expect(installed.code).toBe(0);
      const docs = /\nDocs: (.+)\n/.exec(installed.stdout)?.[1];
      expect(docs).toBe(join(pkgDir, 'docs', 'operations.md'));
      expect(existsSync(docs as string)).toBe(true);
      const doctorHelp = await runCli(['doctor', '--help'], { cwd: app, bin: join(pkgDir, 'dist', 'cli', 'main.js') });
      expect(doctorHelp.stdout).toContain(join(pkgDir, 'docs', 'operations.md'));
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });

  it('is the package "bin" iadvize-auth, with a node shebang', async () => {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin).toEqual({ 'iadvize-auth': './dist/cli/main.js' });
    expect(readFileSync(new URL(`../../${pkg.bin['iadvize-auth']}`, import.meta.url), 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('prints the package version', async () => {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${pkg.version}\n`);
  });
});
