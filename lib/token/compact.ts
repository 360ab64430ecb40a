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
/** Tokens served by one refill of the random pool. */
const RANDOM_POOL_TOKENS = 64;
const randomPool = Buffer.alloc(RANDOM_BYTES_PER_TOKEN * RANDOM_POOL_TOKENS);
let randomOffset = randomPool.length;

/**
 * Takes the next unused 44 random bytes (CEK + IV). One `randomFillSync` call
 * (OpenSSL's CSPRNG) refills the pool every {@link RANDOM_POOL_TOKENS} tokens:
 * a single call per token costs about 20× more than the slice. Each slice is
 * handed out once; the caller wipes the CEK part after use.
 */
function nextRandom(): Buffer {
  if (randomOffset >= randomPool.length) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  const slice = randomPool.subarray(randomOffset, randomOffset + RANDOM_BYTES_PER_TOKEN);
  randomOffset += RANDOM_BYTES_PER_TOKEN;
  return slice;
}

/**
 * Encrypts `plaintext` (the compact JWS) as a compact JWE with
 * RSA-OAEP-256 key wrapping and A256GCM content encryption (RFC 7516 §5.1):
 * a fresh 256-bit CEK and 96-bit IV per token, the protected header's ASCII
 * as additional authenticated data, no compression.
 *
 * Both steps are public-key / symmetric operations costing microseconds
 * (≈ 17 µs for the RSA public operation, ≈ 3 µs for AES-GCM), so they run
 * synchronously: the expensive RSA private operation (the signature) is the
 * only thing that goes to the thread pool. This function is on the hot path
 * of every token: keep it free of per-call key parsing and extra copies.
 */
export function compactEncrypt(plaintext: string, recipientKey: KeyObject): string {
  const random = nextRandom();
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
