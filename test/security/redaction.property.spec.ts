/**
 * The redaction rule, as a property: a secret (private key in any encoding,
 * passphrase, cloud or Vault credential, random high-entropy string) pasted
 * into ANY module option, ANY environment variable the library reads and ANY
 * flag of ANY CLI command never comes back out, whole or in part (any
 * 16-character piece of it or of its base64 body): not in an error message,
 * a log line, stdout or stderr (in process and of the built binary), an HTTP
 * body, nor a token's claims (`iss`).
 *
 * The lists are taken from their sources of truth so that a new option,
 * variable or flag is covered, or fails here, without editing this file:
 * - module options: the "known" list `resolveIAdvizeAuthOptions` reports
 *   (each must have a way to inject a secret below, or the coverage test fails);
 * - environment variables: `IADVIZE_ENV_VARIABLES`;
 * - CLI flags: the "Options:" section of each command's `--help`, for every
 *   command of `CLI_COMMANDS`.
 *
 * fast-check's seed is fixed under CI (test/jest/setup.ts).
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { compactDecrypt } from 'jose';
import fc from 'fast-check';
import {
  IAdvizeAuthModule,
  TokenService,
  type KeyProvider,
} from '../../lib/index.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import { IADVIZE_ENV_VARIABLES, IAdvizeEnv, iadvizeAuthConfig, iadvizeAuthOptionsFromEnv } from '../../lib/config/index.js';
import { CLI_COMMANDS, runCli as runCliInProcess } from '../../lib/cli/cli.runner.js';
import type { FakeIAdvize } from '../../lib/testing/index.js';
import { RedisTokenStore } from '../../lib/redis/index.js';
import { requireBuiltCli, runCli as runBinary } from '../support/cli-runner.js';
import { authTestBrandKey, authTestSetup } from '../support/auth-module.js';
import { tempDir, type TestKeyPair } from '../support/keys.js';
import { PLATFORMS } from '../support/platforms.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { captureProcessOutput, LeakCorpus } from '../support/leak-scanner.js';
import { pastedSecret, secretSeedArb, SECRET_KINDS, SecretNeedles, type PastedSecret } from '../support/pasted-secrets.js';
import { signedInGuard } from '../support/test-guards.js';

const ISSUER = 'https://brand.example';
const PASSPHRASE = 'brand passphrase 42';
const ENV_KEY = 'IADVIZE_REDACTION_SPEC_KEY';
const ENV_ENCRYPTED = 'IADVIZE_REDACTION_SPEC_ENCRYPTED';
const ENV_PASS = 'IADVIZE_REDACTION_SPEC_PASS';
const ENV_PUBLIC = 'IADVIZE_REDACTION_SPEC_PUBLIC';

let brand: TestKeyPair;
let iadvize: FakeIAdvize;
let dir: string;
let cleanup: () => void;
let files: { key: string; pub: string; iadvize: string; iadvizePrivate: string; encrypted: string };
let encryptedPem: string;
/** A valid environment configuration (files), as a deployment would have. */
let goodEnv: Record<string, string>;
/** A token minted for FakeIAdvize, for `inspect`. */
let token: string;

beforeAll(async () => {
  const setup = await authTestSetup(ISSUER);
  brand = authTestBrandKey(setup);
  iadvize = setup.iadvize;
  ({ dir, cleanup } = tempDir());
  encryptedPem = brand.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: PASSPHRASE }).toString();
  files = {
    key: join(dir, 'brand.pem'),
    pub: join(dir, 'brand-public.pem'),
    iadvize: join(dir, 'iadvize-public.pem'),
    iadvizePrivate: join(dir, 'iadvize-private.pem'),
    encrypted: join(dir, 'encrypted.pem'),
  };
  writeFileSync(files.key, brand.privatePem, { mode: 0o600 });
  writeFileSync(files.pub, brand.publicPem);
  writeFileSync(files.iadvize, iadvize.publicKeyPem);
  writeFileSync(files.iadvizePrivate, iadvize.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(files.encrypted, encryptedPem, { mode: 0o600 });
  goodEnv = {
    IADVIZE_ISSUER: ISSUER,
    IADVIZE_SIGNING_KEY_FILE: files.key,
    IADVIZE_SIGNING_PUBLIC_KEY_FILE: files.pub,
    IADVIZE_PUBLIC_KEY_FILE: files.iadvize,
  };
  const config = await resolveIAdvizeAuthOptions({ issuer: ISSUER, signingKey: { file: files.key }, iadvizePublicKey: iadvize.publicKeyPem });
  token = (await new TokenService(config).createToken({ userId: 'redaction-spec' })).token;
});

afterAll(() => {
  cleanup?.();
  for (const name of [ENV_KEY, ENV_ENCRYPTED, ENV_PASS, ENV_PUBLIC]) delete process.env[name];
});

/** Opens a token as iAdvize would (FakeIAdvize's private key) and returns its protected header and claims as text. */
async function tokenText(jwe: string): Promise<string> {
  const { plaintext, protectedHeader } = await compactDecrypt(jwe, iadvize.privateKey);
  const [header, claims] = new TextDecoder().decode(plaintext).split('.').slice(0, 2).map((p) => Buffer.from(p, 'base64url').toString('utf8'));
  return `${JSON.stringify(protectedHeader)} ${header} ${claims}`;
}

// ---------------------------------------------------------------------------
// Module options
// ---------------------------------------------------------------------------

/** A secret put into the options (and, for variable-name options, into a variable). */
interface Injected {
  options: Record<string, unknown>;
  env?: Record<string, string>;
}
type Injection = readonly [label: string, inject: (secret: string) => Injected];

/** A working key provider with one member replaced (its `kind` or `alg`, say). */
function providerWith(overrides: Record<string, unknown>): KeyProvider {
  let key: import('node:crypto').KeyObject | undefined;
  return {
    alg: 'RS256',
    kind: 'custom',
    getPublicKey: async () => brand.publicKey,
    sign: async (input: Uint8Array) => {
      key ??= brand.privateKey;
      const { sign } = await import('node:crypto');
      return sign('sha256', input, key);
    },
    ...overrides,
  } as KeyProvider;
}

function jsonOrText(secret: string): unknown {
  try {
    return JSON.parse(secret) as unknown;
  } catch {
    return secret;
  }
}

function publicKeyInjections(option: 'signingPublicKey' | 'iadvizePublicKey'): Injection[] {
  return [
    [`${option} (string)`, (s) => ({ options: { [option]: s } })],
    [`${option}.pem`, (s) => ({ options: { [option]: { pem: s } } })],
    [`${option}.file`, (s) => ({ options: { [option]: { file: s } } })],
    [`${option}.env (name)`, (s) => ({ options: { [option]: { env: s } } })],
    [`${option}.env (value)`, (s) => ({ options: { [option]: { env: ENV_PUBLIC } }, env: { [ENV_PUBLIC]: s } })],
    [`${option}.jwk`, (s) => ({ options: { [option]: { jwk: jsonOrText(s) } } })],
    [`${option} unknown member`, (s) => ({ options: { [option]: { [s]: 'x' } } })],
  ];
}

/** Every way to put a secret into each option `resolveIAdvizeAuthOptions` knows. */
const MODULE_INJECTIONS: Record<string, Injection[]> = {
  issuer: [['issuer', (s) => ({ options: { issuer: s } })]],
  signingKey: [
    ['signingKey (string)', (s) => ({ options: { signingKey: s } })],
    ['signingKey.file', (s) => ({ options: { signingKey: { file: s } } })],
    ['signingKey.env (name)', (s) => ({ options: { signingKey: { env: s } } })],
    ['signingKey.env (value)', (s) => ({ options: { signingKey: { env: ENV_KEY } }, env: { [ENV_KEY]: s } })],
    ['signingKey.pem', (s) => ({ options: { signingKey: { pem: s } } })],
    ['signingKey.jwk', (s) => ({ options: { signingKey: { jwk: jsonOrText(s) } } })],
    ['signingKey.passphrase (pem)', (s) => ({ options: { signingKey: { pem: encryptedPem, passphrase: s } } })],
    ['signingKey.passphrase (file)', (s) => ({ options: { signingKey: { file: files.encrypted, passphrase: s } } })],
    ['signingKey.passphraseEnv (name)', (s) => ({ options: { signingKey: { env: ENV_ENCRYPTED, passphraseEnv: s } }, env: { [ENV_ENCRYPTED]: encryptedPem } })],
    ['signingKey.passphraseEnv (value)', (s) => ({ options: { signingKey: { env: ENV_ENCRYPTED, passphraseEnv: ENV_PASS } }, env: { [ENV_ENCRYPTED]: encryptedPem, [ENV_PASS]: s } })],
    ['signingKey unknown member', (s) => ({ options: { signingKey: { pem: brand.privatePem, [s]: 1 } } })],
    ['signingKey no source', (s) => ({ options: { signingKey: { [s]: 1 } } })],
    ['signingKey provider kind', (s) => ({ options: { signingKey: providerWith({ kind: s }) } })],
    ['signingKey provider alg', (s) => ({ options: { signingKey: providerWith({ alg: s }) } })],
  ],
  signingPublicKey: publicKeyInjections('signingPublicKey'),
  iadvizePublicKey: publicKeyInjections('iadvizePublicKey'),
  tokenTtlSeconds: [['tokenTtlSeconds', (s) => ({ options: { tokenTtlSeconds: s } })]],
  signingTimeoutMs: [['signingTimeoutMs', (s) => ({ options: { signingTimeoutMs: s } })]],
  selfCheck: [['selfCheck', (s) => ({ options: { selfCheck: s } })]],
  clock: [['clock', (s) => ({ options: { clock: s } })]],
  tokenCache: [
    ['tokenCache', (s) => ({ options: { tokenCache: s } })],
    ['tokenCache.ttlSeconds', (s) => ({ options: { tokenCache: { ttlSeconds: s } } })],
    ['tokenCache.maxEntries', (s) => ({ options: { tokenCache: { ttlSeconds: 10, maxEntries: s } } })],
    ['tokenCache unknown member', (s) => ({ options: { tokenCache: { ttlSeconds: 10, [s]: 1 } } })],
  ],
  // The shared store's options (each with a URL that is refused, so no app tries to connect).
  tokenStore: [
    ['tokenStore', (s) => ({ options: { tokenStore: s } })],
    ['tokenStore.url', (s) => ({ options: { tokenStore: new RedisTokenStore({ url: s, secret: 'a-store-secret-of-thirty-two-bytes!' }) } })],
    ['tokenStore.secret', (s) => ({ options: { tokenStore: new RedisTokenStore({ url: 'not-a-redis-url', secret: s }) } })],
    ['tokenStore.keyPrefix', (s) => ({ options: { tokenStore: new RedisTokenStore({ url: 'not-a-redis-url', secret: 'a-store-secret-of-thirty-two-bytes!', keyPrefix: s }) } })],
    ['tokenStore unknown member', (s) => ({ options: { tokenStore: new RedisTokenStore({ url: 'not-a-redis-url', secret: 'a-store-secret-of-thirty-two-bytes!', [s]: 1 } as never) } })],
  ],
};
/** A secret as the name of an option. */
const UNKNOWN_OPTION: Injection = ['unknown option name', (s) => ({ options: { [s]: 1 } })];

/**
 * The module's own options (extras): known before the options factory runs,
 * so not part of the "known" list above.
 */
const EXTRA_INJECTIONS: Injection[] = [
  ['controller', (s) => ({ options: { controller: s } })],
  ['controller.path', (s) => ({ options: { controller: { path: s } } })],
  ['userResolver', (s) => ({ options: { userResolver: s } })],
  ['isGlobal', (s) => ({ options: { isGlobal: s } })],
];

const ALL_OPTION_INJECTIONS = (): Injection[] => [...Object.values(MODULE_INJECTIONS).flat(), UNKNOWN_OPTION];

/** The option names `resolveIAdvizeAuthOptions` knows, from its own message about an unknown option. */
async function knownOptionNames(): Promise<string[]> {
  const error = await resolveIAdvizeAuthOptions({ issuer: ISSUER, signingKey: { pem: brand.privatePem }, iadvizePublicKey: iadvize.publicKeyPem, notAnOption: 1 }).catch((e: unknown) => e);
  const known = /\(known: ([^)]+)\)/.exec((error as Error).message)?.[1];
  if (!known) throw new Error('the unknown-option message no longer lists the known options; update knownOptionNames()');
  return known.split(',').map((s) => s.trim());
}

/** Runs `fn` with `env` set in `process.env`, then restores it. */
async function withEnv<T>(env: Record<string, string> | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = new Map(Object.keys(env ?? {}).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Base options that work; the injection overrides part of them. */
function baseOptions(): Record<string, unknown> {
  return { issuer: ISSUER, signingKey: { file: files.key }, iadvizePublicKey: iadvize.publicKeyPem };
}

/** Resolves the options; scans the error, or the token the configuration mints. */
async function checkResolve(label: string, secret: PastedSecret, injected: Injected): Promise<void> {
  const needles = new SecretNeedles(secret.value);
  await withEnv(injected.env, async () => {
    let config;
    try {
      config = await resolveIAdvizeAuthOptions({ ...baseOptions(), ...injected.options });
    } catch (e) {
      needles.expectAbsent(`${label} <- ${secret.kind}: error message`, `${(e as Error).name} ${(e as Error).message}`);
      return;
    }
    const minted = await new TokenService(config).createToken({ userId: 'u1' });
    needles.expectAbsent(`${label} <- ${secret.kind}: token`, await tokenText(minted.token));
    await config.keyProvider.close?.();
  });
}

/** Starts a Nest app with the options (on `platform`), requests a token if it starts, and scans everything. */
async function checkNest(label: string, secret: PastedSecret, injected: Injected, platformIndex: number): Promise<void> {
  const needles = new SecretNeedles(secret.value);
  const [platformName, platform] = PLATFORMS[platformIndex % PLATFORMS.length];
  const corpus = new LeakCorpus();
  const logger = new CapturingLogger(corpus);
  await withEnv(injected.env, async () => {
    const restore = captureProcessOutput(corpus);
    let app: Awaited<ReturnType<typeof NestFactory.create>> | undefined;
    try {
      const options = { ...baseOptions(), controller: { guards: [signedInGuard('u1')] }, ...injected.options } as unknown as Parameters<typeof IAdvizeAuthModule.forRoot>[0];
      // Hand-written on purpose: hostile options through Nest's own NestFactory start-up (its crash report included) are under test.
      @Module({ imports: [IAdvizeAuthModule.forRoot(options)] })
      class AppModule {}
      app = await NestFactory.create(AppModule, platform(), { logger, abortOnError: false });
      await app.listen(0, '127.0.0.1');
      const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
      const res = await fetch(`${url}/iadvize/token`, { method: 'POST' });
      const body = await res.text();
      corpus.record('http body', `${res.status} ${JSON.stringify([...res.headers])} ${body}`);
      if (res.status === 200) corpus.record('token', await tokenText((JSON.parse(body) as { token: string }).token));
    } catch (e) {
      corpus.record('startup error', `${(e as Error)?.name} ${(e as Error)?.message} ${(e as Error)?.stack ?? ''}`);
    } finally {
      await app?.close().catch(() => undefined);
      restore();
    }
  });
  for (const entry of corpus.entries) needles.expectAbsent(`${label} <- ${secret.kind} (${platformName}): ${entry.label}`, entry.text);
}

describe('a secret pasted into any module option never comes out', () => {
  it('every option resolveIAdvizeAuthOptions knows has a way to inject a secret here', async () => {
    const known = await knownOptionNames();
    expect(known.length).toBeGreaterThan(5);
    expect(known.filter((name) => !(name in MODULE_INJECTIONS))).toEqual([]);
  });

  it.each(ALL_OPTION_INJECTIONS().map((i) => [i[0], i] as const))('%s: resolveIAdvizeAuthOptions errors and minted tokens', async (_label, [label, inject]) => {
    await fc.assert(
      fc.asyncProperty(secretSeedArb, async ({ kind, seed }) => {
        const secret = pastedSecret(kind, seed);
        await checkResolve(label, secret, inject(secret.value));
      }),
      { numRuns: 12 },
    );
  });

  it('every kind of secret, in every option, through a Nest app on both adapters: startup errors, logs, stdout/stderr, HTTP bodies, tokens', async () => {
    const injections = [...ALL_OPTION_INJECTIONS(), ...EXTRA_INJECTIONS];
    await fc.assert(
      fc.asyncProperty(fc.nat(injections.length - 1), secretSeedArb, fc.nat(1), async (i, { kind, seed }, platform) => {
        const secret = pastedSecret(kind, seed);
        const [label, inject] = injections[i];
        await checkNest(label, secret, inject(secret.value), platform);
      }),
      { numRuns: 60 },
    );
  });

  it('each module extra, with each kind of secret, on both adapters', async () => {
    for (const [label, inject] of EXTRA_INJECTIONS) {
      for (const [n, kind] of SECRET_KINDS.entries()) {
        if (n % 4 !== 0) continue; // every fourth kind: PEM, escaped PEM, JWK JSON, passphrase, Vault token, random hex
        const secret = pastedSecret(kind, n);
        await checkNest(label, secret, inject(secret.value), n);
      }
    }
  });
});

// ---------------------------------------------------------------------------
// Environment variables
// ---------------------------------------------------------------------------

/** The good environment with `name` set to `value` (and its value/file twin unset, so it is the one read). */
function envWith(name: string, value: string): Record<string, string> {
  const env = { ...goodEnv, [name]: value };
  const twins: Record<string, string> = {
    [IAdvizeEnv.SigningKey]: IAdvizeEnv.SigningKeyFile,
    [IAdvizeEnv.SigningPublicKey]: IAdvizeEnv.SigningPublicKeyFile,
    [IAdvizeEnv.PublicKey]: IAdvizeEnv.PublicKeyFile,
  };
  if (twins[name]) delete env[twins[name]];
  if (name === IAdvizeEnv.SigningKeyPassphrase) env[IAdvizeEnv.SigningKeyFile] = files.encrypted;
  return env;
}

/** Runs the CLI in process; returns everything it wrote. */
async function cliInProcess(argv: string[], env: Record<string, string>, cwd: string, stdin = ''): Promise<string> {
  let output = '';
  const code = await runCliInProcess(argv, {
    out: (t) => (output += t),
    err: (t) => (output += t),
    env: { ...env },
    cwd,
    readStdin: async () => stdin,
  });
  return `${output}\nexit ${code}`;
}

describe('a secret in any environment variable the library reads never comes out', () => {
  const names = IADVIZE_ENV_VARIABLES.map((v) => v.name);

  it('the list of variables is the one the docs describe', () => {
    expect(names.length).toBeGreaterThanOrEqual(10);
    expect(new Set(names)).toEqual(new Set(Object.values(IAdvizeEnv)));
  });

  it.each(names.map((n) => [n]))('%s: iadvizeAuthOptionsFromEnv, iadvizeAuthConfig, the module startup and doctor (in process)', async (name) => {
    await fc.assert(
      fc.asyncProperty(secretSeedArb, async ({ kind, seed }) => {
        const secret = pastedSecret(kind, seed);
        const needles = new SecretNeedles(secret.value);
        const env = envWith(name, secret.value);
        const where = `${name} <- ${secret.kind}`;
        // iadvizeAuthOptionsFromEnv(record), then the module's own validation.
        try {
          const config = await resolveIAdvizeAuthOptions(iadvizeAuthOptionsFromEnv(env));
          needles.expectAbsent(`${where}: token`, await tokenText((await new TokenService(config).createToken({ userId: 'u1' })).token));
          await config.keyProvider.close?.();
        } catch (e) {
          needles.expectAbsent(`${where}: error`, `${(e as Error).name} ${(e as Error).message}`);
        }
        // iadvizeAuthConfig (the @nestjs/config namespace) reads process.env itself.
        const cleared = Object.fromEntries(Object.values(IAdvizeEnv).map((n) => [n, env[n] ?? '']));
        await withEnv(cleared, async () => {
          try {
            const config = await resolveIAdvizeAuthOptions(iadvizeAuthConfig());
            needles.expectAbsent(`${where}: token (iadvizeAuthConfig)`, await tokenText((await new TokenService(config).createToken({ userId: 'u1' })).token));
            await config.keyProvider.close?.();
          } catch (e) {
            needles.expectAbsent(`${where}: error (iadvizeAuthConfig)`, `${(e as Error).name} ${(e as Error).message}`);
          }
        });
        needles.expectAbsent(`${where}: doctor`, await cliInProcess(['doctor'], env, dir));
      }),
      { numRuns: 10 },
    );
  });
});

// ---------------------------------------------------------------------------
// CLI flags
// ---------------------------------------------------------------------------

interface Flag {
  command: string;
  flag: string;
  takesValue: boolean;
}

/** The flags of every command, read from the "Options:" section of its --help. */
function cliFlags(): Flag[] {
  return CLI_COMMANDS.flatMap((c) => {
    const options = c.help.slice(c.help.indexOf('\nOptions:'));
    return [...options.matchAll(/^ {2}(?:-[a-z], )?--([a-z][a-z-]*)( [A-Z][A-Z0-9_]*(?=\s)| [0-9|]+(?=\s))?/gm)].map((m) => ({
      command: c.name,
      flag: m[1],
      takesValue: m[2] !== undefined,
    }));
  });
}

/** What a command needs to get as far as using the flag (a token and keys for inspect). */
function contextArgs(f: Flag): string[] {
  if (f.command !== 'inspect') return [];
  const keysArgs = f.flag === 'iadvize-private-key' ? [] : ['--iadvize-private-key', files.iadvizePrivate];
  const brandArgs = f.flag === 'brand-public-key' || f.flag === 'iadvize-private-key' ? [] : ['--brand-public-key', files.pub];
  return [token, ...keysArgs, ...brandArgs];
}

/** Command lines that put `secret` in the flag: `--flag secret` and `--flag=secret` (and `--flag=secret` for boolean flags). */
function flagArgvs(f: Flag, secret: string): string[][] {
  const base = [f.command, ...contextArgs(f)];
  return f.takesValue ? [[...base, `--${f.flag}`, secret], [...base, `--${f.flag}=${secret}`]] : [[...base, `--${f.flag}=${secret}`]];
}

/** Command lines that put `secret` where no flag is (commands, unknown options, positionals, stdin). */
function otherArgvs(secret: string): Array<{ argv: string[]; stdin?: string; label: string }> {
  return [
    { label: 'as a command', argv: [secret] },
    { label: 'as an unknown option before the command', argv: [`--${secret}`] },
    { label: 'help <secret>', argv: ['help', secret] },
    ...CLI_COMMANDS.flatMap((c) => [
      { label: `${c.name} --<secret>`, argv: [c.name, `--${secret}`] },
      { label: `${c.name} <secret>`, argv: [c.name, secret] },
    ]),
    { label: 'inspect <token> <secret>', argv: ['inspect', token, secret] },
    { label: 'inspect - (stdin)', argv: ['inspect', '-'], stdin: secret },
  ];
}

describe('a secret in any CLI flag or argument never comes out', () => {
  const flags = cliFlags();

  it('every command has its flags listed in --help (the source this test reads)', () => {
    expect(new Set(flags.map((f) => f.command))).toEqual(new Set(CLI_COMMANDS.map((c) => c.name)));
    for (const c of CLI_COMMANDS) expect(flags.filter((f) => f.command === c.name).map((f) => f.flag)).toContain('help');
    // Spot-check the parsing against flags known to take a value.
    for (const [command, flag] of [['doctor', 'dotenv'], ['inspect', 'iadvize-private-key'], ['inspect', 'issuer'], ['keygen', 'out'], ['keygen', 'bits']]) {
      expect(flags).toContainEqual({ command, flag, takesValue: true });
    }
    expect(flags).toContainEqual({ command: 'doctor', flag: 'strict', takesValue: false });
  });

  it.each(flags.map((f) => [`${f.command} --${f.flag}`, f] as const))('%s <secret> (in process)', async (_label, f) => {
    await fc.assert(
      fc.asyncProperty(secretSeedArb, async ({ kind, seed }) => {
        const secret = pastedSecret(kind, seed);
        const needles = new SecretNeedles(secret.value);
        const cwd = mkdtempSync(join(dir, 'cwd-'));
        try {
          for (const argv of flagArgvs(f, secret.value)) {
            needles.expectAbsent(`${f.command} --${f.flag} <- ${secret.kind}`, await cliInProcess(argv, goodEnv, cwd));
          }
        } finally {
          rmSync(cwd, { recursive: true, force: true });
        }
      }),
      { numRuns: 10 },
    );
  });

  it('commands, unknown options, positionals and stdin (in process)', async () => {
    await fc.assert(
      fc.asyncProperty(secretSeedArb, async ({ kind, seed }) => {
        const secret = pastedSecret(kind, seed);
        const needles = new SecretNeedles(secret.value);
        for (const { label, argv, stdin } of otherArgvs(secret.value)) {
          needles.expectAbsent(`${label} <- ${secret.kind}`, await cliInProcess(argv, goodEnv, dir, stdin));
        }
      }),
      { numRuns: 25 },
    );
  });
});

describe('the built binary (node dist/cli/main.js), every flag and every variable', () => {
  beforeAll(() => requireBuiltCli());

  it('the reported reproduction: a PEM in IADVIZE_SIGNING_KEY_FILE, then doctor', async () => {
    const secret = pastedSecret('pem-pkcs8', 1);
    const r = await runBinary(['doctor'], { env: { IADVIZE_ISSUER: 'https://b.example', IADVIZE_SIGNING_KEY_FILE: secret.value }, cwd: dir });
    new SecretNeedles(secret.value).expectAbsent('doctor', r.all);
    expect(r.stdout).toMatch(/IADVIZE_SIGNING_KEY_FILE\s+<redacted: looks like a PEM private key, \d+ chars>/);
    expect(r.stdout).toMatch(/IADVIZE_SIGNING_KEY_FILE: holds <redacted: looks like a PEM private key, \d+ chars>, not a file path; put the key itself in IADVIZE_SIGNING_KEY/);
    expect(r.code).toBe(1);
  });

  it('each flag and each variable, with a secret of a different kind each time, in a child process', async () => {
    const runs: Array<{ label: string; argv: string[]; env: Record<string, string>; secret: PastedSecret; cwd?: string }> = [];
    let n = 0;
    const next = () => pastedSecret(SECRET_KINDS[n % SECRET_KINDS.length], n++);
    for (const f of cliFlags()) {
      const secret = next();
      for (const argv of flagArgvs(f, secret.value)) runs.push({ label: `${f.command} --${f.flag}`, argv, env: goodEnv, secret });
    }
    for (const { name } of IADVIZE_ENV_VARIABLES) {
      const secret = next();
      runs.push({ label: `doctor with ${name}`, argv: ['doctor'], env: envWith(name, secret.value), secret });
      // The same variable from a .env file.
      const dotenv = join(dir, `${name}.env`);
      writeFileSync(dotenv, `${name}=${JSON.stringify(secret.value)}\n`, { mode: 0o600 });
      const env = { ...envWith(name, secret.value) };
      delete env[name];
      runs.push({ label: `doctor --dotenv with ${name}`, argv: ['doctor', '--dotenv', dotenv], env, secret });
    }
    for (const run of runs) {
      const cwd = mkdtempSync(join(dir, 'bin-'));
      try {
        const r = await runBinary(run.argv, { env: run.env, cwd });
        new SecretNeedles(run.secret.value).expectAbsent(`${run.label} <- ${run.secret.kind}`, r.all);
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    }
  }, 180_000);
});
