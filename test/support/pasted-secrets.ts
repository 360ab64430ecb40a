/**
 * Secrets as an operator might paste them into the wrong place (an option, an
 * environment variable, a command-line flag), and a scanner that finds any
 * 16-character piece of one in captured output.
 *
 * Key material comes from real keys made at test time; credentials are
 * derived from a seed with SHAKE-256, so a fast-check seed reproduces them and
 * they have the entropy of the real thing (fast-check's own strings are
 * biased towards short, repetitive values no credential has).
 */
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import fc from 'fast-check';

/** The shapes of secret the property tests paste. */
export const SECRET_KINDS = [
  'pem-pkcs8',
  'pem-pkcs1',
  'pem-encrypted',
  'pem-ec',
  'pem-escaped',
  'pem-crlf-escaped',
  'pem-base64',
  'der-base64',
  'der-base64url',
  'jwk-json',
  'gcp-service-account-json',
  'passphrase-words',
  'passphrase-hex',
  'aws-secret-access-key',
  'vault-token',
  'vault-legacy-token',
  'azure-client-secret',
  'random-hex',
  'random-base64',
  'random-base64url',
] as const;

/** One of {@link SECRET_KINDS}. */
export type SecretKind = (typeof SECRET_KINDS)[number];

/** A pasted secret: its kind (for failure reports) and its text. */
export interface PastedSecret {
  kind: SecretKind;
  value: string;
}

const WORDS = ['correct', 'horse', 'battery', 'staple', 'orange', 'violet', 'anchor', 'meadow', 'copper', 'lantern', 'quartz', 'harbor'];

interface KeyPool {
  rsa: KeyObject[];
  ec: KeyObject;
}
let pool: KeyPool | undefined;

/** Two RSA keys and one EC key, made once per test file. */
function keys(): KeyPool {
  pool ??= {
    rsa: [0, 1].map(() => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey),
    ec: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
  };
  return pool;
}

function bytes(seed: number, n: number, salt = ''): Buffer {
  return createHash('shake256', { outputLength: n }).update(`${salt}:${seed}`).digest();
}

function alphabet(seed: number, n: number, chars: string, salt: string): string {
  return [...bytes(seed, n, salt)].map((b) => chars[b % chars.length]).join('');
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The secret of `kind` derived from `seed`. */
export function pastedSecret(kind: SecretKind, seed: number): PastedSecret {
  const { rsa, ec } = keys();
  const key = rsa[Math.abs(seed) % rsa.length];
  const pkcs8 = () => key.export({ type: 'pkcs8', format: 'pem' }).toString();
  const der = () => key.export({ type: 'pkcs8', format: 'der' });
  let value: string;
  switch (kind) {
    case 'pem-pkcs8': value = pkcs8(); break;
    case 'pem-pkcs1': value = key.export({ type: 'pkcs1', format: 'pem' }).toString(); break;
    case 'pem-encrypted': value = key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: `p-${seed}` }).toString(); break;
    case 'pem-ec': value = ec.export({ type: 'sec1', format: 'pem' }).toString(); break;
    case 'pem-escaped': value = pkcs8().replace(/\n/g, '\\n'); break;
    case 'pem-crlf-escaped': value = pkcs8().replace(/\n/g, '\\r\\n'); break;
    case 'pem-base64': value = Buffer.from(pkcs8()).toString('base64'); break;
    case 'der-base64': value = der().toString('base64'); break;
    case 'der-base64url': value = der().toString('base64url'); break;
    case 'jwk-json': value = JSON.stringify(key.export({ format: 'jwk' })); break;
    case 'gcp-service-account-json':
      value = JSON.stringify({ type: 'service_account', project_id: 'brand', private_key_id: bytes(seed, 20, 'kid').toString('hex'), private_key: pkcs8() });
      break;
    case 'passphrase-words':
      value = [...bytes(seed, 5, 'words')].map((b) => WORDS[b % WORDS.length]).join(' ') + ` ${Math.abs(seed) % 1000}`;
      break;
    case 'passphrase-hex': value = `pass-${bytes(seed, 12, 'pass').toString('hex')}`; break;
    case 'aws-secret-access-key': value = bytes(seed, 30, 'aws').toString('base64').slice(0, 40); break;
    case 'vault-token': value = `hvs.${alphabet(seed, 90, `${ALNUM}_-`, 'hvs')}`; break;
    case 'vault-legacy-token': value = `s.${alphabet(seed, 24, ALNUM, 's')}`; break;
    case 'azure-client-secret': value = `${alphabet(seed, 3, ALNUM, 'az1')}8Q~${alphabet(seed, 34, `${ALNUM}_.~-`, 'az2')}`; break;
    case 'random-hex': value = bytes(seed, 16 + (Math.abs(seed) % 17), 'hex').toString('hex'); break;
    case 'random-base64': value = bytes(seed, 24 + (Math.abs(seed) % 25), 'b64').toString('base64'); break;
    case 'random-base64url': value = bytes(seed, 24 + (Math.abs(seed) % 25), 'b64u').toString('base64url'); break;
  }
  return { kind, value };
}

/**
 * Any pasted secret, as the kind and seed it is derived from (pass them to
 * {@link pastedSecret} inside the property): a failing run then reports the
 * kind and seed, never the secret itself, which the suite's output scanner
 * would rightly refuse to see in a test log.
 */
export const secretSeedArb: fc.Arbitrary<{ kind: SecretKind; seed: number }> = fc.record({
  kind: fc.constantFrom(...SECRET_KINDS),
  seed: fc.integer(),
});

/** Pieces shorter than this are not searched (they would match by chance). */
export const NEEDLE_LENGTH = 16;

/**
 * The texts a leak of `secret` could show: the value itself, its base64 body
 * (armour, escapes and whitespace removed), and what base64 of a PEM decodes to.
 */
function cores(secret: string): string[] {
  const out = new Set<string>([secret]);
  const unescaped = secret.replace(/\\r|\\n/g, '\n');
  const body = unescaped.replace(/-----[A-Z0-9 ]+-----/g, '').replace(/\s+/g, '');
  out.add(body);
  if (/^[A-Za-z0-9+/=_-]+$/.test(secret)) {
    const decoded = Buffer.from(secret, /[-_]/.test(secret) ? 'base64url' : 'base64');
    const text = decoded.toString('utf8');
    if (text.includes('-----')) out.add(text.replace(/-----[A-Z0-9 ]+-----/g, '').replace(/\s+/g, ''));
    out.add(decoded.toString('base64'));
    out.add(decoded.toString('base64url'));
  }
  for (const [, member] of secret.matchAll(/"(?:d|p|q|dp|dq|qi|private_key)":"([^"]+)"/g)) out.add(member);
  return [...out];
}

/** Every {@link NEEDLE_LENGTH}-character piece of a secret and of its encodings. */
export class SecretNeedles {
  private readonly pieces = new Set<string>();

  constructor(...secrets: string[]) {
    for (const s of secrets) this.add(s);
  }

  /** Adds a secret's pieces. */
  add(secret: string): this {
    for (const core of cores(secret)) {
      for (let i = 0; i + NEEDLE_LENGTH <= core.length; i++) this.pieces.add(core.slice(i, i + NEEDLE_LENGTH));
    }
    return this;
  }

  /**
   * The offset of the first piece of a secret found in `text`, or -1.
   * Also tries `text` with JSON and `\n` escapes undone, so a leak through
   * `JSON.stringify` or an escaped log line is found too.
   */
  find(text: string): number {
    for (const variant of new Set([text, text.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\'), text.replace(/\s+/g, '')])) {
      for (let i = 0; i + NEEDLE_LENGTH <= variant.length; i++) if (this.pieces.has(variant.slice(i, i + NEEDLE_LENGTH))) return i;
    }
    return -1;
  }

  /** Throws, naming `where` and the offset (never the text), when `text` holds a piece of a secret. */
  expectAbsent(where: string, text: string): void {
    const at = this.find(text);
    if (at !== -1) throw new Error(`${where}: a 16+ character piece of the pasted secret appears at offset ${at} (of ${text.length} characters)`);
  }
}
