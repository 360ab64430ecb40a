import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPair, type KeyObject } from 'node:crypto';
import { closeSync, fchmodSync, lstatSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { thumbprintOf } from '../keys/key-material.js';
import { mayEcho, quoteEnvName, quoteValue, redact } from '../redaction.js';
import { ExitCode, parseCommandArgs, UsageError, type CliCommand, type CliContext, type ExitCodeValue } from './cli-context.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** Key sizes `keygen` accepts (iAdvize needs at least 2048 bits). */
export const KEYGEN_BITS = [2048, 3072, 4096] as const;

const HELP = `Usage: iadvize-auth keygen [--bits 2048|3072|4096] [--out DIR] [--name NAME] [--passphrase-env VAR]

Generates the brand's RSA key pair for iAdvize Authenticated Messaging:
  DIR/NAME-private-key.pem   PKCS#8 PEM private key, file mode 0600 (keep it secret)
  DIR/NAME-public-key.pem    SPKI PEM public key (give it to iAdvize)
and prints the public key as PEM and as the base64 body iAdvize asks for,
with its RFC 7638 thumbprint. It never overwrites an existing file and never
prints the private key.

Options:
  --bits N              RSA modulus size: 2048, 3072 or 4096. Default: 2048
  --out DIR             Directory to write to (created, mode 0700, if missing).
                        Default: the current directory (keygen then says
                        where the key went), except inside a git
                        work tree, where --out is required (so \`git add .\`
                        never commits the private key)
  --name NAME           File name prefix (letters, digits, . _ -). Default: brand
  --passphrase-env VAR  Encrypt the private key (PKCS#8, AES-256-CBC) with the
                        passphrase held in environment variable VAR
  -h, --help            Show this help

Equivalent openssl commands (as iAdvize documents them):
  openssl genpkey -out brand-private-key.pem -algorithm RSA -pkeyopt rsa_keygen_bits:2048
  openssl pkey -in brand-private-key.pem -pubout -out brand-public-key.pem

Exit codes: 0 written, 1 a file already exists or cannot be written, 2 usage error.
`;

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether `dir` (which may not exist yet) is inside a git work tree: a `.git` entry in it or an ancestor. */
function insideGitWorkTree(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if (exists(join(d, '.git'))) return true;
    if (dirname(d) === d) return false;
  }
}

/**
 * `true` when git ignores `file`, `false` when it does not, `undefined` when
 * git cannot tell (not installed, not a work tree).
 */
function gitIgnores(file: string): boolean | undefined {
  const r = spawnSync('git', ['check-ignore', '-q', '--', file], { cwd: dirname(file), stdio: 'ignore' });
  return r.status === 0 ? true : r.status === 1 ? false : undefined;
}

/** Creates `path` exclusively (never overwrites) with `mode`, and writes `text`. */
function writeNew(path: string, text: string, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    fchmodSync(fd, mode); // the umask may have cleared bits of `mode`; set exactly what we mean
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

function ioProblem(e: unknown, path: string): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EEXIST') return `${path} already exists; keygen never overwrites a key (move it away, or choose another --out or --name)`;
  if (code === 'EACCES' || code === 'EPERM') return `${path} cannot be written (permission denied)`;
  if (code === 'ENOTDIR') return `${path}: a parent of it is not a directory`;
  return `${path} cannot be written (${code ?? 'unknown error'})`;
}

/** `iadvize-auth keygen`: writes a PKCS#8 private key (0600) and an SPKI public key. */
export const keygenCommand: CliCommand = {
  name: 'keygen',
  summary: 'generate the brand key pair and print the public key for iAdvize',
  help: HELP,
  async run(args: string[], ctx: CliContext): Promise<ExitCodeValue> {
    const { values } = parseCommandArgs(
      args,
      {
        bits: { type: 'string' },
        out: { type: 'string' },
        name: { type: 'string' },
        'passphrase-env': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      false,
    );
    if (values.help) {
      ctx.out(HELP);
      return ExitCode.Ok;
    }
    const bitsText = (values.bits as string | undefined) ?? '2048';
    const bits = Number(bitsText);
    if (!/^\d+$/.test(bitsText) || !(KEYGEN_BITS as readonly number[]).includes(bits)) {
      throw new UsageError(`--bits must be one of ${KEYGEN_BITS.join(', ')} (got ${quoteValue(bitsText)})`);
    }
    const name = (values.name as string | undefined) ?? 'brand';
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name) || name.startsWith('.') || !mayEcho(name)) {
      throw new UsageError(`--name must be a short name of 1..64 letters, digits, ".", "_" or "-", not starting with "." nor looking random (got ${quoteValue(name)})`);
    }
    let passphrase: string | undefined;
    const passphraseEnv = values['passphrase-env'] as string | undefined;
    if (passphraseEnv !== undefined) {
      passphrase = ctx.env[passphraseEnv];
      if (passphrase === undefined || passphrase === '') {
        throw new UsageError(`--passphrase-env: environment variable ${quoteEnvName(passphraseEnv)} is not set or empty`);
      }
    }
    const outGiven = values.out as string | undefined;
    if (outGiven === undefined && insideGitWorkTree(resolve(ctx.cwd))) {
      throw new UsageError(
        'the current directory is inside a git work tree, where `git add .` would commit the private key. ' +
          'Pass --out DIR: a directory outside the repository (e.g. --out ~/.iadvize-keys), or one git ignores',
      );
    }
    const outArg = outGiven ?? '.';
    if (outArg === '') throw new UsageError('--out needs a directory');
    if (!mayEcho(outArg)) throw new UsageError(`--out: ${redact(outArg)} is not a directory path (give a short path, e.g. --out keys)`);
    const dir = resolve(ctx.cwd, outArg);
    const privatePath = join(outArg, `${name}-private-key.pem`);
    const publicPath = join(outArg, `${name}-public-key.pem`);
    const privateFile = join(dir, `${name}-private-key.pem`);
    const publicFile = join(dir, `${name}-public-key.pem`);

    // Refuse before spending seconds on a 4096-bit key, and before writing either file.
    for (const [shown, file] of [[privatePath, privateFile], [publicPath, publicFile]]) {
      if (exists(file)) {
        ctx.err(`iadvize-auth keygen: ${ioProblem({ code: 'EEXIST' }, shown)}\n`);
        return ExitCode.Problem;
      }
    }

    const { privateKey, publicKey } = await generateKeyPairAsync('rsa', { modulusLength: bits, publicExponent: 0x10001 });
    const privatePem = (
      passphrase === undefined
        ? privateKey.export({ type: 'pkcs8', format: 'pem' })
        : privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase })
    ).toString();
    const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();

    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      ctx.err(`iadvize-auth keygen: ${ioProblem(e, outArg)}\n`);
      return ExitCode.Problem;
    }
    try {
      writeNew(privateFile, privatePem, 0o600);
    } catch (e) {
      ctx.err(`iadvize-auth keygen: ${ioProblem(e, privatePath)}\n`);
      return ExitCode.Problem;
    }
    try {
      writeNew(publicFile, publicPem, 0o644);
    } catch (e) {
      unlinkSync(privateFile); // never leave a private key whose public half was not written
      ctx.err(`iadvize-auth keygen: ${ioProblem(e, publicPath)}\n`);
      return ExitCode.Problem;
    }

    ctx.out(await report({ bits, privatePath, publicPath, publicKey, publicPem, encrypted: passphrase !== undefined, passphraseEnv }));
    if (outGiven === undefined) {
      // Never silent about where a private key went.
      ctx.err(
        `iadvize-auth keygen: note: no --out given, so the private key was written to the current directory: ${privateFile}. ` +
          'Move it to your secret store (and delete it here), or pass --out DIR next time.\n',
      );
    }
    if (insideGitWorkTree(dir) && gitIgnores(privateFile) !== true) {
      ctx.err(
        'iadvize-auth keygen: warning: the private key is inside a git work tree and git does not ignore it. ' +
          'Add it to .gitignore (e.g. a line `*.pem`) before `git add`, or move it to your secret store and delete it here.\n',
      );
    }
    return ExitCode.Ok;
  },
};

async function report(r: {
  bits: number;
  privatePath: string;
  publicPath: string;
  publicKey: KeyObject;
  publicPem: string;
  encrypted: boolean;
  passphraseEnv?: string;
}): Promise<string> {
  const der = r.publicKey.export({ type: 'spki', format: 'der' });
  const thumbprint = await thumbprintOf(r.publicKey);
  const sha256 = createHash('sha256').update(der).digest('hex');
  const lines = [
    `Wrote an RSA-${r.bits} key pair:`,
    `  private key  ${r.privatePath}  (PKCS#8 PEM${r.encrypted ? ', encrypted' : ''}, mode 0600: keep it secret, never commit it)`,
    `  public key   ${r.publicPath}  (SPKI PEM)`,
    '',
    `Public key thumbprint (RFC 7638): ${thumbprint}`,
    `Public key SHA-256 (DER):         ${sha256}`,
    '',
    'Give iAdvize this public key, as PEM:',
    '',
    r.publicPem.trimEnd(),
    '',
    'or as the base64 body (what iAdvize publishes for its own key):',
    '',
    der.toString('base64'),
    '',
    'Next steps:',
    '  1. Send the public key above to iAdvize (your iAdvize contact or the admin of your',
    '     Authenticated Messaging settings) and quote the thumbprint.',
    `  2. Store the private key in your secret store and point the module at it, e.g.`,
    `       IADVIZE_SIGNING_KEY_FILE=/run/secrets/${r.privatePath.split(/[\\/]/).pop()}`,
    `       IADVIZE_SIGNING_PUBLIC_KEY_FILE=<path of ${r.publicPath.split(/[\\/]/).pop()}>  (optional: catches key mix-ups)`,
    ...(r.encrypted ? [`       IADVIZE_SIGNING_KEY_PASSPHRASE=<the value of ${redact(r.passphraseEnv)}>`] : []),
    '  3. Check the configuration: npx iadvize-auth doctor',
    '',
  ];
  return lines.join('\n');
}
