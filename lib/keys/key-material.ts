import { createHash, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { InvalidKeyError } from '../errors.js';
import { MIN_RSA_MODULUS_BITS } from '../iadvize.constants.js';
import { looksLikePath, quoteName } from '../redaction.js';

/**
 * Key text as found in a file or an environment variable: PEM (with real or
 * literal `\n` line breaks), base64 of a PEM, or base64 of DER.
 */
export type KeyText = string | Buffer;

/** What a key source decodes to before Node parses it. */
type Decoded = { pem: string } | { der: Buffer } | { jwk: JsonWebKey };

const PEM_LABEL = /-----BEGIN ([A-Z0-9 ]+)-----/;

/** Turns key text (PEM, escaped PEM, base64 PEM, base64 DER, DER bytes) into PEM or DER. */
function decodeKeyText(input: KeyText, source: string): Decoded {
  if (Buffer.isBuffer(input)) {
    const asText = input.toString('utf8');
    if (asText.includes('-----BEGIN')) return decodeKeyText(asText, source);
    if (input.length > 0 && input[0] === 0x30) return { der: input }; // DER SEQUENCE
    return decodeKeyText(asText, source);
  }
  let text = input.trim();
  if (text.startsWith('"') && text.endsWith('"') && text.length > 1) text = text.slice(1, -1).trim();
  if (text.length === 0) throw new InvalidKeyError(`${source} is empty`);
  if (text.startsWith('{')) {
    try {
      return { jwk: JSON.parse(text) as JsonWebKey };
    } catch {
      throw new InvalidKeyError(`${source} looks like JSON but is not a valid JWK`);
    }
  }
  if (text.includes('-----BEGIN')) {
    // Environment variables and .env files often carry literal "\n" sequences.
    return { pem: text.replace(/\\r\\n|\\n/g, '\n').replace(/\r\n/g, '\n') };
  }
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact)) {
    throw new InvalidKeyError(looksLikePath(text) ? pathInsteadOfKey(source) : `${source} is neither PEM, base64 nor a JWK`);
  }
  const bytes = Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64');
  const decodedText = bytes.toString('utf8');
  if (decodedText.includes('-----BEGIN')) return decodeKeyText(decodedText, source);
  if (bytes.length === 0 || bytes[0] !== 0x30) {
    throw new InvalidKeyError(looksLikePath(text) ? pathInsteadOfKey(source) : `${source} is base64 but not of a PEM or DER key`);
  }
  return { der: bytes };
}

/** The message for a file path given where the key itself belongs (the path is not repeated). */
function pathInsteadOfKey(source: string): string {
  return `${source} holds what looks like a file path, not a key (neither PEM, base64 nor a JWK); give the path as a key file instead (e.g. the *_FILE variable, or { file })`;
}

function pemLabel(pem: string): string | undefined {
  return PEM_LABEL.exec(pem)?.[1];
}

function checkRsa(key: KeyObject, source: string): KeyObject {
  if (key.asymmetricKeyType !== 'rsa') {
    const kind = key.asymmetricKeyType ?? 'unknown';
    throw new InvalidKeyError(
      `${source} is a${/^[aeiou]/i.test(kind) ? 'n' : ''} ${kind.toUpperCase()} key; iAdvize needs an RSA key (RS256 / RSA-OAEP-256)`,
    );
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_MODULUS_BITS) {
    throw new InvalidKeyError(
      `${source} is an RSA-${bits} key; at least ${MIN_RSA_MODULUS_BITS} bits are required (generate one with: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048)`,
    );
  }
  // An exponent of 1 makes RSA the identity (an "encrypted" CEK is the CEK itself);
  // an even one is no RSA key at all. iAdvize's key and every generator use 65537.
  const exponent = key.asymmetricKeyDetails?.publicExponent;
  if (typeof exponent !== 'bigint' || exponent < 3n || exponent % 2n === 0n) {
    throw new InvalidKeyError(
      `${source} has an unsafe RSA public exponent (it must be odd and at least 3; iAdvize's key and standard generators use 65537); use a key made by: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`,
    );
  }
  return key;
}

/**
 * Loads and checks an RSA private key (PKCS#8, PKCS#1, encrypted PKCS#8 PEM,
 * DER, base64, or a private JWK). Throws {@link InvalidKeyError} naming
 * `source`, never the key.
 *
 * @param input key text, bytes or a JWK object
 * @param source human description used in messages, e.g. `signingKey.env (BRAND_KEY)`
 * @param passphrase for encrypted PEM
 */
export function loadPrivateKey(input: KeyText | JsonWebKey, source: string, passphrase?: string): KeyObject {
  const decoded = typeof input === 'string' || Buffer.isBuffer(input) ? decodeKeyText(input, source) : { jwk: input };
  let key: KeyObject;
  if ('jwk' in decoded) {
    const jwk = decoded.jwk;
    if (jwk === null || typeof jwk !== 'object') throw new InvalidKeyError(`${source} is not a JWK object`);
    if (jwk.kty !== 'RSA') throw new InvalidKeyError(`${source} is a JWK of type ${quoteName(jwk.kty)}; iAdvize needs an RSA key`);
    if (jwk.d === undefined) throw new InvalidKeyError(`${source} is a public JWK; a private key is needed here`);
    try {
      key = createPrivateKey({ key: jwk, format: 'jwk' });
    } catch {
      throw new InvalidKeyError(`${source} is not a valid RSA private JWK`);
    }
  } else if ('pem' in decoded) {
    const label = pemLabel(decoded.pem) ?? '';
    if (label.includes('PUBLIC KEY') || label === 'CERTIFICATE') {
      throw new InvalidKeyError(`${source} holds a public key (${label}); a private key is needed here`);
    }
    const encrypted = label === 'ENCRYPTED PRIVATE KEY' || decoded.pem.includes('Proc-Type: 4,ENCRYPTED');
    if (encrypted && !passphrase) {
      throw new InvalidKeyError(`${source} is an encrypted private key; set its passphrase`);
    }
    try {
      key = createPrivateKey({ key: decoded.pem, format: 'pem', passphrase: passphrase ?? '' });
    } catch {
      throw new InvalidKeyError(
        encrypted
          ? `${source} cannot be decrypted: wrong passphrase`
          : `${source} is not a readable PEM private key`,
      );
    }
  } else {
    key = loadDerPrivateKey(decoded.der, source, passphrase);
  }
  return checkRsa(key, source);
}

function loadDerPrivateKey(der: Buffer, source: string, passphrase?: string): KeyObject {
  for (const type of ['pkcs8', 'pkcs1'] as const) {
    try {
      return createPrivateKey({ key: der, format: 'der', type, passphrase });
    } catch {
      // try the next encoding
    }
  }
  try {
    createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    throw new InvalidKeyError(`${source} is not a readable DER private key`);
  }
  throw new InvalidKeyError(`${source} holds a public key; a private key is needed here`);
}

/**
 * Loads and checks an RSA public key (SPKI or PKCS#1 PEM, base64 SPKI body as
 * iAdvize publishes it, DER, or a public JWK). A private key is refused: the
 * option only ever needs the public half.
 */
export function loadPublicKey(input: KeyText | JsonWebKey, source: string): KeyObject {
  const decoded = typeof input === 'string' || Buffer.isBuffer(input) ? decodeKeyText(input, source) : { jwk: input };
  let key: KeyObject;
  const privateRefused = new InvalidKeyError(`${source} holds a private key; only the public key belongs here`);
  if ('jwk' in decoded) {
    const jwk = decoded.jwk;
    if (jwk === null || typeof jwk !== 'object') throw new InvalidKeyError(`${source} is not a JWK object`);
    if (jwk.kty !== 'RSA') throw new InvalidKeyError(`${source} is a JWK of type ${quoteName(jwk.kty)}; an RSA key is needed`);
    if (jwk.d !== undefined) throw privateRefused;
    try {
      key = createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' });
    } catch {
      throw new InvalidKeyError(`${source} is not a valid RSA public JWK`);
    }
  } else if ('pem' in decoded) {
    const label = pemLabel(decoded.pem) ?? '';
    if (label.includes('PRIVATE KEY')) throw privateRefused;
    try {
      key = createPublicKey({ key: decoded.pem, format: 'pem' });
    } catch {
      throw new InvalidKeyError(`${source} is not a readable PEM public key`);
    }
  } else {
    // A private key first: Node would otherwise derive a public key from a PKCS#8 DER and accept it.
    for (const type of ['pkcs8', 'pkcs1'] as const) {
      try {
        createPrivateKey({ key: decoded.der, format: 'der', type });
      } catch {
        continue;
      }
      throw privateRefused;
    }
    let parsed: KeyObject | undefined;
    for (const type of ['spki', 'pkcs1'] as const) {
      try {
        parsed = createPublicKey({ key: decoded.der, format: 'der', type });
        break;
      } catch {
        // try the next encoding
      }
    }
    if (!parsed) throw new InvalidKeyError(`${source} is not a readable DER public key`);
    key = parsed;
  }
  return checkRsa(key, source);
}

/**
 * RFC 7638 JWK thumbprint (SHA-256, base64url) of a key's public half.
 * @public
 */
export async function thumbprintOf(key: KeyObject): Promise<string> {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const { n, e } = pub.export({ format: 'jwk' });
  // RFC 7638 §3.2: the required members of an RSA key, in lexicographic order, no whitespace.
  // Built here rather than with jose (ESM-only) so the CommonJS build stays free of it.
  return createHash('sha256').update(JSON.stringify({ e, kty: 'RSA', n })).digest('base64url');
}

/** True when two keys have the same public half (same modulus and exponent). */
export function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  const ja = (a.type === 'private' ? createPublicKey(a) : a).export({ format: 'jwk' });
  const jb = (b.type === 'private' ? createPublicKey(b) : b).export({ format: 'jwk' });
  return ja.n === jb.n && ja.e === jb.e;
}
