/**
 * Property-based tests of startup validation: random garbage in every option
 * and every key source (`{ pem }`, `{ file }`, `{ env }`, `{ jwk }`, a
 * KeyProvider, public key inputs, numbers, flags) either resolves to a sound
 * configuration or rejects with exactly one InvalidOptionsError whose message
 * holds no PEM block, no private JWK member, no token, no stack frame, no
 * line of any private key, and no supplied value (key text, file contents,
 * environment values, passphrases, JWK members, issuer) of 8+ characters.
 *
 * Names that locate a problem (option keys, file paths, variable names) may
 * be quoted; that they must not be quoted when they *are* key material is
 * pinned by the cases at the end.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Test } from '@nestjs/testing';
import fc from 'fast-check';
import {
  IAdvizeAuthModule,
  InvalidOptionsError,
  PemKeyProvider,
  type KeyProvider,
} from '../../lib/index.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import type { FakeIAdvize } from '../../lib/testing/index.js';
import { authTestBrandKey, authTestSetup } from '../support/auth-module.js';
import { rsaKeyPair, tempDir, type TestKeyPair } from '../support/keys.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { describeLeaks, LeakCorpus, scanText, SecretRegistry } from '../support/leak-scanner.js';
import { hostileKeys } from '../support/arbitraries.js';

const PASSPHRASE = 'correct horse battery staple';

interface Keys {
  brand: TestKeyPair;
  other: TestKeyPair;
  iadvize: FakeIAdvize;
  rsa1024Pem: string;
  ecPem: string;
  ed25519Pem: string;
  encryptedPem: string;
  pkcs1Pem: string;
  brandDerBase64: string;
  brandJwk: Record<string, string>;
  ecJwk: Record<string, string>;
}

let keys: Keys;
let secrets: SecretRegistry;
let dir: string;
let cleanup: () => void;
let fileCounter = 0;
const ENV_PREFIX = 'IADVIZE_PROPERTY_TEST_';
const envNames = new Set<string>();

function pemOf(key: KeyObject, type: 'pkcs8' | 'pkcs1' | 'sec1' = 'pkcs8'): string {
  return key.export({ type: type as 'pkcs8', format: 'pem' }).toString();
}

beforeAll(async () => {
  const setup = await authTestSetup();
  const brand = authTestBrandKey(setup);
  const other = await rsaKeyPair('other');
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519');
  keys = {
    brand,
    other,
    iadvize: setup.iadvize,
    rsa1024Pem: pemOf(small.privateKey),
    ecPem: pemOf(ec.privateKey),
    ed25519Pem: pemOf(ed.privateKey),
    encryptedPem: brand.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: PASSPHRASE }).toString(),
    pkcs1Pem: pemOf(brand.privateKey, 'pkcs1'),
    brandDerBase64: brand.privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64'),
    brandJwk: brand.privateKey.export({ format: 'jwk' }) as Record<string, string>,
    ecJwk: ec.privateKey.export({ format: 'jwk' }) as Record<string, string>,
  };
  secrets = new SecretRegistry()
    .addPrivateKey('brand', brand.privateKey)
    .addPrivateKey('other', other.privateKey)
    .addPrivateKey('rsa-1024', small.privateKey)
    .addPrivateKey('iadvize', keys.iadvize.privateKey)
    .add('passphrase', PASSPHRASE)
    .add('ec d', keys.ecJwk.d, 16);
  for (const line of keys.encryptedPem.split('\n').filter((l) => l && !l.startsWith('-----'))) secrets.add('encrypted PEM line', line, 32);
  for (const line of [keys.ecPem, keys.ed25519Pem].join('\n').split('\n').filter((l) => l.length >= 32 && !l.startsWith('-----'))) {
    secrets.add('non-RSA private PEM line', line, 32);
  }
  ({ dir, cleanup } = tempDir());
});

afterAll(() => {
  cleanup?.();
  for (const name of envNames) delete process.env[name];
});

// ---------------------------------------------------------------------------
// Arbitraries. Key sources are described, then materialised (files written,
// env vars set) inside the property, so the generators stay pure.
// ---------------------------------------------------------------------------

const PEM_LABELS = ['PRIVATE KEY', 'RSA PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'PUBLIC KEY', 'RSA PUBLIC KEY', 'CERTIFICATE', 'EC PRIVATE KEY', 'OPENSSH PRIVATE KEY'];

/** A reference to one of the real keys made in beforeAll (resolved lazily). */
type RealKey = 'brandPem' | 'brandPemEscaped' | 'brandPemQuoted' | 'pkcs1' | 'derBase64' | 'encrypted' | 'rsa1024' | 'ec' | 'ed25519' | 'brandPublic' | 'otherPem' | 'iadvizePublic';

function realKeyText(ref: RealKey): string {
  switch (ref) {
    case 'brandPem': return keys.brand.privatePem;
    case 'brandPemEscaped': return keys.brand.privatePem.replace(/\n/g, '\\n');
    case 'brandPemQuoted': return `"${keys.brand.privatePem}"`;
    case 'pkcs1': return keys.pkcs1Pem;
    case 'derBase64': return keys.brandDerBase64;
    case 'encrypted': return keys.encryptedPem;
    case 'rsa1024': return keys.rsa1024Pem;
    case 'ec': return keys.ecPem;
    case 'ed25519': return keys.ed25519Pem;
    case 'brandPublic': return keys.brand.publicPem;
    case 'otherPem': return keys.other.privatePem;
    case 'iadvizePublic': return keys.iadvize.publicKeyPem;
  }
}

/** Key text: garbage, PEM-shaped garbage, real keys and real keys damaged. */
type TextSpec =
  | { t: 'raw'; s: string }
  | { t: 'real'; ref: RealKey }
  | { t: 'damaged'; ref: RealKey; at: number; insert: string; cut: boolean };

const realKeyRef = fc.constantFrom<RealKey>('brandPem', 'brandPemEscaped', 'brandPemQuoted', 'pkcs1', 'derBase64', 'encrypted', 'rsa1024', 'ec', 'ed25519', 'brandPublic', 'otherPem', 'iadvizePublic');

const textSpec: fc.Arbitrary<TextSpec> = fc.oneof(
  fc.string({ maxLength: 120 }).map((s) => ({ t: 'raw' as const, s })),
  fc.string({ unit: 'binary', maxLength: 120 }).map((s) => ({ t: 'raw' as const, s })),
  fc.uint8Array({ maxLength: 400 }).map((b) => ({ t: 'raw' as const, s: Buffer.from(b).toString('base64') })),
  fc
    .tuple(fc.constantFrom(...PEM_LABELS), fc.uint8Array({ maxLength: 300 }), fc.boolean())
    .map(([label, b, escaped]) => {
      const pem = `-----BEGIN ${label}-----\n${Buffer.from(b).toString('base64')}\n-----END ${label}-----\n`;
      return { t: 'raw' as const, s: escaped ? pem.replace(/\n/g, '\\n') : pem };
    }),
  fc.json({ maxDepth: 2 }).map((s) => ({ t: 'raw' as const, s })),
  realKeyRef.map((ref) => ({ t: 'real' as const, ref })),
  fc
    .tuple(realKeyRef, fc.nat(), fc.string({ maxLength: 3 }), fc.boolean())
    .map(([ref, at, insert, cut]) => ({ t: 'damaged' as const, ref, at, insert, cut })),
);

function textOf(spec: TextSpec): string {
  if (spec.t === 'raw') return spec.s;
  const real = realKeyText(spec.ref);
  if (spec.t === 'real') return real;
  const at = spec.at % real.length;
  return spec.cut ? real.slice(0, at) : `${real.slice(0, at)}${spec.insert}${real.slice(at + 1)}`;
}

type FileSpec = { content: TextSpec } | { bytes: Uint8Array } | { missing: true } | { directory: true };
const fileSpec: fc.Arbitrary<FileSpec> = fc.oneof(
  { weight: 4, arbitrary: textSpec.map((content) => ({ content })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }).map((bytes) => ({ bytes })) },
  { weight: 1, arbitrary: fc.constant({ missing: true as const }) },
  { weight: 1, arbitrary: fc.constant({ directory: true as const }) },
);

const passphrase = fc.option(fc.oneof(fc.constant(PASSPHRASE), fc.string({ maxLength: 20 }), fc.anything()), { nil: undefined, freq: 2 });

type JwkSpec = { anything: unknown } | { members: Record<string, unknown> } | { brandWith: Record<string, unknown>; drop: string[] } | { ec: true };
const JWK_MEMBERS = ['kty', 'n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi', 'alg', 'use', 'kid', 'key_ops', 'oth', 'crv', 'x', 'y', 'k'];
const jwkSpec: fc.Arbitrary<JwkSpec> = fc.oneof(
  fc.anything().map((anything) => ({ anything })),
  fc.dictionary(fc.constantFrom(...JWK_MEMBERS), fc.oneof(fc.string({ maxLength: 40 }), fc.anything()), { maxKeys: 6 }).map((members) => ({ members })),
  fc
    .tuple(
      fc.dictionary(fc.constantFrom(...JWK_MEMBERS), fc.oneof(fc.string({ maxLength: 40 }), fc.anything(), fc.constant('RSA')), { maxKeys: 2 }),
      fc.subarray(['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi']),
    )
    .map(([brandWith, drop]) => ({ brandWith, drop })),
  fc.constant({ ec: true as const }),
);

/** What the signing key option is made of. */
type SigningSpec =
  | { s: 'anything'; value: unknown }
  | { s: 'pem'; text: TextSpec; passphrase: unknown }
  | { s: 'file'; file: FileSpec; passphrase: unknown }
  | { s: 'env'; value: TextSpec | null; passphrase: unknown; passphraseEnv: TextSpec | null | undefined }
  | { s: 'jwk'; jwk: JwkSpec }
  | { s: 'provider'; alg: unknown; kind: string; publicKey: unknown; signature: unknown; initThrows: boolean; signThrows: boolean }
  | { s: 'several'; sources: string[]; extra: Record<string, unknown> };

const signingSpec: fc.Arbitrary<SigningSpec> = fc.oneof(
  fc.anything({ withBoxedValues: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true, withDate: true }).map((value) => ({ s: 'anything' as const, value })),
  fc.record({ s: fc.constant('pem' as const), text: textSpec, passphrase }),
  fc.record({ s: fc.constant('file' as const), file: fileSpec, passphrase }),
  fc.record({
    s: fc.constant('env' as const),
    value: fc.option(textSpec, { nil: null, freq: 5 }),
    passphrase,
    passphraseEnv: fc.option(fc.option(textSpec, { nil: null }), { nil: undefined, freq: 3 }),
  }),
  fc.record({ s: fc.constant('jwk' as const), jwk: jwkSpec }),
  fc.record({
    s: fc.constant('provider' as const),
    alg: fc.oneof(fc.constant('RS256'), fc.constant('PS256'), fc.string({ maxLength: 10 }), fc.anything()),
    kind: fc.string({ maxLength: 12 }),
    publicKey: fc.oneof(fc.anything(), fc.constantFrom('brand', 'other', 'iadvize', 'private')),
    signature: fc.oneof(fc.anything(), fc.uint8Array({ maxLength: 300 }), fc.constantFrom('valid', 'other')),
    initThrows: fc.boolean(),
    signThrows: fc.boolean(),
  }),
  fc.record({
    s: fc.constant('several' as const),
    sources: fc.subarray(['file', 'env', 'pem', 'jwk'], { minLength: 2 }),
    extra: fc.dictionary(hostileKeys, fc.anything(), { maxKeys: 2 }),
  }),
);

type PublicSpec =
  | { p: 'absent' }
  | { p: 'anything'; value: unknown }
  | { p: 'text'; text: TextSpec }
  | { p: 'pem'; text: TextSpec }
  | { p: 'file'; file: FileSpec }
  | { p: 'env'; value: TextSpec | null }
  | { p: 'jwk'; jwk: JwkSpec }
  | { p: 'keyObject'; which: 'brandPublic' | 'brandPrivate' | 'iadvizePublic' | 'otherPublic' }
  | { p: 'twoSources' };

const publicSpec: fc.Arbitrary<PublicSpec> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ p: 'absent' as const }) },
  { weight: 1, arbitrary: fc.anything().map((value) => ({ p: 'anything' as const, value })) },
  { weight: 2, arbitrary: textSpec.map((text) => ({ p: 'text' as const, text })) },
  { weight: 1, arbitrary: textSpec.map((text) => ({ p: 'pem' as const, text })) },
  { weight: 1, arbitrary: fileSpec.map((file) => ({ p: 'file' as const, file })) },
  { weight: 1, arbitrary: fc.option(textSpec, { nil: null, freq: 4 }).map((value) => ({ p: 'env' as const, value })) },
  { weight: 1, arbitrary: jwkSpec.map((jwk) => ({ p: 'jwk' as const, jwk })) },
  { weight: 1, arbitrary: fc.constantFrom('brandPublic', 'brandPrivate', 'iadvizePublic', 'otherPublic').map((which) => ({ p: 'keyObject' as const, which: which as 'brandPublic' })) },
  { weight: 1, arbitrary: fc.constant({ p: 'twoSources' as const }) },
);

const numberOption = fc.option(
  fc.oneof(fc.anything(), fc.double(), fc.integer(), fc.constantFrom(0, -1, 9, 10, 60, 99, 100, 3600, 3601, 5000, 60_000, 60_001, 1.5, NaN, Infinity, '60', 60n)),
  { nil: undefined, freq: 3 },
);

const issuerSpec = fc.option(fc.oneof(fc.constant('https://brand.example'), fc.string({ maxLength: 30 }), fc.anything(), fc.constantFrom('', '   ', 'x'.repeat(2049))), { nil: undefined, freq: 6 });
const selfCheckSpec = fc.option(fc.oneof(fc.boolean(), fc.anything()), { nil: undefined, freq: 3 });
const clockSpec = fc.option(fc.oneof(fc.constant<unknown>(() => Date.now()), fc.anything()), { nil: undefined, freq: 3 });
const extraSpec = fc.dictionary(hostileKeys.filter((k) => k !== '__proto__'), fc.anything(), { maxKeys: 2 });

/** Garbage everywhere. */
const garbageSpec = fc.record({
  issuer: issuerSpec,
  signingKey: fc.option(signingSpec, { nil: undefined, freq: 10 }),
  signingPublicKey: publicSpec,
  iadvizePublicKey: publicSpec,
  tokenTtlSeconds: numberOption,
  signingTimeoutMs: numberOption,
  selfCheck: selfCheckSpec,
  clock: clockSpec,
  extra: extraSpec,
});

/** A valid configuration (in every accepted key form) with, now and then, one field of garbage. */
const often = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) => fc.oneof({ weight: 12, arbitrary: good }, { weight: 1, arbitrary: bad });
const nearValidSpec = fc.record({
  issuer: often(fc.constantFrom('https://brand.example', 'brand', 'https://例え.jp/😀'), issuerSpec),
  signingKey: often(
    fc.constantFrom<RealKey>('brandPem', 'brandPemEscaped', 'brandPemQuoted', 'pkcs1', 'derBase64').map((ref) => ({ s: 'pem' as const, text: { t: 'real' as const, ref }, passphrase: undefined })),
    signingSpec,
  ),
  signingPublicKey: often(fc.constantFrom<PublicSpec>({ p: 'absent' }, { p: 'keyObject', which: 'brandPublic' }), publicSpec),
  iadvizePublicKey: often(fc.constantFrom<PublicSpec>({ p: 'text', text: { t: 'real', ref: 'iadvizePublic' } }, { p: 'keyObject', which: 'iadvizePublic' }), publicSpec),
  tokenTtlSeconds: often(fc.option(fc.integer({ min: 10, max: 3600 }), { nil: undefined }), numberOption),
  signingTimeoutMs: often(fc.option(fc.integer({ min: 100, max: 60_000 }), { nil: undefined }), numberOption),
  selfCheck: often(fc.option(fc.boolean(), { nil: undefined }), selfCheckSpec),
  clock: often(fc.constant(undefined), clockSpec),
  extra: often(fc.constant({}), extraSpec),
});

const optionsSpec = fc.oneof({ weight: 3, arbitrary: garbageSpec }, { weight: 1, arbitrary: nearValidSpec });

type OptionsSpec = typeof optionsSpec extends fc.Arbitrary<infer T> ? T : never;

// ---------------------------------------------------------------------------
// Materialisation: build the raw options and list the values that must never
// be echoed.
// ---------------------------------------------------------------------------

class Build {
  /** Supplied values (not names) that must not appear in a message. */
  readonly values: string[] = [];
  /** Env vars set for this run, removed afterwards. */
  readonly env: string[] = [];

  value<T>(v: T): T {
    collectStrings(v, this.values);
    return v;
  }

  text(spec: TextSpec): string {
    return this.value(textOf(spec));
  }

  file(spec: FileSpec): string {
    const path = join(dir, `key-${++fileCounter}.pem`);
    if ('content' in spec) writeFileSync(path, this.text(spec.content));
    else if ('bytes' in spec) writeFileSync(path, this.value(spec.bytes));
    else if ('directory' in spec) mkdirSync(path);
    return path;
  }

  envVar(spec: TextSpec | null): string {
    const name = `${ENV_PREFIX}${++fileCounter}`;
    envNames.add(name);
    this.env.push(name);
    if (spec !== null) process.env[name] = this.text(spec);
    return name;
  }

  jwk(spec: JwkSpec): unknown {
    if ('anything' in spec) return this.value(spec.anything);
    if ('members' in spec) return this.value(withoutKty(spec.members));
    if ('ec' in spec) return { ...keys.ecJwk };
    const jwk: Record<string, unknown> = { ...keys.brandJwk };
    for (const m of spec.drop) delete jwk[m];
    this.value(withoutKty(spec.brandWith));
    Object.assign(jwk, spec.brandWith);
    return jwk;
  }

  provider(spec: Extract<SigningSpec, { s: 'provider' }>): KeyProvider {
    const signer = new PemKeyProvider({ pem: keys.brand.privatePem });
    const other = new PemKeyProvider({ pem: keys.other.privatePem });
    const publicKey = (): unknown => {
      switch (spec.publicKey) {
        case 'brand': return keys.brand.publicKey;
        case 'other': return keys.other.publicKey;
        case 'iadvize': return keys.iadvize.publicKey;
        case 'private': return keys.brand.privateKey;
        default: return spec.publicKey;
      }
    };
    return {
      alg: spec.alg as 'RS256',
      kind: spec.kind,
      init: spec.initThrows ? async () => { throw new Error(`backend down (token=${PASSPHRASE})`); } : undefined,
      sign: async (input: Uint8Array) => {
        if (spec.signThrows) throw Object.assign(new Error(`sign failed ${PASSPHRASE}`), { code: 'EKMS' });
        if (spec.signature === 'valid') return signer.sign(input);
        if (spec.signature === 'other') return other.sign(input);
        return spec.signature as Uint8Array;
      },
      getPublicKey: async () => publicKey() as KeyObject,
    };
  }

  signingKey(spec: SigningSpec): unknown {
    switch (spec.s) {
      case 'anything': return this.value(spec.value);
      case 'pem': return withPassphrase({ pem: this.text(spec.text) }, this.value(spec.passphrase));
      case 'file': return withPassphrase({ file: this.file(spec.file) }, this.value(spec.passphrase));
      case 'env': {
        const option: Record<string, unknown> = withPassphrase({ env: this.envVar(spec.value) }, this.value(spec.passphrase));
        if (spec.passphraseEnv !== undefined) option.passphraseEnv = this.envVar(spec.passphraseEnv);
        return option;
      }
      case 'jwk': return { jwk: this.jwk(spec.jwk) };
      case 'provider': return this.provider(spec);
      case 'several': {
        const option: Record<string, unknown> = { ...this.value(spec.extra) };
        for (const s of spec.sources) option[s] = s === 'jwk' ? { ...keys.brandJwk } : s === 'pem' ? keys.brand.privatePem : `${ENV_PREFIX}UNSET`;
        return option;
      }
    }
  }

  publicKey(spec: PublicSpec): unknown {
    switch (spec.p) {
      case 'absent': return undefined;
      case 'anything': return this.value(spec.value);
      case 'text': return this.text(spec.text);
      case 'pem': return { pem: this.text(spec.text) };
      case 'file': return { file: this.file(spec.file) };
      case 'env': return { env: this.envVar(spec.value) };
      case 'jwk': return { jwk: this.jwk(spec.jwk) };
      case 'keyObject':
        return { brandPublic: keys.brand.publicKey, brandPrivate: keys.brand.privateKey, iadvizePublic: keys.iadvize.publicKey, otherPublic: keys.other.publicKey }[spec.which];
      case 'twoSources': return { pem: keys.iadvize.publicKeyPem, file: join(dir, 'nowhere.pem') };
    }
  }

  options(spec: OptionsSpec): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(spec.extra)) raw[k] = v; // unknown options (names may be quoted)
    if (spec.issuer !== undefined) raw.issuer = this.value(spec.issuer);
    if (spec.signingKey !== undefined) raw.signingKey = this.signingKey(spec.signingKey);
    const signingPublicKey = this.publicKey(spec.signingPublicKey);
    if (signingPublicKey !== undefined) raw.signingPublicKey = signingPublicKey;
    const iadvizePublicKey = this.publicKey(spec.iadvizePublicKey);
    if (iadvizePublicKey !== undefined) raw.iadvizePublicKey = iadvizePublicKey;
    for (const k of ['tokenTtlSeconds', 'signingTimeoutMs', 'selfCheck', 'clock'] as const) {
      if (spec[k] !== undefined) raw[k] = this.value(spec[k]);
    }
    return raw;
  }

  done(): void {
    for (const name of this.env) delete process.env[name];
  }
}

/**
 * `kty` names the key type and is quoted in messages ("a JWK of type …"), like
 * other names; its PEM case is pinned in "key material given where a name belongs" below.
 */
function withoutKty(members: Record<string, unknown>): Record<string, unknown> {
  const { kty: _kty, ...rest } = members;
  return rest;
}

function withPassphrase(option: Record<string, unknown>, passphrase: unknown): Record<string, unknown> {
  if (passphrase !== undefined) option.passphrase = passphrase;
  return option;
}

function collectStrings(v: unknown, out: string[], depth = 0): void {
  if (depth > 5 || v === null || v === undefined) return;
  if (typeof v === 'string') out.push(v);
  else if (v instanceof Uint8Array) out.push(Buffer.from(v).toString('utf8'));
  else if (typeof v === 'object' && !(v instanceof Map) && !(v instanceof Set)) {
    for (const x of Object.values(v)) collectStrings(x, out, depth + 1);
  }
}

/**
 * Checks one rejection: exactly one InvalidOptionsError, a listed problem per
 * line, nothing secret. Returns a description of what is wrong, or null.
 */
function collectKeys(v: unknown, out: Set<string>, depth = 0): Set<string> {
  if (depth > 5 || v === null || typeof v !== 'object' || v instanceof Uint8Array) return out;
  for (const [k, x] of Object.entries(v)) {
    out.add(k);
    collectKeys(x, out, depth + 1);
  }
  return out;
}

function checkRejection(error: unknown, values: readonly string[], names: ReadonlySet<string> = new Set()): string | null {
  if (!(error instanceof InvalidOptionsError)) {
    return `rejected with ${(error as Error)?.constructor?.name ?? typeof error}, not InvalidOptionsError`;
  }
  if (error.code !== 'IADVIZE_INVALID_OPTIONS') return `wrong code ${error.code}`;
  if (error.problems.length === 0) return 'no problem listed';
  if (!error.problems.every((p) => typeof p === 'string' && error.message.includes(p))) return 'message does not list every problem';
  const leaks = scanText('InvalidOptionsError.message', error.message, secrets);
  if (leaks.length > 0) return describeLeaks(leaks);
  for (const value of values) {
    // Short or low-entropy strings (e.g. eight spaces) would match ordinary message text.
    if (value.length < 8 || new Set(value).size < 4) continue;
    // A value that is also an option or member name supplied alongside (e.g. an unknown option
    // "toString" and a value "toString") may appear because the name is quoted, which is allowed.
    if (names.has(value)) continue;
    if (error.message.includes(value)) return `a supplied value of ${value.length} characters is echoed`;
  }
  return null;
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

describe('option properties', () => {
  it('garbage in any option or key source rejects with exactly one clean InvalidOptionsError (or resolves soundly)', async () => {
    let rejected = 0;
    let resolved = 0;
    await fc.assert(
      fc.asyncProperty(optionsSpec, async (spec) => {
        const build = new Build();
        try {
          const raw = build.options(spec);
          const outcome = await resolveIAdvizeAuthOptions(raw).then(
            (config) => ({ config }),
            (error: unknown) => ({ error }),
          );
          if ('error' in outcome) {
            rejected++;
            expect(checkRejection(outcome.error, build.values, collectKeys(raw, new Set()))).toBeNull();
          } else {
            resolved++;
            const { config } = outcome;
            // Resolving is only allowed for a sound configuration.
            expect(config.issuer).toBe(raw.issuer);
            expect(typeof config.issuer === 'string' && config.issuer.trim() !== '').toBe(true);
            expect(Number.isInteger(config.tokenTtlSeconds) && config.tokenTtlSeconds >= 10 && config.tokenTtlSeconds <= 3600).toBe(true);
            expect(config.signingPublicKey.asymmetricKeyType).toBe('rsa');
            expect(config.signingPublicKey.asymmetricKeyDetails?.modulusLength).toBeGreaterThanOrEqual(2048);
            expect(config.iadvizePublicKey.type).toBe('public');
            expect(config.iadvizePublicKey.export({ format: 'jwk' }).n).not.toBe(config.signingPublicKey.export({ format: 'jwk' }).n);
          }
        } finally {
          build.done();
        }
      }),
      { numRuns: 400 },
    );
    // The generator must mostly produce garbage, and sometimes something valid.
    expect(rejected).toBeGreaterThan(250);
    expect(resolved).toBeGreaterThan(10);
    expect(unhandled).toEqual([]);
    expect(resolved + rejected).toBe(400);
  });

  it('real private keys placed in any value position are never echoed', async () => {
    // A targeted property: key material (PEM, escaped PEM, DER base64, private
    // JWK members) in the value slots where a confused operator might put it.
    const slot = fc.constantFrom('issuer', 'passphrase', 'pemWithPassphrase', 'envValueOfPublicKey', 'publicText', 'publicPem', 'jwkMember', 'fileOfPublicKey', 'ttl');
    const material = fc.constantFrom<RealKey>('brandPem', 'brandPemEscaped', 'derBase64', 'otherPem', 'encrypted', 'rsa1024', 'ec', 'pkcs1');
    await fc.assert(
      fc.asyncProperty(slot, material, fc.constantFrom('d', 'p', 'q', 'dp', 'dq', 'qi'), async (where, ref, member) => {
        const build = new Build();
        try {
          const text = build.value(realKeyText(ref));
          // tokenTtlSeconds 0 guarantees a rejection whatever the slot holds.
          const base: Record<string, unknown> = { issuer: 'https://brand.example', signingKey: { pem: keys.brand.privatePem }, iadvizePublicKey: keys.iadvize.publicKeyPem, tokenTtlSeconds: 0 };
          switch (where) {
            case 'issuer': base.issuer = text; break;
            case 'passphrase': base.signingKey = { pem: keys.encryptedPem, passphrase: text }; break;
            case 'pemWithPassphrase': base.signingKey = { pem: text, passphrase: 'wrong passphrase' }; break;
            case 'envValueOfPublicKey': base.iadvizePublicKey = { env: build.envVar({ t: 'real', ref }) }; break;
            case 'publicText': base.iadvizePublicKey = text; break;
            case 'publicPem': base.signingPublicKey = { pem: text }; break;
            case 'jwkMember': base.signingKey = { jwk: { ...keys.brandJwk, [member]: text } }; break;
            case 'fileOfPublicKey': base.iadvizePublicKey = { file: build.file({ content: { t: 'real', ref } }) }; break;
            case 'ttl': base.tokenTtlSeconds = text; break;
          }
          const error = await resolveIAdvizeAuthOptions(base).then(() => null, (e: unknown) => e);
          expect(error).not.toBeNull();
          expect(checkRejection(error, build.values)).toBeNull();
        } finally {
          build.done();
        }
      }),
      { numRuns: 150 },
    );
    expect(unhandled).toEqual([]);
  });

  it('through IAdvizeAuthModule.forRoot, compile() rejects with the same single error and logs nothing secret', async () => {
    const corpus = new LeakCorpus();
    await fc.assert(
      fc.asyncProperty(optionsSpec, async (spec) => {
        const build = new Build();
        try {
          const raw = build.options(spec);
          const direct = await resolveIAdvizeAuthOptions(raw).then(() => null, (e: unknown) => e);
          fc.pre(direct !== null);
          const logger = new CapturingLogger(corpus);
          // Hand-written on purpose: the generated options go to forRoot exactly as they are (no set-up merged in).
          const error = await Test.createTestingModule({ imports: [IAdvizeAuthModule.forRoot(raw as never)] })
            .setLogger(logger)
            .compile()
            .then((m) => m.close().then(() => null), (e: unknown) => e);
          expect(error).toBeInstanceOf(InvalidOptionsError);
          expect((error as InvalidOptionsError).problems).toEqual((direct as InvalidOptionsError).problems);
          corpus.record('compile() error', (error as Error).message);
        } finally {
          build.done();
        }
      }),
      { numRuns: 40 },
    );
    corpus.assertClean(secrets);
    expect(unhandled).toEqual([]);
  });
});

/**
 * Realistic operator mistakes (the key itself given where its *location*
 * belongs): the message must not quote the key; the library redacts names
 * that look like key material.
 */
describe('key material given where a name belongs is never quoted', () => {
  async function messageOf(options: Record<string, unknown>): Promise<string> {
    const error = await resolveIAdvizeAuthOptions(options).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    return (error as Error).message;
  }
  const base = () => ({ issuer: 'https://brand.example', iadvizePublicKey: keys.iadvize.publicKeyPem });
  const expectClean = (message: string) => expect(describeLeaks(scanText('message', message, secrets))).toBe('');

  it('signingKey: { file: <the PEM itself> } does not quote the key', async () => {
    expectClean(await messageOf({ ...base(), signingKey: { file: keys.brand.privatePem } }));
  });
  it('signingKey: { env: <the PEM itself> } does not quote the key', async () => {
    expectClean(await messageOf({ ...base(), signingKey: { env: keys.brand.privatePem } }));
  });
  it('signingKey: { env, passphraseEnv: <the passphrase itself> } does not quote the passphrase', async () => {
    const name = `${ENV_PREFIX}ENCRYPTED`;
    process.env[name] = keys.encryptedPem;
    envNames.add(name);
    const message = await messageOf({ ...base(), signingKey: { env: name, passphraseEnv: PASSPHRASE } });
    expect(message).not.toContain(PASSPHRASE);
  });
  it('iadvizePublicKey / signingPublicKey: { file | env: <a private PEM> } do not quote the key', async () => {
    expectClean(await messageOf({ ...base(), signingKey: { pem: keys.brand.privatePem }, iadvizePublicKey: { file: keys.other.privatePem } }));
    expectClean(await messageOf({ ...base(), signingKey: { pem: keys.brand.privatePem }, signingPublicKey: { env: keys.other.privatePem } }));
  });
  it('signingKey: { jwk: { kty: <a PEM> } } does not quote the key', async () => {
    expectClean(await messageOf({ ...base(), signingKey: { jwk: { ...keys.brandJwk, kty: keys.other.privatePem } } }));
  });
  it("a KeyProvider whose alg holds a PEM: the provider's alg is not quoted whole", async () => {
    const provider = { alg: keys.other.privatePem, kind: 'x', sign: async () => new Uint8Array(), getPublicKey: async () => keys.brand.publicKey };
    expectClean(await messageOf({ ...base(), signingKey: provider }));
  });
  it('an unknown option whose name is a PEM (a spread env object) is not quoted whole', async () => {
    expectClean(await messageOf({ ...base(), signingKey: { pem: keys.brand.privatePem }, [keys.other.privatePem]: true }));
  });

  it('a KeyProvider with a synchronous close() still yields InvalidOptionsError on a bad configuration', async () => {
    const provider = { alg: 'RS256', kind: 'sync-close', sign: async () => new Uint8Array(), getPublicKey: async () => 'not a key', close: () => undefined };
    await messageOf({ ...base(), signingKey: provider });
  });
  it('a KeyProvider whose kind is not a string still yields InvalidOptionsError when it fails', async () => {
    const provider = { alg: 'RS256', kind: Symbol('kms'), sign: async () => new Uint8Array(), getPublicKey: async () => { throw new Error('down'); } };
    await messageOf({ ...base(), signingKey: provider });
  });

  it('sanity: the public half of a key is of course fine to read back as a thumbprint', async () => {
    const message = await messageOf({ ...base(), signingKey: { pem: keys.brand.privatePem }, signingPublicKey: keys.other.publicPem });
    expect(message).toMatch(/thumbprints [A-Za-z0-9_-]{43} vs [A-Za-z0-9_-]{43}/);
    expectClean(message);
    expect(createPublicKey(keys.brand.privateKey).type).toBe('public');
  });
});
