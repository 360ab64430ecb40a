/**
 * A private key pasted where a key id or name belongs, and the check that an
 * error message repeats none of it.
 */
import { generateKeyPairSync } from 'node:crypto';

let cached: string | undefined;

/** A PKCS#8 PEM RSA private key generated for the test (as someone might paste into a key id option). */
export function pastedPrivateKeyPem(): string {
  cached ??= generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return cached;
}

/** Asserts `message` holds no PEM label and no 24-character run of the key's base64 body. */
export function expectNoKeyMaterial(message: string, pem: string = pastedPrivateKeyPem()): void {
  expect(message).not.toContain('PRIVATE KEY');
  expect(message).not.toContain('-----BEGIN');
  const body = pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  for (let i = 0; i + 24 <= body.length; i += 8) {
    const run = body.slice(i, i + 24);
    if (message.includes(run)) throw new Error(`the message repeats the key's base64 (at offset ${i})`);
  }
}
