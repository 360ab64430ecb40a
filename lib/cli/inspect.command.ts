import { createPublicKey, type KeyObject } from 'node:crypto';
import { compactDecrypt, compactVerify } from 'jose';
import { IAdvizeAuthError } from '../errors.js';
import { JWE_ALGORITHM, JWE_CONTENT_TYPE, JWE_ENCRYPTION, JWS_ALGORITHM } from '../iadvize.constants.js';
import { loadPrivateKey, loadPublicKey, thumbprintOf } from '../keys/key-material.js';
import { readKeyFile } from '../keys/local-key.provider.js';
import { mayEcho, quoteValue, redact } from '../redaction.js';
import { FakeIAdvize, FakeIAdvizeError } from '../testing/fake-iadvize.js';
import { ExitCode, Mark, parseCommandArgs, UsageError, type CliCommand, type CliContext, type ExitCodeValue } from './cli-context.js';

const HELP = `Usage: iadvize-auth inspect <token | -> [--iadvize-private-key FILE --brand-public-key FILE] [--issuer ISS]

Shows what a token is made of without opening it: the JWE protected header,
the size, and the length of each of the five parts (never the parts
themselves). Give "-" to read the token from standard input (keeps it out of
your shell history); the endpoint's JSON answer {"token": ...} is accepted too.

With test keys it also opens the token as iAdvize would: decrypts it, verifies
the signature, checks the claims and prints them.

Options:
  --iadvize-private-key FILE  The iAdvize private key the token was encrypted to.
                              TEST KEYS ONLY (e.g. a FakeIAdvize key): iAdvize
                              never shares its production private key.
  --brand-public-key FILE     The brand public key to verify the signature with
                              (needs --iadvize-private-key)
  --issuer ISS                Also require this "iss" claim
  -h, --help                  Show this help

Exit codes: 0 the token is well formed (and, with keys, iAdvize would accept
it), 1 a problem was found (malformed, wrong algorithm, cannot be decrypted,
bad signature, expired, invalid claims), 2 usage error.
`;

const PART_NAMES = ['protected header', 'encrypted key', 'initialization vector', 'ciphertext', 'authentication tag'];
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Takes the token out of what the user pasted: the bare JWE, quoted, or the endpoint's JSON answer. */
function extractToken(input: string): string {
  let text = input.trim();
  if (text.startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as { token?: unknown };
      if (typeof parsed.token === 'string') text = parsed.token.trim();
    } catch {
      // not JSON: treated as a token below, and reported as malformed
    }
  }
  if (text.length > 1 && (text.startsWith('"') || text.startsWith("'")) && text.endsWith(text[0])) text = text.slice(1, -1).trim();
  return text.replace(/^Bearer\s+/i, '');
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function when(seconds: unknown, now: number): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return String(seconds);
  const delta = Math.round(seconds - now);
  const relative = delta === 0 ? 'now' : delta > 0 ? `in ${delta} s` : `${-delta} s ago`;
  return `${seconds} = ${new Date(seconds * 1000).toISOString()} (${relative})`;
}

function loadKeyFile(option: string, file: string, cwd: string, kind: 'private' | 'public'): KeyObject {
  const source = `${option} file ${quoteValue(file)}`;
  const bytes = readKeyFile(file, source, cwd);
  return kind === 'private' ? loadPrivateKey(bytes, source) : loadPublicKey(bytes, source);
}

/** `iadvize-auth inspect`: describes a token; with test keys, opens it as iAdvize would. */
export const inspectCommand: CliCommand = {
  name: 'inspect',
  summary: 'show a token\'s header and parts; with test keys, decrypt, verify and print its claims',
  help: HELP,
  async run(args: string[], ctx: CliContext): Promise<ExitCodeValue> {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        'iadvize-private-key': { type: 'string' },
        'brand-public-key': { type: 'string' },
        issuer: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      true,
    );
    if (values.help) {
      ctx.out(HELP);
      return ExitCode.Ok;
    }
    if (positionals.length === 0) throw new UsageError('missing the token (give it as an argument, or "-" to read standard input)');
    if (positionals.length > 1) throw new UsageError(`expected one token, got ${positionals.length} arguments`);
    const privateKeyFile = values['iadvize-private-key'] as string | undefined;
    const brandKeyFile = values['brand-public-key'] as string | undefined;
    const issuer = values.issuer as string | undefined;
    if (issuer !== undefined && !mayEcho(issuer)) throw new UsageError(`--issuer: ${redact(issuer)} is not an issuer (give the "iss" to require, e.g. https://www.example.com)`);
    if (brandKeyFile !== undefined && privateKeyFile === undefined) {
      throw new UsageError('--brand-public-key needs --iadvize-private-key: the signature is inside the encrypted part');
    }

    const out = (line = '') => ctx.out(`${line}\n`);
    const problem = (text: string): ExitCodeValue => {
      out(`${Mark.fail} ${text}`);
      return ExitCode.Problem;
    };

    // Keys first: a wrong file is a problem of the command, not of the token.
    let iadvizeKey: KeyObject | undefined;
    let brandKey: KeyObject | undefined;
    try {
      if (privateKeyFile !== undefined) iadvizeKey = loadKeyFile('--iadvize-private-key', privateKeyFile, ctx.cwd, 'private');
      if (brandKeyFile !== undefined) brandKey = loadKeyFile('--brand-public-key', brandKeyFile, ctx.cwd, 'public');
    } catch (e) {
      if (!(e instanceof IAdvizeAuthError)) throw e;
      ctx.err(`iadvize-auth inspect: ${e.message}\n`);
      return ExitCode.Problem;
    }

    const token = extractToken(positionals[0] === '-' ? await ctx.readStdin() : positionals[0]);
    const parts = token.split('.');
    out(`Token: ${token.length} characters, ${parts.length} part${parts.length === 1 ? '' : 's'}`);
    if (parts.length === 3) {
      const header = decodeJson(parts[0]);
      if (header) out(`Header: ${JSON.stringify(header)}`);
      return problem('this is a JWS (signed, not encrypted); iAdvize needs the compact JWE (5 parts) that nests it');
    }
    if (parts.length !== 5) return problem('not a compact JWE: five dot-separated base64url parts expected');
    const notBase64 = parts.findIndex((p) => !BASE64URL.test(p));
    if (notBase64 !== -1) return problem(`the ${PART_NAMES[notBase64]} is not base64url`);

    const header = decodeJson(parts[0]);
    if (!header) return problem('the protected header is not base64url-encoded JSON');
    out(`Protected header: ${JSON.stringify(header)}`);
    out('Parts (base64url characters -> bytes):');
    const bytes = parts.map((p) => Buffer.from(p, 'base64url').length);
    parts.forEach((p, i) => out(`  ${PART_NAMES[i].padEnd(22)}${String(p.length).padStart(6)} -> ${String(bytes[i]).padStart(5)}`));

    const headerProblems: string[] = [];
    if (header.alg !== JWE_ALGORITHM) headerProblems.push(`alg is ${JSON.stringify(header.alg)}, iAdvize expects "${JWE_ALGORITHM}"`);
    if (header.enc !== JWE_ENCRYPTION) headerProblems.push(`enc is ${JSON.stringify(header.enc)}, iAdvize expects "${JWE_ENCRYPTION}"`);
    if (header.zip !== undefined) headerProblems.push('zip is set; compressed tokens are refused');
    if (header.cty !== undefined && header.cty !== JWE_CONTENT_TYPE) headerProblems.push(`cty is ${JSON.stringify(header.cty)}, "${JWE_CONTENT_TYPE}" expected for a nested JWT`);
    if (bytes[2] !== 12) headerProblems.push(`the initialization vector is ${bytes[2]} bytes; A256GCM uses 12`);
    if (bytes[4] !== 16) headerProblems.push(`the authentication tag is ${bytes[4]} bytes; A256GCM uses 16`);
    if (bytes[1] < 256) headerProblems.push(`the encrypted key is ${bytes[1]} bytes: encrypted to an RSA key under 2048 bits`);
    if (headerProblems.length > 0) {
      for (const p of headerProblems) out(`${Mark.fail} ${p}`);
      return ExitCode.Problem;
    }
    out(`${Mark.ok} ${JWE_ALGORITHM} / ${JWE_ENCRYPTION} compact JWE, encrypted to an RSA-${bytes[1] * 8} key`);

    if (!iadvizeKey) {
      out(`${Mark.info} the content is encrypted to iAdvize; with test keys, add --iadvize-private-key and --brand-public-key to open it`);
      return ExitCode.Ok;
    }

    // Decrypt and read the inner JWS (never printed: only its header and claims).
    let jws: string;
    try {
      const { plaintext } = await compactDecrypt(token, iadvizeKey, {
        keyManagementAlgorithms: [JWE_ALGORITHM],
        contentEncryptionAlgorithms: [JWE_ENCRYPTION],
      });
      jws = new TextDecoder('utf-8', { fatal: true }).decode(plaintext);
    } catch {
      return problem(`cannot decrypt with --iadvize-private-key (thumbprint ${await thumbprintOf(iadvizeKey)}): the token was encrypted to another key, or altered`);
    }
    out(`${Mark.ok} decrypted with --iadvize-private-key (thumbprint ${await thumbprintOf(iadvizeKey)})`);
    const inner = jws.split('.');
    const jwsHeader = inner.length === 3 ? decodeJson(inner[0]) : undefined;
    const claims = inner.length === 3 ? decodeJson(inner[1]) : undefined;
    if (!jwsHeader || !claims) return problem('the decrypted content is not a signed JWT (JWS compact serialization with a JSON payload)');
    out(`Inner JWS header: ${JSON.stringify(jwsHeader)}`);
    out('Claims:');
    for (const line of JSON.stringify(claims, null, 2).split('\n')) out(`  ${line}`);
    const now = Math.floor(Date.now() / 1000);
    if ('iat' in claims) out(`  iat ${when(claims.iat, now)}`);
    if ('exp' in claims) out(`  exp ${when(claims.exp, now)}`);
    if (typeof claims.iat === 'number' && typeof claims.exp === 'number') out(`  lifetime ${claims.exp - claims.iat} s`);
    if (jwsHeader.alg !== JWS_ALGORITHM) return problem(`the inner JWS alg is ${JSON.stringify(jwsHeader.alg)}; iAdvize accepts only ${JWS_ALGORITHM}`);

    if (!brandKey) {
      out(`${Mark.info} signature not verified: add --brand-public-key FILE`);
      return ExitCode.Ok;
    }
    try {
      await compactVerify(jws, brandKey, { algorithms: [JWS_ALGORITHM] });
      out(`${Mark.ok} signature verifies with --brand-public-key (thumbprint ${await thumbprintOf(brandKey)})`);
    } catch {
      return problem(`the signature does not verify with --brand-public-key (thumbprint ${await thumbprintOf(brandKey)}): signed by another key`);
    }
    try {
      const opened = await FakeIAdvize.fromKeyPair(iadvizeKey, createPublicKey(iadvizeKey)).open(token, brandKey, { issuer });
      out(`${Mark.ok} iAdvize would accept this token for user id ${JSON.stringify(opened.userId)}`);
      return ExitCode.Ok;
    } catch (e) {
      if (e instanceof FakeIAdvizeError) return problem(`iAdvize would refuse this token: ${e.message}`);
      throw e;
    }
  },
};
