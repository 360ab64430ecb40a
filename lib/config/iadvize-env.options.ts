import { InvalidOptionsError } from '../errors.js';
import { DEFAULT_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS, MIN_TOKEN_TTL_SECONDS } from '../iadvize.constants.js';
import type { IAdvizeAuthOptions, SigningKeyOption, SigningKeyScheduleOption } from '../options/iadvize-auth.options.js';
import { MAX_SIGNING_TIMEOUT_MS, MIN_SIGNING_TIMEOUT_MS } from '../options/option.defaults.js';
import type { PublicKeyInput } from '../keys/public-key-input.js';
import { looksLikePath, quoteValue, redact, redactionVerdict } from '../redaction.js';
import { keyFilePathProblem, type LocalSigningOptions } from '../keys/local-key.provider.js';
import { MAX_SIGNING_THREADS } from '../keys/signing-thread.pool.js';
import { MAX_KEY_FILE_WATCH_INTERVAL_MS, MIN_KEY_FILE_WATCH_INTERVAL_MS } from '../keys/key-file-watch.js';
import { EnvConfiguredKeyProvider } from './env-key.provider.js';
import { issuerProblem } from '../token/issuer.js';

/**
 * Names of the environment variables the library reads.
 * @public
 */
export const IAdvizeEnv = {
  /** Required. The `iss` claim, e.g. `https://www.example.com`. */
  Issuer: 'IADVIZE_ISSUER',
  /** The brand's private key itself: PEM (real or literal `\n`), base64 of PEM or DER. */
  SigningKey: 'IADVIZE_SIGNING_KEY',
  /** Path of the brand's private key file (PEM or DER). Exclusive with `IADVIZE_SIGNING_KEY`. */
  SigningKeyFile: 'IADVIZE_SIGNING_KEY_FILE',
  /** Passphrase of an encrypted private key. */
  SigningKeyPassphrase: 'IADVIZE_SIGNING_KEY_PASSPHRASE',
  /**
   * A planned key rotation, instead of the two above: a JSON array of key
   * files and the instants they take over, e.g.
   * `[{"file":"keys/2026.pem"},{"file":"keys/2027.pem","from":"2027-01-15T09:00:00Z"}]`.
   */
  SigningKeySchedule: 'IADVIZE_SIGNING_KEY_SCHEDULE',
  /** `true`: reload key files without a restart when they change (Kubernetes secret, Vault Agent). Default: `false`. */
  SigningKeyWatch: 'IADVIZE_SIGNING_KEY_WATCH',
  /** How often watched key files are checked, in ms, 100..3600000. Default: 2000. */
  SigningKeyWatchMs: 'IADVIZE_SIGNING_KEY_WATCH_MS',
  /** Optional check: the public key registered with iAdvize (PEM or base64 body). */
  SigningPublicKey: 'IADVIZE_SIGNING_PUBLIC_KEY',
  /** Optional check: path of the public key registered with iAdvize. */
  SigningPublicKeyFile: 'IADVIZE_SIGNING_PUBLIC_KEY_FILE',
  /** iAdvize's public key (PEM or base64 body). Default: iAdvize's production key. */
  PublicKey: 'IADVIZE_PUBLIC_KEY',
  /** Path of iAdvize's public key. Default: iAdvize's production key. */
  PublicKeyFile: 'IADVIZE_PUBLIC_KEY_FILE',
  /** Token lifetime in seconds, 10..3600. Default: 60. */
  TokenTtlSeconds: 'IADVIZE_TOKEN_TTL_SECONDS',
  /** Deadline of one remote (KMS/HSM) signature in ms, 100..60000. Default: 5000. */
  SigningTimeoutMs: 'IADVIZE_SIGNING_TIMEOUT_MS',
  /**
   * Threads dedicated to RSA signing with the key above (`signingThreads`), 0..16;
   * `0` signs on libuv's thread pool. Default: the number of cores, at most 4.
   */
  SigningThreads: 'IADVIZE_SIGNING_THREADS',
} as const;

/**
 * One of the {@link IAdvizeEnv} variable names.
 * @public
 */
export type IAdvizeEnvVariable = (typeof IAdvizeEnv)[keyof typeof IAdvizeEnv];

/**
 * Description of a variable, for tools (`iadvize-auth doctor`) and docs.
 * @public
 */
export interface IAdvizeEnvVariableInfo {
  /** The variable name. */
  readonly name: IAdvizeEnvVariable;
  /** The module option it feeds. */
  readonly option: keyof IAdvizeAuthOptions;
  /** `true` when its value must never be printed (a private key or passphrase). */
  readonly secret: boolean;
}

/**
 * Every variable the library reads, with the option it feeds.
 * @public
 */
export const IADVIZE_ENV_VARIABLES: readonly IAdvizeEnvVariableInfo[] = [
  { name: IAdvizeEnv.Issuer, option: 'issuer', secret: false },
  { name: IAdvizeEnv.SigningKey, option: 'signingKey', secret: true },
  { name: IAdvizeEnv.SigningKeyFile, option: 'signingKey', secret: false },
  { name: IAdvizeEnv.SigningKeyPassphrase, option: 'signingKey', secret: true },
  { name: IAdvizeEnv.SigningKeySchedule, option: 'signingKey', secret: false },
  { name: IAdvizeEnv.SigningKeyWatch, option: 'signingKey', secret: false },
  { name: IAdvizeEnv.SigningKeyWatchMs, option: 'signingKey', secret: false },
  { name: IAdvizeEnv.SigningPublicKey, option: 'signingPublicKey', secret: false },
  { name: IAdvizeEnv.SigningPublicKeyFile, option: 'signingPublicKey', secret: false },
  { name: IAdvizeEnv.PublicKey, option: 'iadvizePublicKey', secret: false },
  { name: IAdvizeEnv.PublicKeyFile, option: 'iadvizePublicKey', secret: false },
  { name: IAdvizeEnv.TokenTtlSeconds, option: 'tokenTtlSeconds', secret: false },
  { name: IAdvizeEnv.SigningTimeoutMs, option: 'signingTimeoutMs', secret: false },
  { name: IAdvizeEnv.SigningThreads, option: 'signingKey', secret: false },
];

/**
 * A record of environment variables, like `process.env`.
 * @public
 */
export type EnvRecord = Record<string, string | undefined>;

/**
 * Options of {@link iadvizeAuthOptionsFromEnv}.
 * @public
 */
export interface IAdvizeEnvOptions {
  /**
   * The signing key, given in code (e.g. a KMS or HSM provider, or a
   * `{ schedule }` of them). When set, `IADVIZE_SIGNING_KEY`,
   * `IADVIZE_SIGNING_KEY_FILE` and `IADVIZE_SIGNING_KEY_SCHEDULE` must be unset.
   * Default: read the key from the environment.
   */
  signingKey?: SigningKeyOption | SigningKeyScheduleOption;
}

/** The value of a variable, or `undefined` when unset or blank. */
function read(env: EnvRecord, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

/**
 * A problem when a variable (or schedule entry) meant to hold a key file's
 * path does not: the shared key file path rule ({@link keyFilePathProblem}),
 * with the variable's name and, when a key was put there, where the key itself
 * goes. The value is described, never shown.
 */
function keyInPathVariable(name: string, value: unknown, keyVariable: string, problems: string[]): boolean {
  const problem = keyFilePathProblem(value);
  if (problem === undefined) return false;
  const hint = typeof value === 'string' && value.trim() !== '' ? `; put the key itself in ${keyVariable}, or its path here` : '';
  problems.push(`${name}: ${problem}${hint}`);
  return true;
}

/** A problem when a variable meant to hold a key holds a file path instead (the path is not repeated). */
function pathInKeyVariable(name: string, value: string, fileVariable: string, problems: string[]): boolean {
  if (!looksLikePath(value)) return false;
  problems.push(`${name}: holds what looks like a file path, not a key; set ${fileVariable} to the path instead (and unset ${name})`);
  return true;
}

function wholeNumber(
  env: EnvRecord,
  name: string,
  min: number,
  max: number,
  unit: string,
  hint: string,
  problems: string[],
): number | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  const value = raw.trim();
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    problems.push(`${name}: must be a whole number of ${unit} from ${min} to ${max} (got ${quoteValue(value)})${hint}`);
    return undefined;
  }
  return Number(value);
}

/** `IADVIZE_SIGNING_KEY_WATCH` (and its interval): watch settings, or `undefined` when off. */
function watchFromEnv(env: EnvRecord, problems: string[]): { intervalMs?: number } | undefined {
  const raw = read(env, IAdvizeEnv.SigningKeyWatch)?.trim().toLowerCase();
  const intervalMs = wholeNumber(env, IAdvizeEnv.SigningKeyWatchMs, MIN_KEY_FILE_WATCH_INTERVAL_MS, MAX_KEY_FILE_WATCH_INTERVAL_MS, 'milliseconds', '', problems);
  if (raw === undefined || raw === 'false') return undefined;
  if (raw !== 'true') {
    problems.push(`${IAdvizeEnv.SigningKeyWatch}: must be true or false`);
    return undefined;
  }
  return { intervalMs };
}

const SCHEDULE_EXAMPLE = '[{"file":"keys/brand-2026.pem"},{"file":"keys/brand-2027.pem","from":"2027-01-15T09:00:00Z"}]';

/**
 * `IADVIZE_SIGNING_KEY_SCHEDULE`: a JSON array of `{ "file", "from"? }`
 * (key files only: no key material in a variable that is printed). The
 * instants are checked by `resolveIAdvizeAuthOptions`, like any schedule.
 */
function scheduleFromEnv(
  value: string,
  passphrase: string | undefined,
  watch: { intervalMs?: number } | undefined,
  signing: LocalSigningOptions,
  problems: string[],
): SigningKeyScheduleOption | undefined {
  const name = IAdvizeEnv.SigningKeySchedule;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    problems.push(`${name}: is not valid JSON; give an array of key files and instants, e.g. ${SCHEDULE_EXAMPLE}`);
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    problems.push(`${name}: must be a non-empty JSON array, e.g. ${SCHEDULE_EXAMPLE}`);
    return undefined;
  }
  const schedule: SigningKeyScheduleOption['schedule'] = [];
  parsed.forEach((entry: unknown, i) => {
    const where = `${name}[${i}]`;
    const e = entry as Record<string, unknown>;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry) || Object.keys(e).some((k) => k !== 'file' && k !== 'from')) {
      problems.push(`${where}: must be an object with "file" and, except for the first, "from", e.g. {"file":"keys/brand-2027.pem","from":"2027-01-15T09:00:00Z"}`);
      return;
    }
    if (keyInPathVariable(`${where}.file`, e.file, IAdvizeEnv.SigningKey, problems) || typeof e.file !== 'string') return;
    if (e.from !== undefined && typeof e.from !== 'string') {
      problems.push(`${where}.from: must be an ISO 8601 date-time string with a time zone, e.g. "2027-01-15T09:00:00Z"`);
      return;
    }
    // The entry's place shows in the option path of any problem (signingKey.schedule[i].key) and in doctor's list.
    const key = new EnvConfiguredKeyProvider({ kind: 'file', variable: name, file: e.file.trim() }, passphrase, IAdvizeEnv.SigningKeyPassphrase, watch, signing);
    schedule.push(e.from === undefined ? { key } : { key, from: e.from });
  });
  return { schedule };
}

/**
 * A public key from a pair of variables (value or file). Values read from
 * `process.env` itself are passed as `{ env }` so that load errors name the
 * variable; values from another record are passed inline.
 */
function publicKey(env: EnvRecord, valueName: string, fileName: string, problems: string[]): PublicKeyInput | undefined {
  const value = read(env, valueName);
  const file = read(env, fileName);
  if (value !== undefined && file !== undefined) {
    problems.push(`${valueName} and ${fileName}: both are set; keep only one`);
    return undefined;
  }
  if (file !== undefined) return keyInPathVariable(fileName, file, valueName, problems) ? undefined : { file: file.trim() };
  if (value !== undefined && pathInKeyVariable(valueName, value, fileName, problems)) return undefined;
  if (value !== undefined) return env === process.env ? { env: valueName } : value;
  return undefined;
}

/**
 * Builds the module options from environment variables, the way a
 * twelve-factor deployment configures the module:
 *
 * | variable | option |
 * |---|---|
 * | `IADVIZE_ISSUER` (required) | `issuer` |
 * | `IADVIZE_SIGNING_KEY` or `IADVIZE_SIGNING_KEY_FILE` (one required), `IADVIZE_SIGNING_KEY_PASSPHRASE` | `signingKey` |
 * | or `IADVIZE_SIGNING_KEY_SCHEDULE` (JSON: `[{"file"}, {"file", "from"}]`) | `signingKey: { schedule }` |
 * | `IADVIZE_SIGNING_KEY_WATCH` (`true`/`false`), `IADVIZE_SIGNING_KEY_WATCH_MS` | `watch` on the key file(s) |
 * | `IADVIZE_SIGNING_PUBLIC_KEY` or `IADVIZE_SIGNING_PUBLIC_KEY_FILE` | `signingPublicKey` (optional check) |
 * | `IADVIZE_PUBLIC_KEY` or `IADVIZE_PUBLIC_KEY_FILE` | `iadvizePublicKey` (default: iAdvize's production key) |
 * | `IADVIZE_TOKEN_TTL_SECONDS` | `tokenTtlSeconds` (default 60) |
 * | `IADVIZE_SIGNING_TIMEOUT_MS` | `signingTimeoutMs` (default 5000) |
 * | `IADVIZE_SIGNING_THREADS` | `signingThreads` of the key above (default: cores, at most 4; `0`: libuv's pool) |
 *
 * It only reads variables (no file I/O): keys are loaded, checked and
 * self-tested by the module at startup (`resolveIAdvizeAuthOptions`). Blank
 * variables count as unset. Every problem found in the variables is reported
 * at once in one {@link InvalidOptionsError} naming each variable; no message
 * contains a key or passphrase.
 *
 * @param env the variables to read. Default: `process.env`.
 * @param options e.g. a signing key given in code (a KMS provider)
 * @throws InvalidOptionsError listing every problem
 * @public
 */
export function iadvizeAuthOptionsFromEnv(env: EnvRecord = process.env, options: IAdvizeEnvOptions = {}): IAdvizeAuthOptions {
  const problems: string[] = [];

  const issuer = read(env, IAdvizeEnv.Issuer);
  if (issuer === undefined) {
    problems.push(`${IAdvizeEnv.Issuer}: is not set; set it to the "iss" your tokens carry, e.g. https://www.example.com`);
  } else {
    // The issuer rule of the options (lib/token/issuer.ts), reported against the variable; the value only as the redaction rule allows.
    const trimmed = issuer.trim();
    const problem = issuerProblem(trimmed);
    if (problem !== undefined) {
      problems.push(
        redactionVerdict(trimmed) !== undefined
          ? `${IAdvizeEnv.Issuer}: holds ${redact(trimmed)}, not an issuer; set it to the "iss" your tokens carry, e.g. https://www.example.com`
          : `${IAdvizeEnv.Issuer}: ${problem.slice('issuer: '.length)}`,
      );
    }
  }

  let signingKey: SigningKeyOption | SigningKeyScheduleOption | undefined;
  const keyValue = read(env, IAdvizeEnv.SigningKey);
  const keyFile = read(env, IAdvizeEnv.SigningKeyFile);
  const passphrase = env[IAdvizeEnv.SigningKeyPassphrase] === '' ? undefined : env[IAdvizeEnv.SigningKeyPassphrase];
  const scheduleValue = read(env, IAdvizeEnv.SigningKeySchedule);
  const watch = watchFromEnv(env, problems);
  if (watch !== undefined && keyFile === undefined && scheduleValue === undefined) {
    problems.push(`${IAdvizeEnv.SigningKeyWatch}: only key files can be watched; set ${IAdvizeEnv.SigningKeyFile} or ${IAdvizeEnv.SigningKeySchedule}, or unset it`);
  }
  const signingThreads = wholeNumber(
    env,
    IAdvizeEnv.SigningThreads,
    0,
    MAX_SIGNING_THREADS,
    'threads',
    `; 0 signs on libuv's thread pool, unset for the default (the number of cores, at most 4)`,
    problems,
  );
  const signing: LocalSigningOptions = signingThreads === undefined ? {} : { signingThreads };
  if (options.signingKey !== undefined) {
    for (const [name, value] of [[IAdvizeEnv.SigningKey, keyValue], [IAdvizeEnv.SigningKeyFile, keyFile], [IAdvizeEnv.SigningKeySchedule, scheduleValue]] as const) {
      if (value !== undefined) problems.push(`${name}: is set, but the signing key is given in code; unset it so only one key is in play`);
    }
    if (read(env, IAdvizeEnv.SigningThreads) !== undefined) {
      problems.push(`${IAdvizeEnv.SigningThreads}: is set, but the signing key is given in code; set signingThreads on that key provider (local keys only), or unset it`);
    }
    signingKey = options.signingKey;
  } else if (scheduleValue !== undefined) {
    for (const [name, value] of [[IAdvizeEnv.SigningKey, keyValue], [IAdvizeEnv.SigningKeyFile, keyFile]] as const) {
      if (value !== undefined) problems.push(`${name}: is set, but so is ${IAdvizeEnv.SigningKeySchedule}; keep only the schedule (it lists every key file)`);
    }
    signingKey = scheduleFromEnv(scheduleValue, passphrase, watch, signing, problems);
  } else if (keyValue !== undefined && keyFile !== undefined) {
    problems.push(`${IAdvizeEnv.SigningKey} and ${IAdvizeEnv.SigningKeyFile}: both are set; keep only one (a file, e.g. a mounted secret, is preferred)`);
  } else if (keyValue === undefined && keyFile === undefined) {
    problems.push(
      `${IAdvizeEnv.SigningKeyFile}: is not set (nor ${IAdvizeEnv.SigningKey}); point it at the brand's PEM private key (create one with: npx iadvize-auth keygen)`,
    );
  } else if (keyFile !== undefined) {
    if (!keyInPathVariable(IAdvizeEnv.SigningKeyFile, keyFile, IAdvizeEnv.SigningKey, problems)) {
      signingKey = new EnvConfiguredKeyProvider(
        { kind: 'file', variable: IAdvizeEnv.SigningKeyFile, file: keyFile.trim() },
        passphrase,
        IAdvizeEnv.SigningKeyPassphrase,
        watch,
        signing,
      );
    }
  } else if (!pathInKeyVariable(IAdvizeEnv.SigningKey, keyValue as string, IAdvizeEnv.SigningKeyFile, problems)) {
    signingKey = new EnvConfiguredKeyProvider(
      { kind: 'env', variable: IAdvizeEnv.SigningKey, value: keyValue as string },
      passphrase,
      IAdvizeEnv.SigningKeyPassphrase,
      undefined,
      signing,
    );
  }

  const signingPublicKey = publicKey(env, IAdvizeEnv.SigningPublicKey, IAdvizeEnv.SigningPublicKeyFile, problems);
  const iadvizePublicKey = publicKey(env, IAdvizeEnv.PublicKey, IAdvizeEnv.PublicKeyFile, problems);
  const tokenTtlSeconds = wholeNumber(
    env,
    IAdvizeEnv.TokenTtlSeconds,
    MIN_TOKEN_TTL_SECONDS,
    MAX_TOKEN_TTL_SECONDS,
    'seconds',
    `; iAdvize recommends ${DEFAULT_TOKEN_TTL_SECONDS}`,
    problems,
  );
  const signingTimeoutMs = wholeNumber(env, IAdvizeEnv.SigningTimeoutMs, MIN_SIGNING_TIMEOUT_MS, MAX_SIGNING_TIMEOUT_MS, 'milliseconds', '', problems);

  if (problems.length > 0) throw new InvalidOptionsError(problems, 'iAdvize environment configuration');

  const result: IAdvizeAuthOptions = { issuer: (issuer as string).trim(), signingKey: signingKey as SigningKeyOption | SigningKeyScheduleOption };
  if (signingPublicKey !== undefined) result.signingPublicKey = signingPublicKey;
  if (iadvizePublicKey !== undefined) result.iadvizePublicKey = iadvizePublicKey;
  if (tokenTtlSeconds !== undefined) result.tokenTtlSeconds = tokenTtlSeconds;
  if (signingTimeoutMs !== undefined) result.signingTimeoutMs = signingTimeoutMs;
  return result;
}
