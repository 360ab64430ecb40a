/**
 * A private key pasted where a key id or name belongs, and the check that an
 * error message repeats none of it.
 */
import { generateKeyPairSync } from 'node:crypto';
import { InvalidKeyError } from '../../lib/index.js';
import { pastedSecret, SecretNeedles, type PastedSecret, type SecretKind } from './pasted-secrets.js';

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

/**
 * Starts `provider` (configured with `pem` pasted into an option), expects the
 * startup to fail with `InvalidKeyError`, checks that neither the message
 * (also URL-decoded) nor `describe()` repeats the key, closes the provider and
 * returns the message for further checks.
 */
export async function expectStartupHidesKey(
  provider: { init(): Promise<unknown>; describe(): string; close(): Promise<void> },
  pem: string = pastedPrivateKeyPem(),
): Promise<string> {
  const err = await provider.init().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidKeyError);
  const message = (err as Error).message;
  expectNoKeyMaterial(message, pem);
  let decoded = message;
  try {
    decoded = decodeURIComponent(message);
  } catch {
    // not URL-encoded
  }
  expectNoKeyMaterial(decoded, pem);
  expectNoKeyMaterial(provider.describe(), pem);
  await provider.close();
  return message;
}

/**
 * Credentials and other secrets as they get pasted into a key id, key name,
 * label or mount option: an AWS secret access key, Vault tokens, an Azure
 * client secret, a passphrase, random hex, a private JWK, an escaped PEM,
 * base64 DER. Derived from fixed seeds (see pasted-secrets.ts).
 */
export function pastedCredentials(): PastedSecret[] {
  const kinds: SecretKind[] = [
    'aws-secret-access-key',
    'vault-token',
    'vault-legacy-token',
    'azure-client-secret',
    'passphrase-words',
    'random-hex',
    'random-base64',
    'jwk-json',
    'pem-escaped',
    'der-base64',
  ];
  return kinds.map((kind, i) => pastedSecret(kind, 7 + i));
}

/**
 * Starts `provider` (configured with `secret` pasted into an option), expects
 * the startup to fail, and checks that neither the message (also URL-decoded)
 * nor `describe()` holds any 16-character piece of the secret; then closes it.
 */
export async function expectStartupHidesSecret(
  provider: { init(): Promise<unknown>; describe(): string; close(): Promise<void> },
  secret: PastedSecret,
  where: string,
): Promise<string> {
  const needles = new SecretNeedles(secret.value);
  const err = await provider.init().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  const message = (err as Error).message;
  let decoded = message;
  try {
    decoded = decodeURIComponent(message);
  } catch {
    // not URL-encoded
  }
  needles.expectAbsent(`${where} <- ${secret.kind}: error message`, message);
  needles.expectAbsent(`${where} <- ${secret.kind}: error message, URL-decoded`, decoded);
  needles.expectAbsent(`${where} <- ${secret.kind}: describe()`, provider.describe());
  await provider.close();
  return message;
}
