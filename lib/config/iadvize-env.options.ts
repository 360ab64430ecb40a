import { InvalidOptionsError } from '../errors.js';
import { DEFAULT_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS, MIN_TOKEN_TTL_SECONDS } from '../iadvize.constants.js';
import type { IAdvizeAuthOptions, SigningKeyOption } from '../iadvize-auth.options.js';
import type { PublicKeyInput } from '../keys/public-key-input.js';
import { looksLikePath, quoteValue, redact, redactionVerdict } from '../redaction.js';
import { EnvConfiguredKeyProvider } from './env-key.provider.js';

/** Names of the environment variables the library reads. */
export const IAdvizeEnv = {
  /** Required. The `iss` claim, e.g. `https://www.example.com`. */
  Issuer: 'IADVIZE_ISSUER',
  /** The brand's private key itself: PEM (real or literal `\n`), base64 of PEM or DER. */
  SigningKey: 'IADVIZE_SIGNING_KEY',
  /** Path of the brand's private key file (PEM or DER). Exclusive with `IADVIZE_SIGNING_KEY`. */
  SigningKeyFile: 'IADVIZE_SIGNING_KEY_FILE',
  /** Passphrase of an encrypted private key. */
  SigningKeyPassphrase: 'IADVIZE_SIGNING_KEY_PASSPHRASE',
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
} as const;

/** One of the {@link IAdvizeEnv} variable names. */
export type IAdvizeEnvVariable = (typeof IAdvizeEnv)[keyof typeof IAdvizeEnv];

/** Description of a variable, for tools (`iadvize-auth doctor`) and docs. */
export interface IAdvizeEnvVariableInfo {
  /** The variable name. */
  readonly name: IAdvizeEnvVariable;
  /** The module option it feeds. */
  readonly option: keyof IAdvizeAuthOptions;
  /** `true` when its value must never be printed (a private key or passphrase). */
  readonly secret: boolean;
}

/** Every variable the library reads, with the option it feeds. */
export const IADVIZE_ENV_VARIABLES: readonly IAdvizeEnvVariableInfo[] = [
  { name: IAdvizeEnv.Issuer, option: 'issuer', secret: false },
  { name: IAdvizeEnv.SigningKey, option: 'signingKey', secret: true },
  { name: IAdvizeEnv.SigningKeyFile, option: 'signingKey', secret: false },
  { name: IAdvizeEnv.SigningKeyPassphrase, option: 'signingKey', secret: true },
  { name: IAdvizeEnv.SigningPublicKey, option: 'signingPublicKey', secret: false },
  { name: IAdvizeEnv.SigningPublicKeyFile, option: 'signingPublicKey', secret: false },
  { name: IAdvizeEnv.PublicKey, option: 'iadvizePublicKey', secret: false },
  { name: IAdvizeEnv.PublicKeyFile, option: 'iadvizePublicKey', secret: false },
  { name: IAdvizeEnv.TokenTtlSeconds, option: 'tokenTtlSeconds', secret: false },
  { name: IAdvizeEnv.SigningTimeoutMs, option: 'signingTimeoutMs', secret: false },
];

/** A record of environment variables, like `process.env`. */
export type EnvRecord = Record<string, string | undefined>;

/** Options of {@link iadvizeAuthOptionsFromEnv}. */
export interface IAdvizeEnvOptions {
  /**
   * The signing key, given in code (e.g. a KMS or HSM provider). When set,
   * `IADVIZE_SIGNING_KEY` and `IADVIZE_SIGNING_KEY_FILE` must be unset.
   * Default: read the key from the environment.
   */
  signingKey?: SigningKeyOption;
}

/** The value of a variable, or `undefined` when unset or blank. */
function read(env: EnvRecord, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

/**
 * A problem when a variable meant to hold a path holds key material instead
 * (a PEM, a JWK, base64, several lines): the value is described, never shown.
 */
function keyInPathVariable(name: string, value: string, keyVariable: string, problems: string[]): boolean {
  const verdict = redactionVerdict(value.trim());
  if (verdict === undefined || !['key', 'json', 'multi-line'].includes(verdict.category)) return false;
  problems.push(`${name}: holds ${redact(value.trim())}, not a file path; put the key itself in ${keyVariable}, or its path here`);
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
 * | `IADVIZE_SIGNING_PUBLIC_KEY` or `IADVIZE_SIGNING_PUBLIC_KEY_FILE` | `signingPublicKey` (optional check) |
 * | `IADVIZE_PUBLIC_KEY` or `IADVIZE_PUBLIC_KEY_FILE` | `iadvizePublicKey` (default: iAdvize's production key) |
 * | `IADVIZE_TOKEN_TTL_SECONDS` | `tokenTtlSeconds` (default 60) |
 * | `IADVIZE_SIGNING_TIMEOUT_MS` | `signingTimeoutMs` (default 5000) |
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
 */
export function iadvizeAuthOptionsFromEnv(env: EnvRecord = process.env, options: IAdvizeEnvOptions = {}): IAdvizeAuthOptions {
  const problems: string[] = [];

  const issuer = read(env, IAdvizeEnv.Issuer);
  if (issuer === undefined) {
    problems.push(`${IAdvizeEnv.Issuer}: is not set; set it to the "iss" your tokens carry, e.g. https://www.example.com`);
  } else if (redactionVerdict(issuer.trim()) !== undefined) {
    // The issuer is public (every token carries it): a value that looks like a key or credential is a mistake.
    problems.push(`${IAdvizeEnv.Issuer}: holds ${redact(issuer.trim())}, not an issuer; set it to the "iss" your tokens carry, e.g. https://www.example.com`);
  }

  let signingKey: SigningKeyOption | undefined;
  const keyValue = read(env, IAdvizeEnv.SigningKey);
  const keyFile = read(env, IAdvizeEnv.SigningKeyFile);
  const passphrase = env[IAdvizeEnv.SigningKeyPassphrase] === '' ? undefined : env[IAdvizeEnv.SigningKeyPassphrase];
  if (options.signingKey !== undefined) {
    for (const [name, value] of [[IAdvizeEnv.SigningKey, keyValue], [IAdvizeEnv.SigningKeyFile, keyFile]] as const) {
      if (value !== undefined) problems.push(`${name}: is set, but the signing key is given in code; unset it so only one key is in play`);
    }
    signingKey = options.signingKey;
  } else if (keyValue !== undefined && keyFile !== undefined) {
    problems.push(`${IAdvizeEnv.SigningKey} and ${IAdvizeEnv.SigningKeyFile}: both are set; keep only one (a file, e.g. a mounted secret, is preferred)`);
  } else if (keyValue === undefined && keyFile === undefined) {
    problems.push(
      `${IAdvizeEnv.SigningKeyFile}: is not set (nor ${IAdvizeEnv.SigningKey}); point it at the brand's PEM private key (create one with: npx iadvize-auth keygen)`,
    );
  } else if (keyFile !== undefined) {
    if (!keyInPathVariable(IAdvizeEnv.SigningKeyFile, keyFile, IAdvizeEnv.SigningKey, problems)) {
      signingKey = new EnvConfiguredKeyProvider({ kind: 'file', variable: IAdvizeEnv.SigningKeyFile, file: keyFile.trim() }, passphrase, IAdvizeEnv.SigningKeyPassphrase);
    }
  } else if (!pathInKeyVariable(IAdvizeEnv.SigningKey, keyValue as string, IAdvizeEnv.SigningKeyFile, problems)) {
    signingKey = new EnvConfiguredKeyProvider({ kind: 'env', variable: IAdvizeEnv.SigningKey, value: keyValue as string }, passphrase, IAdvizeEnv.SigningKeyPassphrase);
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
  const signingTimeoutMs = wholeNumber(env, IAdvizeEnv.SigningTimeoutMs, 100, 60_000, 'milliseconds', '', problems);

  if (problems.length > 0) throw new InvalidOptionsError(problems, 'iAdvize environment configuration');

  const result: IAdvizeAuthOptions = { issuer: (issuer as string).trim(), signingKey: signingKey as SigningKeyOption };
  if (signingPublicKey !== undefined) result.signingPublicKey = signingPublicKey;
  if (iadvizePublicKey !== undefined) result.iadvizePublicKey = iadvizePublicKey;
  if (tokenTtlSeconds !== undefined) result.tokenTtlSeconds = tokenTtlSeconds;
  if (signingTimeoutMs !== undefined) result.signingTimeoutMs = signingTimeoutMs;
  return result;
}
