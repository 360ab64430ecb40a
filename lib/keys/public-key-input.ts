import { KeyObject, type JsonWebKey } from 'node:crypto';
import { InvalidKeyError } from '../errors.js';
import { loadPublicKey } from './key-material.js';
import { quoteEnvName, quoteName } from '../redaction.js';
import { readKeyFile } from './local-key.provider.js';

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
  const keys = Object.keys(input);
  if (keys.length !== 1) {
    throw new InvalidKeyError(`${option} must have exactly one of "pem", "file", "env", "jwk" (got ${keys.map(quoteName).join(', ') || 'none'})`);
  }
  if ('pem' in input) {
    if (typeof input.pem !== 'string') throw new InvalidKeyError(`${option}.pem must be a string`);
    return loadPublicKey(input.pem, `${option}.pem`);
  }
  if ('file' in input) {
    if (typeof input.file !== 'string' || !input.file) throw new InvalidKeyError(`${option}.file must be a non-empty path`);
    const source = `${option}.file ${quoteName(input.file)}`;
    return loadPublicKey(readKeyFile(input.file, source), source);
  }
  if ('env' in input) {
    if (typeof input.env !== 'string' || !input.env) throw new InvalidKeyError(`${option}.env must be an environment variable name`);
    const source = `${option}.env ${quoteEnvName(input.env)}`;
    const value = process.env[input.env];
    if (value === undefined || value.trim() === '') throw new InvalidKeyError(`${source} is not set`);
    return loadPublicKey(value, source);
  }
  if ('jwk' in input) return loadPublicKey(input.jwk, `${option}.jwk`);
  throw new InvalidKeyError(`${option} must have exactly one of "pem", "file", "env", "jwk" (got ${quoteName(keys[0])})`);
}
