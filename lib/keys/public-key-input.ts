import { KeyObject, type JsonWebKey } from 'node:crypto';
import { InvalidKeyError } from '../errors.js';
import { loadPublicKey } from './key-material.js';
import { quoteEnvName, quoteName } from '../redaction.js';
import { readKeyFile } from './local-key.provider.js';
import { keySourceOf } from '../options/key-source.rules.js';

/**
 * Where a public RSA key comes from:
 * - a string: PEM, or the bare base64 SPKI body as iAdvize publishes it;
 * - `{ pem }`, `{ file }` (path), `{ env }` (variable name), `{ jwk }`;
 * - a Node `KeyObject` (public).
 * @public
 */
export type PublicKeyInput =
  | string
  | { pem: string }
  | { file: string }
  | { env: string }
  | { jwk: JsonWebKey }
  | KeyObject;

/**
 * Loads a public key from a {@link PublicKeyInput}. Messages name `option`
 * (and the file or variable), never the key.
 */
export function loadPublicKeyInput(input: PublicKeyInput, option: string): KeyObject {
  if (input instanceof KeyObject) {
    if (input.type !== 'public') throw new InvalidKeyError(`${option} is a ${input.type} KeyObject; a public key is needed`);
    return loadPublicKey(input.export({ format: 'jwk' }), option);
  }
  if (typeof input === 'string') return loadPublicKey(input, option);
  if (input === null || typeof input !== 'object') {
    throw new InvalidKeyError(`${option} must be a PEM/base64 string or one of { pem }, { file }, { env }, { jwk }`);
  }
  const source = keySourceOf(input as Record<string, unknown>, option, {}, 'a PEM string or a KeyObject');
  switch (source) {
    case 'pem':
      return loadPublicKey((input as { pem: string }).pem, `${option}.pem`);
    case 'file': {
      const file = (input as { file: string }).file;
      const described = `${option}.file ${quoteName(file)}`;
      return loadPublicKey(readKeyFile(file, described), described);
    }
    case 'env': {
      const env = (input as { env: string }).env;
      const described = `${option}.env ${quoteEnvName(env)}`;
      const value = process.env[env];
      if (value === undefined || value.trim() === '') throw new InvalidKeyError(`${described} is not set`);
      return loadPublicKey(value, described);
    }
    case 'jwk':
      return loadPublicKey((input as { jwk: JsonWebKey }).jwk, `${option}.jwk`);
    default:
      throw new InvalidKeyError(source);
  }
}
