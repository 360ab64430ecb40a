import { spawnSync } from 'node:child_process';
import { createHash, createPublicKey } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { thumbprintOf } from '../../lib/index.js';
import { tempDir } from '../support/keys.js';
import { openssl, PRIVATE_PEM, requireBuiltCli, runCli } from '../support/cli-runner.js';

const mode = (file: string) => statSync(file).mode & 0o777;

describe('iadvize-auth keygen (built binary)', () => {
  let dir: string;
  let cleanup: () => void;

  beforeAll(() => {
    requireBuiltCli();
    ({ dir, cleanup } = tempDir());
  });
  afterAll(() => cleanup());

  it('writes a PKCS#8 private key (0600) and an SPKI public key that openssl accepts, and prints the public key iAdvize needs', async () => {
    const r = await runCli(['keygen', '--out', 'keys'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const privateFile = join(dir, 'keys', 'brand-private-key.pem');
    const publicFile = join(dir, 'keys', 'brand-public-key.pem');

    expect(mode(privateFile)).toBe(0o600);
    expect(mode(join(dir, 'keys'))).toBe(0o700);
    const privatePem = readFileSync(privateFile, 'utf8');
    expect(privatePem).toMatch(/^-{5}BEGIN PRIVATE KEY-{5}\n/); // PKCS#8, not PKCS#1 (-{5}: no PEM header literal in the repo)
    const check = openssl(['pkey', '-in', privateFile, '-check', '-noout']);
    expect(check).toEqual({ status: 0, output: expect.stringContaining('valid') });
    expect(openssl(['pkey', '-pubin', '-in', publicFile, '-noout']).status).toBe(0);
    expect(openssl(['pkey', '-pubin', '-in', publicFile, '-text_pub', '-noout']).output).toContain('(2048 bit)');
    // openssl derives the same public key from the private key.
    const derived = openssl(['pkey', '-in', privateFile, '-pubout']).output;
    const publicPem = readFileSync(publicFile, 'utf8');
    expect(derived.trim()).toBe(publicPem.trim());

    const der = createPublicKey(publicPem).export({ type: 'spki', format: 'der' });
    expect(r.stdout).toContain(publicPem.trim());
    expect(r.stdout).toContain(`\n${der.toString('base64')}\n`);
    expect(r.stdout).toContain(`Public key thumbprint (RFC 7638): ${await thumbprintOf(createPublicKey(publicPem))}`);
    expect(r.stdout).toContain(createHash('sha256').update(der).digest('hex'));
    expect(r.stdout).toContain('keys/brand-private-key.pem');
    expect(r.all).not.toMatch(PRIVATE_PEM);
    expect(r.all).not.toContain(privatePem.split('\n')[1]);
  });

  it('without --out outside a git work tree writes into the current directory and says so, with the full path', async () => {
    const here = join(dir, 'no-out');
    mkdirSync(here);
    const r = await runCli(['keygen'], { cwd: here });
    expect(r.code).toBe(0);
    expect(readdirSync(here).sort()).toEqual(['brand-private-key.pem', 'brand-public-key.pem']);
    expect(r.stderr).toContain('no --out given');
    expect(r.stderr).toContain(join(here, 'brand-private-key.pem'));
  });

  it('refuses to overwrite either file, leaving the existing key untouched', async () => {
    const out = join(dir, 'again');
    expect((await runCli(['keygen', '--out', out])).code).toBe(0);
    const privateFile = join(out, 'brand-private-key.pem');
    const before = readFileSync(privateFile, 'utf8');
    const r = await runCli(['keygen', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('brand-private-key.pem already exists; keygen never overwrites a key');
    expect(readFileSync(privateFile, 'utf8')).toBe(before);
    expect(mode(privateFile)).toBe(0o600);

    // Only the public file in the way: nothing is written at all.
    const lone = join(dir, 'lone');
    expect((await runCli(['keygen', '--out', lone, '--name', 'x'])).code).toBe(0);
    writeFileSync(join(lone, 'y-public-key.pem'), 'placeholder');
    const r2 = await runCli(['keygen', '--out', lone, '--name', 'y']);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain('y-public-key.pem already exists');
    expect(() => statSync(join(lone, 'y-private-key.pem'))).toThrow();
  });

  it('honours --bits and --name, and encrypts with --passphrase-env', async () => {
    const r = await runCli(['keygen', '--bits', '3072', '--out', dir, '--name', 'brand-2027', '--passphrase-env', 'KEY_PASS'], { env: { KEY_PASS: 'correct horse battery' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Wrote an RSA-3072 key pair');
    expect(r.all).not.toContain('correct horse battery');
    const privateFile = join(dir, 'brand-2027-private-key.pem');
    expect(readFileSync(privateFile, 'utf8')).toMatch(/^-{5}BEGIN ENCRYPTED PRIVATE KEY-{5}/);
    expect(openssl(['pkey', '-in', privateFile, '-passin', 'env:KEY_PASS', '-check', '-noout'], { KEY_PASS: 'correct horse battery' }).status).toBe(0);
    expect(openssl(['pkey', '-in', privateFile, '-passin', 'pass:wrong', '-check', '-noout']).status).not.toBe(0);
    expect(openssl(['pkey', '-pubin', '-in', join(dir, 'brand-2027-public-key.pem'), '-text_pub', '-noout']).output).toContain('(3072 bit)');
  });

  it.each([
    [['--bits', '1024'], '--bits must be one of 2048, 3072, 4096 (got "1024")'],
    [['--bits', '2048.0'], '--bits must be one of'],
    [['--bits'], 'option "--bits" needs a value'],
    [['--force'], 'unknown option "--force"'],
    [['extra'], 'unexpected argument "extra"'],
    [['--name', '../escape'], '--name must be'],
    [['--passphrase-env', 'UNSET_VAR'], '--passphrase-env: environment variable "UNSET_VAR" is not set'],
  ])('exits 2 on usage error %j', async (args, message) => {
    const r = await runCli(['keygen', ...args], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`iadvize-auth keygen: ${message}`);
    expect(r.stderr).toContain('Run "iadvize-auth keygen --help" for usage.');
    expect(r.stdout).toBe('');
  });

  it('prints its help with --help and via "help keygen"', async () => {
    const a = await runCli(['keygen', '--help']);
    const b = await runCli(['help', 'keygen']);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/^Usage: iadvize-auth keygen/);
    expect(a.stdout).toContain('openssl genpkey');
    expect(b.stdout).toBe(a.stdout);
  });
});

describe('iadvize-auth keygen inside a git work tree', () => {
  let repo: string;
  let outside: string;
  let cleanup: () => void;
  const git = (...args: string[]) => spawnSync('git', args, { cwd: repo, encoding: 'utf8' });
  /** Untracked, unignored files `git add .` would commit. */
  const untracked = () => git('status', '--porcelain', '--untracked-files=all').stdout;

  beforeAll(() => {
    requireBuiltCli();
    let base: string;
    ({ dir: base, cleanup } = tempDir());
    repo = join(base, 'app');
    outside = join(base, 'keys-outside');
    mkdirSync(join(repo, 'src'), { recursive: true });
    expect(git('init', '-q').status).toBe(0);
  });
  afterAll(() => cleanup());

  it('without --out refuses (exit 2), from the root or a subdirectory, and leaves no key in the work tree', async () => {
    for (const cwd of [repo, join(repo, 'src')]) {
      const r = await runCli(['keygen'], { cwd });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('inside a git work tree');
      expect(r.stderr).toContain('Pass --out DIR');
      expect(r.stdout).toBe('');
    }
    expect(untracked()).not.toMatch(/\.pem/);
    expect(readdirSync(repo).filter((f) => f.endsWith('.pem'))).toEqual([]);
  });

  it('with --out outside the work tree writes there, silently', async () => {
    const r = await runCli(['keygen', '--out', outside], { cwd: repo });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(readdirSync(outside).sort()).toEqual(['brand-private-key.pem', 'brand-public-key.pem']);
    expect(untracked()).toBe('');
  });

  it('with an explicit --out inside the work tree writes (the user asked), and warns unless git ignores the key', async () => {
    const warned = await runCli(['keygen', '--out', 'secrets'], { cwd: repo });
    expect(warned.code).toBe(0);
    expect(warned.stderr).toContain('git does not ignore it');
    expect(untracked()).toContain('secrets/brand-private-key.pem');

    writeFileSync(join(repo, '.gitignore'), '*.pem\n');
    const quiet = await runCli(['keygen', '--out', 'ignored', '--name', 'other'], { cwd: repo });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(untracked()).not.toContain('ignored/');
  });
});
