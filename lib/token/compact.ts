import { createCipheriv, constants, publicEncrypt, randomFillSync, type KeyObject } from 'node:crypto';
import { JWE_ALGORITHM, JWE_CONTENT_TYPE, JWE_ENCRYPTION, JWS_ALGORITHM } from '../iadvize.constants.js';

/** base64url without padding (RFC 7515 §2). */
export function b64url(data: Uint8Array | string): string {
  return (typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength)).toString('base64url');
}

/** `b64url({"alg":"RS256"})`: the inner JWS header, as in iAdvize's sample (no `typ`, no `kid`). */
export const JWS_HEADER_B64 = b64url(JSON.stringify({ alg: JWS_ALGORITHM }));

/** The outer JWE protected header, encoded once. */
export const JWE_HEADER_B64 = b64url(JSON.stringify({ alg: JWE_ALGORITHM, enc: JWE_ENCRYPTION, cty: JWE_CONTENT_TYPE }));
const JWE_AAD = Buffer.from(JWE_HEADER_B64, 'ascii');

/** JWS signing input (RFC 7515 §5.1): `b64url(header) "." b64url(payload)`. */
export function jwsSigningInput(payload: object, headerB64 = JWS_HEADER_B64): string {
  return `${headerB64}.${b64url(JSON.stringify(payload))}`;
}

/** Random bytes each token consumes: a 256-bit CEK then a 96-bit IV. */
const RANDOM_BYTES_PER_TOKEN = 32 + 12;

/**
 * Draws this token's 44 random bytes (CEK + IV) from OpenSSL's CSPRNG into a
 * fresh buffer; the caller wipes it after use. Nothing is drawn ahead: no
 * future token's content key ever sits in process memory (a pool of random
 * bytes refilled ahead would save only one `randomFillSync` call per token).
 */
function freshRandom(): Buffer {
  // Buffer.alloc never hands out a slice of Node's shared allocation pool.
  const random = Buffer.alloc(RANDOM_BYTES_PER_TOKEN);
  randomFillSync(random);
  return random;
}

/**
 * Encrypts `plaintext` (the compact JWS) as a compact JWE with
 * RSA-OAEP-256 key wrapping and A256GCM content encryption (RFC 7516 §5.1):
 * a fresh 256-bit CEK and 96-bit IV per token, the protected header's ASCII
 * as additional authenticated data, no compression.
 *
 * Both steps are cheap public-key / symmetric operations, so they run
 * synchronously: the expensive RSA private operation (the signature) is the
 * only thing that goes off the event loop. This function is on the hot path
 * of every token: keep it free of per-call key parsing and extra copies.
 */
export function compactEncrypt(plaintext: string, recipientKey: KeyObject): string {
  const random = freshRandom();
  const cek = random.subarray(0, 32);
  const iv = random.subarray(32, RANDOM_BYTES_PER_TOKEN);
  try {
    const encryptedKey = publicEncrypt({ key: recipientKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
    const cipher = createCipheriv('aes-256-gcm', cek, iv);
    cipher.setAAD(JWE_AAD);
    // GCM is a stream mode: update() returns the whole ciphertext and final() adds nothing.
    const ciphertext = cipher.update(plaintext, 'utf8');
    cipher.final();
    const tag = cipher.getAuthTag();
    return `${JWE_HEADER_B64}.${encryptedKey.toString('base64url')}.${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${tag.toString('base64url')}`;
  } finally {
    random.fill(0);
  }
}
