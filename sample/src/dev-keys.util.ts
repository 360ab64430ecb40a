import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const generateKeyPairAsync = promisify(generateKeyPair);

/** A development RSA key pair kept on disk by the sample. */
export interface DevKeyPair {
  /** The private key (never logged). */
  privateKey: KeyObject;
  /** Its public half. */
  publicKey: KeyObject;
  /** PKCS#8 PEM file of the private key (mode 0600). */
  privateKeyPath: string;
  /** SPKI PEM file of the public key: what you would give iAdvize. */
  publicKeyPath: string;
  /** `true` when this call generated the pair (first run), `false` when it was read back. */
  created: boolean;
}

/**
 * Loads the development key pair `<name>-private.pem` / `<name>-public.pem`
 * from `dir`, generating an RSA-2048 pair there on first use.
 *
 * For local development and demos only: keys generated on a laptop are
 * throwaway keys. Production keys come from a secret store or a KMS/HSM.
 */
export async function loadOrCreateDevKeyPair(dir: string, name: string): Promise<DevKeyPair> {
  const privateKeyPath = join(dir, `${name}-private.pem`);
  const publicKeyPath = join(dir, `${name}-public.pem`);
  let pem: string | undefined;
  try {
    pem = await readFile(privateKeyPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`Cannot read the development key file ${privateKeyPath} (${(e as NodeJS.ErrnoException).code}); fix its permissions or delete it to get a new one`);
    }
  }
  if (pem !== undefined) {
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(pem);
    } catch {
      throw new Error(`The development key file ${privateKeyPath} is not a valid PEM private key; delete it and restart to generate a new one`);
    }
    const publicKey = createPublicKey(privateKey);
    // Re-create the public file if someone deleted it.
    await writeFile(publicKeyPath, publicKey.export({ type: 'spki', format: 'pem' }));
    return { privateKey, publicKey, privateKeyPath, publicKeyPath, created: false };
  }

  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  try {
    // 'wx': never overwrite a key another process wrote meanwhile.
    await writeFile(privateKeyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateDevKeyPair(dir, name);
    throw new Error(`Cannot write the development key file ${privateKeyPath} (${(e as NodeJS.ErrnoException).code}); set SAMPLE_KEYS_DIR to a writable folder`);
  }
  await chmod(privateKeyPath, 0o600);
  await writeFile(publicKeyPath, publicKey.export({ type: 'spki', format: 'pem' }));
  return { privateKey, publicKey, privateKeyPath, publicKeyPath, created: true };
}
