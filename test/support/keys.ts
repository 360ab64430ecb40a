import { generateKeyPair, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const gen = promisify(generateKeyPair);

export interface TestKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** PKCS#8 PEM */
  privatePem: string;
  /** SPKI PEM */
  publicPem: string;
}

const cache = new Map<string, Promise<TestKeyPair>>();

/** A fresh RSA key pair generated at test time (cached per label within one test file). */
export function rsaKeyPair(label = 'brand', bits = 2048): Promise<TestKeyPair> {
  const id = `${label}:${bits}`;
  let p = cache.get(id);
  if (!p) {
    p = gen('rsa', { modulusLength: bits }).then(({ privateKey, publicKey }) => ({
      privateKey,
      publicKey,
      privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    }));
    cache.set(id, p);
  }
  return p;
}

/** A temporary directory removed by the returned cleanup function. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'iadvize-auth-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Asserts a string carries no key material or token. */
export function expectNoSecrets(text: string, tokens: string[] = []): void {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw new Error('text contains a private key PEM');
  if (/"(d|p|q|dp|dq|qi)"\s*:/.test(text)) throw new Error('text contains a private JWK member');
  for (const t of tokens) if (t && text.includes(t)) throw new Error('text contains a token');
  if (/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}\./.test(text)) throw new Error('text contains something shaped like a JOSE token');
}
