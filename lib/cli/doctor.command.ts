import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { IADVIZE_ENV_VARIABLES, IAdvizeEnv, iadvizeAuthOptionsFromEnv, type EnvRecord } from '../config/iadvize-env.options.js';
import { EnvConfiguredKeyProvider } from '../config/env-key.provider.js';
import { IAdvizeAuthError, InvalidOptionsError } from '../errors.js';
import { DEFAULT_TOKEN_TTL_SECONDS, IADVIZE_PRODUCTION_KEY_THUMBPRINT, JWE_ALGORITHM, JWE_CONTENT_TYPE, JWE_ENCRYPTION } from '../iadvize.constants.js';
import type { IAdvizeAuthOptions } from '../options/iadvize-auth.options.js';
import { resolveIAdvizeAuthOptions } from '../startup/resolve-options.js';
import type { ResolvedIAdvizeAuthConfig } from '../startup/resolved-config.js';
import { thumbprintOf } from '../keys/key-material.js';
import { formatInstant } from '../keys/key-schedule.js';
import { quoteValue, redact } from '../redaction.js';
import { FakeIAdvize, FakeIAdvizeError } from '../testing/fake-iadvize.js';
import { TokenService } from '../token/token.service.js';
import { docsPath, ExitCode, Mark, parseCommandArgs, type CliCommand, type CliContext, type ExitCodeValue } from './cli-context.js';

const HELP = `Usage: iadvize-auth doctor [--dotenv FILE] [--strict]

Checks the configuration the module would load from the environment
(IADVIZE_* variables), without starting your app:
  1. reads the variables exactly as iadvizeAuthOptionsFromEnv() does;
  2. loads and validates every key and runs the startup self-check, exactly as
     IAdvizeAuthModule does (resolveIAdvizeAuthOptions);
  3. signs a token and opens it as iAdvize would, against a throwaway iAdvize
     key, then encrypts one to the configured iAdvize key;
and prints the key thumbprints and which iAdvize key is in use (production or
custom). It never prints a key, a passphrase or a token.

Options:
  --dotenv FILE    Load variables from a .env file first (variables already set win)
  --strict         Treat warnings (custom iAdvize key, lax key file mode, long
                   token lifetime, a mistyped IADVIZE_* variable name) as
                   problems
  -h, --help       Show this help

Exit codes: 0 all checks passed, 1 a problem was found, 2 usage error.
Docs (the variables, and a troubleshooting table): ${docsPath('operations.md')}
`;

const USER_ID = 'iadvize-auth-doctor';
const KNOWN = new Set<string>(Object.values(IAdvizeEnv));
/**
 * `IADVIZE_*` names the docs and the sample use for the app's own settings
 * (read by the app, not by this library): never reported, even if a future
 * module variable comes close to one of them.
 */
const APP_VARIABLES = new Set<string>([
  'IADVIZE_SID', // sample: the iAdvize site id
  'IADVIZE_PLATFORM', // sample: host of the iAdvize tag
  'IADVIZE_KMS_KEY_ID', // docs/key-providers.md: a KMS key id read through ConfigService
  'IADVIZE_EVENTS_HASH_KEY', // docs/observability.md: userIdHashKey of the events
]);

/** Loads a .env file into `env` without overriding variables already set. */
function loadEnvFile(env: EnvRecord, file: string): void {
  const parsed = parseEnv(readFileSync(file, 'utf8'));
  for (const [key, value] of Object.entries(parsed)) if (env[key] === undefined && value !== undefined) env[key] = value;
}

function describeVariables(env: EnvRecord): string[] {
  const width = Math.max(...IADVIZE_ENV_VARIABLES.map((v) => v.name.length)) + 2;
  const lines: string[] = [];
  for (const { name, secret } of IADVIZE_ENV_VARIABLES) {
    const value = env[name];
    if (value === undefined || value.trim() === '') continue;
    let shown: string;
    if (secret) shown = '(set, hidden)';
    else if (name === IAdvizeEnv.SigningPublicKey || name === IAdvizeEnv.PublicKey) shown = '(set: a public key)';
    else shown = redact(value.trim());
    lines.push(`  ${name.padEnd(width)}${shown}`);
  }
  if (lines.length === 0) lines.push('  (no IADVIZE_* variable is set)');
  return lines;
}

/** Levenshtein distance, for "did you mean" hints on mistyped variable names. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** The known variable nearest to `name`, if it is close enough to be a typo. */
function closest(name: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const known of KNOWN) {
    const d = distance(name, known);
    if (d < bestDistance) [best, bestDistance] = [known, d];
  }
  return bestDistance <= 3 ? best : undefined;
}

/** A check failed; its message is ours and safe to print. */
class CheckFailed extends Error {}

function problemLines(e: unknown): string {
  if (e instanceof InvalidOptionsError || e instanceof IAdvizeAuthError || e instanceof FakeIAdvizeError || e instanceof CheckFailed) return e.message;
  return `unexpected ${(e as Error)?.name ?? 'error'}${(e as { code?: unknown })?.code ? ` (${String((e as { code?: unknown }).code)})` : ''}`;
}

/** `iadvize-auth doctor`: validates the environment configuration end to end. */
export const doctorCommand: CliCommand = {
  name: 'doctor',
  summary: 'check the environment configuration the module would load (never prints secrets)',
  help: HELP,
  async run(args: string[], ctx: CliContext): Promise<ExitCodeValue> {
    const { values } = parseCommandArgs(
      args,
      { dotenv: { type: 'string' }, strict: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      false,
    );
    if (values.help) {
      ctx.out(HELP);
      return ExitCode.Ok;
    }
    const strict = values.strict === true;
    const out = (line = '') => ctx.out(`${line}\n`);
    const warnings: string[] = [];
    const warn = (text: string) => {
      warnings.push(text);
      out(`${Mark.warn} ${text}`);
    };
    const fail = (step: string, e: unknown): ExitCodeValue => {
      out(`${Mark.fail} ${step}`);
      for (const line of problemLines(e).split('\n')) out(`       ${line}`);
      out('');
      out(`Problems found. "Troubleshooting" in ${docsPath('operations.md')} maps each one to a fix.`);
      ctx.err(`iadvize-auth doctor: ${step}: problems found (see the report above)\n`);
      return ExitCode.Problem;
    };

    // Not "--env-file": Node 20 reads that flag anywhere on the command line,
    // even after the script name, and exits 9 itself when the file is missing.
    const envFile = values.dotenv as string | undefined;
    if (envFile !== undefined) {
      try {
        loadEnvFile(ctx.env, resolve(ctx.cwd, envFile));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const where = isAbsolute(envFile) ? '' : ` (a relative path, resolved from the working directory ${JSON.stringify(ctx.cwd)})`;
        const step = `--dotenv ${quoteValue(envFile)}`;
        return fail(step, new CheckFailed(`${step} ${code === 'ENOENT' ? `does not exist${where}` : `cannot be read (${code ?? 'unknown error'})`}`));
      }
    }

    out('iadvize-auth doctor: checking the configuration IAdvizeAuthModule would load from the environment');
    out('');
    out('Environment:');
    for (const line of describeVariables(ctx.env)) out(line);
    out('');

    // Apps have IADVIZE_* settings of their own: only a likely typo of a
    // module variable is worth a warning (which --strict makes fatal).
    for (const name of Object.keys(ctx.env).filter((n) => n.startsWith('IADVIZE_') && !KNOWN.has(n) && !APP_VARIABLES.has(n)).sort()) {
      const near = closest(name);
      if (near !== undefined) warn(`${redact(name)} is not read by this library (did you mean ${near}?)`);
    }

    // 1. Variables → options, as iadvizeAuthConfig does.
    let options: IAdvizeAuthOptions;
    try {
      options = iadvizeAuthOptionsFromEnv(ctx.env);
    } catch (e) {
      return fail('environment variables', e);
    }
    out(`${Mark.ok} environment variables`);

    // 2. Keys and startup self-check, as IAdvizeAuthModule does.
    let config: ResolvedIAdvizeAuthConfig;
    try {
      config = await resolveIAdvizeAuthOptions(options);
    } catch (e) {
      return fail('keys and startup self-check', e);
    }
    try {
      out(`${Mark.ok} keys loaded and checked; the self-check signature verifies`);
      const provider = config.keyProvider;
      const bits = config.signingPublicKey.asymmetricKeyDetails?.modulusLength;
      out(`       signing key    ${provider.describe?.() ?? provider.kind}, RSA-${bits}`);
      out(`                      thumbprint ${config.signingKeyThumbprint}`);
      if (config.signingKeys.isDynamic) {
        out('       key schedule   (every replica switches at each instant by its own clock; watched files reload when they change)');
        for (const k of config.signingKeys.describe()) {
          const from = k.from === undefined ? 'from the start' : `from ${formatInstant(k.from)}`;
          out(`         ${from.padEnd(29)} ${k.state.padEnd(9)} ${k.description ?? k.source}${k.watched ? ', watched' : ''}${k.thumbprint ? `, thumbprint ${k.thumbprint}` : ''}`);
        }
      }
      if (options.signingPublicKey !== undefined) {
        out(`       registered key matches the signing key (${ctx.env[IAdvizeEnv.SigningPublicKeyFile] ? IAdvizeEnv.SigningPublicKeyFile : IAdvizeEnv.SigningPublicKey})`);
      } else {
        out(`${Mark.info} no ${IAdvizeEnv.SigningPublicKeyFile}: set it to the public key you gave iAdvize to catch key mix-ups at startup`);
      }
      if (config.usesProductionIAdvizeKey) {
        out(`       iAdvize key    production (thumbprint ${IADVIZE_PRODUCTION_KEY_THUMBPRINT})`);
      } else {
        out(`       iAdvize key    custom, from ${ctx.env[IAdvizeEnv.PublicKeyFile] ? IAdvizeEnv.PublicKeyFile : IAdvizeEnv.PublicKey} (thumbprint ${config.iadvizeKeyThumbprint})`);
        warn('tokens are encrypted to a custom iAdvize key, not the production one: right for a sandbox platform or tests, wrong in production');
      }
      out(`       issuer         ${redact(config.issuer)}`);
      out(`       token lifetime ${config.tokenTtlSeconds} s`);
      if (config.tokenTtlSeconds > 300) warn(`token lifetime ${config.tokenTtlSeconds} s; iAdvize recommends ${DEFAULT_TOKEN_TTL_SECONDS} s (a fresh token is fetched on every activation)`);
      if (provider instanceof EnvConfiguredKeyProvider && provider.kind === 'file' && process.platform !== 'win32') {
        const mode = statSync(resolve(ctx.cwd, provider.file as string)).mode & 0o777;
        if ((mode & 0o077) !== 0) {
          warn(`the private key file is readable by group or others (mode 0${mode.toString(8)}); run: chmod 600 ${quoteValue(provider.file)}`);
        }
      }

      // 3. Round trip against a throwaway iAdvize key; then one token to the configured key.
      const fake = await FakeIAdvize.create();
      const trial = new TokenService({
        ...config,
        tokenStore: undefined, // a fresh token, never one of the configured store's
        iadvizePublicKey: fake.publicKey,
        iadvizeKeyThumbprint: await thumbprintOf(fake.publicKey),
        usesProductionIAdvizeKey: false,
      });
      const { token } = await trial.createToken({ userId: USER_ID });
      const opened = await fake.open(token, config.signingPublicKey, { issuer: config.issuer });
      if (opened.userId !== USER_ID) throw new CheckFailed('the opened token carries another user id');
      out(`${Mark.ok} round trip: signed a token and opened it as iAdvize would (throwaway iAdvize key), ${token.length} characters`);
      const real = await new TokenService(config).createToken({ userId: USER_ID });
      const header = JSON.parse(Buffer.from(real.token.split('.')[0], 'base64url').toString('utf8')) as Record<string, unknown>;
      if (header.alg !== JWE_ALGORITHM || header.enc !== JWE_ENCRYPTION || header.cty !== JWE_CONTENT_TYPE || real.token.split('.').length !== 5) {
        throw new CheckFailed('the token for the configured iAdvize key is not an RSA-OAEP-256/A256GCM compact JWE');
      }
      out(`${Mark.ok} encrypted a token to the configured iAdvize key (only iAdvize can open it), ${real.token.length} characters`);
    } catch (e) {
      return fail('round trip', e);
    } finally {
      await config.signingKeys.close().catch(() => undefined);
    }

    out('');
    if (warnings.length > 0 && strict) {
      out(`${Mark.fail} ${warnings.length} warning${warnings.length === 1 ? '' : 's'} (--strict)`);
      ctx.err(`iadvize-auth doctor: ${warnings.length} warning${warnings.length === 1 ? '' : 's'} treated as problems (--strict)\n`);
      return ExitCode.Problem;
    }
    out(warnings.length > 0 ? `All checks passed, with ${warnings.length} warning${warnings.length === 1 ? '' : 's'}.` : 'All checks passed.');
    return ExitCode.Ok;
  },
};
