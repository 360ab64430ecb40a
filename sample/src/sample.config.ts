import { isAbsolute, relative, resolve } from 'node:path';
import type { IAdvizeAuthOptions } from 'nestjs-iadvize-auth';
import { IAdvizeEnv, iadvizeAuthOptionsFromEnv, type EnvRecord } from 'nestjs-iadvize-auth/config';
import type { FakeIAdvize } from 'nestjs-iadvize-auth/testing';
import { loadOrCreateDevKeyPair } from './dev-keys.util.js';
import { DEFAULT_KEYS_DIR, SAMPLE_ROOT } from './sample-paths.js';
import { DEMO_USERS } from './users/demo-users.js';

/** Injection token of the {@link SampleConfig}. */
export const SAMPLE_CONFIG = Symbol.for('nestjs-iadvize-auth-sample:config');

/**
 * - `demo`: no iAdvize account needed; the app plays iAdvize locally with the
 *   testing kit (`FakeIAdvize`) and serves a stand-in of the iAdvize web tag.
 * - `real`: `IADVIZE_SID` is set; the page loads the real iAdvize tag and
 *   tokens are encrypted to iAdvize's production key (or `IADVIZE_PUBLIC_KEY`).
 */
export type SampleMode = 'demo' | 'real';

/** Everything the sample app needs, read once from the environment. */
export interface SampleConfig {
  readonly mode: SampleMode;
  /** Listening port. `PORT`, default 3000 (0 = any free port). */
  readonly port: number;
  /** Listening address. `HOST`, default `127.0.0.1` (the demo users' passwords are public: stay local). */
  readonly host: string;
  /**
   * Options of `IAdvizeAuthModule.forRoot()`, from `iadvizeAuthOptionsFromEnv()`
   * (`IADVIZE_ISSUER`, default `https://sample.brand.example`;
   * `IADVIZE_SIGNING_KEY(_FILE)`, else a generated development key;
   * `IADVIZE_PUBLIC_KEY(_FILE)` in real mode, the fake iAdvize key in demo mode;
   * `IADVIZE_TOKEN_TTL_SECONDS`…).
   */
  readonly iadvizeOptions: IAdvizeAuthOptions;
  /** Human description of where the signing key comes from (no key material). */
  readonly signingKeySource: string;
  /** Demo mode only: the local stand-in for iAdvize's servers. */
  readonly fakeIAdvize?: FakeIAdvize;
  /** Real mode only: the iAdvize site id (`IADVIZE_SID`). */
  readonly sid?: string;
  /** Host of the iAdvize tag script (`IADVIZE_PLATFORM`), default `halc.iadvize.com`. */
  readonly platform: string;
  /** Add `Secure` to the session cookie (`SAMPLE_SECURE_COOKIE=true`; turn it on behind HTTPS). */
  readonly secureCookie: boolean;
  /** Session lifetime in seconds (`SAMPLE_SESSION_TTL_SECONDS`), default 8 hours. */
  readonly sessionTtlSeconds: number;
  /** Folder of the development keys (`SAMPLE_KEYS_DIR`), default `sample/.keys`. */
  readonly keysDir: string;
  /** Messages for the console, each a list of lines; `loud` ones are throwaway-key warnings. */
  readonly notices: ReadonlyArray<{ readonly loud: boolean; readonly lines: readonly string[] }>;
}

/** `iss` of the sample's tokens when `IADVIZE_ISSUER` is not set. */
export const DEFAULT_ISSUER = 'https://sample.brand.example';

/** The iAdvize platform host whose tag script the page loads in real mode by default. */
export const DEFAULT_IADVIZE_PLATFORM = 'halc.iadvize.com';

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name}: must be a whole number from ${min} to ${max} (got "${raw}")`);
  }
  return value;
}

function boolFromEnv(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '' || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') return true;
  throw new Error(`${name}: must be "true" or "false" (got "${env[name]}")`);
}

/** A path shown relative to the sample folder when it is inside it (shorter, no home directory in logs). */
function displayPath(path: string): string {
  const rel = relative(resolve(SAMPLE_ROOT, '..'), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

function nonEmpty(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value !== undefined && value.trim() !== '' ? value : undefined;
}

/**
 * Reads the sample's configuration from the environment, generating the
 * development keys it needs on first run. Configured keys always win over
 * generated ones.
 *
 * The library's own variables (`IADVIZE_ISSUER`, `IADVIZE_SIGNING_KEY(_FILE)`,
 * `IADVIZE_PUBLIC_KEY(_FILE)`, `IADVIZE_TOKEN_TTL_SECONDS`, …) are read by
 * `iadvizeAuthOptionsFromEnv()` from `nestjs-iadvize-auth/config`; the rest
 * (`PORT`, `HOST`, `IADVIZE_SID`, `IADVIZE_PLATFORM`, `SAMPLE_*`) are the sample's.
 */
export async function loadSampleConfig(env: NodeJS.ProcessEnv = process.env): Promise<SampleConfig> {
  const notices: Array<{ loud: boolean; lines: string[] }> = [];
  const port = intFromEnv(env, 'PORT', 3000, 0, 65535);
  const host = nonEmpty(env, 'HOST') ?? '127.0.0.1';
  const keysDir = resolve(nonEmpty(env, 'SAMPLE_KEYS_DIR') ?? DEFAULT_KEYS_DIR);
  const sessionTtlSeconds = intFromEnv(env, 'SAMPLE_SESSION_TTL_SECONDS', 8 * 3600, 60, 30 * 24 * 3600);
  const secureCookie = boolFromEnv(env, 'SAMPLE_SECURE_COOKIE');

  const sid = nonEmpty(env, 'IADVIZE_SID')?.trim();
  if (sid !== undefined && !/^[0-9]{1,12}$/.test(sid)) {
    throw new Error(`IADVIZE_SID: must be your numeric iAdvize site id (see the Code page of the iAdvize admin), got "${sid}"`);
  }
  const mode: SampleMode = sid === undefined ? 'demo' : 'real';
  const platform = (nonEmpty(env, 'IADVIZE_PLATFORM') ?? DEFAULT_IADVIZE_PLATFORM).trim().toLowerCase();
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(platform)) {
    throw new Error(`IADVIZE_PLATFORM: must be a host name such as "${DEFAULT_IADVIZE_PLATFORM}", without scheme or path (got "${platform}")`);
  }

  // --- The library's options, from the same environment variables a deployment would use. ---
  // Configured keys win: the development key is generated only when neither
  // IADVIZE_SIGNING_KEY nor IADVIZE_SIGNING_KEY_FILE is set.
  const libraryEnv: EnvRecord = nonEmpty(env, IAdvizeEnv.Issuer) !== undefined ? env : { ...env, [IAdvizeEnv.Issuer]: DEFAULT_ISSUER };
  const keyConfigured = nonEmpty(env, IAdvizeEnv.SigningKey) !== undefined || nonEmpty(env, IAdvizeEnv.SigningKeyFile) !== undefined;
  let iadvizeOptions: IAdvizeAuthOptions;
  let signingKeySource: string;
  if (keyConfigured) {
    iadvizeOptions = iadvizeAuthOptionsFromEnv(libraryEnv);
    signingKeySource = nonEmpty(env, IAdvizeEnv.SigningKey) !== undefined
      ? `environment variable ${IAdvizeEnv.SigningKey}`
      : `file ${env[IAdvizeEnv.SigningKeyFile]?.trim()} (${IAdvizeEnv.SigningKeyFile})`;
  } else {
    const dev = await loadOrCreateDevKeyPair(keysDir, 'brand-signing');
    iadvizeOptions = iadvizeAuthOptionsFromEnv(libraryEnv, { signingKey: { file: dev.privateKeyPath } });
    signingKeySource = `development key ${displayPath(dev.privateKeyPath)}`;
    notices.push({
      loud: true,
      lines: [
        dev.created
          ? `GENERATED A THROWAWAY DEVELOPMENT SIGNING KEY PAIR (neither ${IAdvizeEnv.SigningKey} nor ${IAdvizeEnv.SigningKeyFile} is set):`
          : 'USING THE THROWAWAY DEVELOPMENT SIGNING KEY PAIR generated on an earlier run:',
        `  private key: ${displayPath(dev.privateKeyPath)}`,
        `  public key:  ${displayPath(dev.publicKeyPath)}`,
        'These keys are for local development ONLY. Never use them in production,',
        'never commit them (the folder is git-ignored), never register them with a',
        'production iAdvize site. For real use, keep the brand key in your secret',
        `store or KMS and set ${IAdvizeEnv.SigningKeyFile} or ${IAdvizeEnv.SigningKey}.`,
        ...(mode === 'real'
          ? ['REAL MODE: iAdvize refuses these tokens unless this public key is the one registered for your site.']
          : []),
      ],
    });
  }

  // --- The key tokens are encrypted to. ---
  let fakeIAdvize: FakeIAdvize | undefined;
  if (mode === 'demo') {
    // Demo mode: the app plays iAdvize with a key pair of its own, kept on disk so restarts are stable.
    // The testing kit is loaded only in demo mode: a production build never needs it.
    const { FakeIAdvize } = await import('nestjs-iadvize-auth/testing');
    const fake = await loadOrCreateDevKeyPair(keysDir, 'fake-iadvize');
    fakeIAdvize = FakeIAdvize.fromKeyPair(fake.privateKey, fake.publicKey);
    const ignored = iadvizeOptions.iadvizePublicKey !== undefined;
    iadvizeOptions = { ...iadvizeOptions, iadvizePublicKey: fakeIAdvize.publicKeyPem };
    notices.push({
      loud: false,
      lines: [
        'DEMO MODE (IADVIZE_SID is not set): the app plays iAdvize locally with the testing kit.',
        `  Fake iAdvize key pair: ${displayPath(fake.privateKeyPath)} (throwaway, demo only).`,
        ...(ignored ? [`  ${IAdvizeEnv.PublicKey}(_FILE) is ignored in demo mode: tokens go to the fake iAdvize key.`] : []),
        '  Set IADVIZE_SID=<your site id> to load the real iAdvize tag instead.',
      ],
    });
  } else {
    notices.push({
      loud: false,
      lines: [
        `REAL MODE: iAdvize site ${sid}, tag https://${platform}/iadvize.js`,
        `  Tokens are encrypted to ${iadvizeOptions.iadvizePublicKey === undefined ? "iAdvize's production key (the library default)" : `the key of ${IAdvizeEnv.PublicKey}(_FILE)`}.`,
      ],
    });
  }

  notices.push({
    loud: false,
    lines: [
      'Demo users (passwords are public, this is a demo):',
      ...DEMO_USERS.map((u) => `  ${u.username.padEnd(8)} password: ${u.password}`),
    ],
  });

  return {
    mode,
    port,
    host,
    iadvizeOptions,
    signingKeySource,
    fakeIAdvize,
    sid,
    platform,
    secureCookie,
    sessionTtlSeconds,
    keysDir,
    notices,
  };
}
