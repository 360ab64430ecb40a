import { quoteName } from '../redaction.js';
import { keyEnvNameProblem, keyFilePathProblem } from '../keys/local-key.provider.js';

/** The four ways an option names a key: a file, an environment variable, inline PEM, inline JWK. */
export type KeySource = 'file' | 'env' | 'pem' | 'jwk';

const KEY_SOURCES: readonly KeySource[] = ['file', 'env', 'pem', 'jwk'];

/** A plain object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The one rule for `{ file | env | pem | jwk }` key options, private
 * (`signingKey`) and public (`signingPublicKey`, `iadvizePublicKey`) alike:
 * exactly one source, no unknown option beside it, and a value of the right
 * shape (a non-empty path, a variable name, a PEM string, a JWK object).
 * Whether the key itself is sound is for the loader.
 *
 * @param option the option object
 * @param path where it sits, e.g. `signingKey` or `signingKey.schedule[1].key`
 * @param extras options allowed beside each source (e.g. `passphrase` beside `file`)
 * @param alternatives what else the option may be, for the "give one of" message
 * @returns the source, or the problem (`path: what, how to fix`; never a value)
 */
export function keySourceOf(
  option: Record<string, unknown>,
  path: string,
  extras: Partial<Record<KeySource, readonly string[]>>,
  alternatives: string,
): KeySource | string {
  const sources = KEY_SOURCES.filter((k) => k in option);
  if (sources.length === 0) {
    return `${path}: give one of "file", "env", "pem", "jwk", ${alternatives} (got keys ${Object.keys(option).map(quoteName).join(', ') || 'none'})`;
  }
  if (sources.length > 1) return `${path}: give exactly one of "pem", "file", "env", "jwk" (got ${sources.map((s) => `"${s}"`).join(', ')})`;
  const source = sources[0];
  const allowed = [source, ...(extras[source] ?? [])];
  const extra = Object.keys(option).filter((k) => !allowed.includes(k));
  if (extra.length > 0) return `${path}: unknown option${extra.length > 1 ? 's' : ''} ${extra.map(quoteName).join(', ')} for a "${source}" key`;
  const value = option[source];
  switch (source) {
    case 'file': {
      // The providers' own rule (FileKeyProvider checks it too: users build providers directly).
      const problem = keyFilePathProblem(value);
      if (problem === undefined) return source;
      // A key given where its path belongs: say where the key itself goes.
      const hint = typeof value === 'string' && value.trim() !== '' ? '; give the key itself as "pem", or its path here' : '';
      return `${path}.file: ${problem}${hint}`;
    }
    case 'env': {
      const problem = keyEnvNameProblem(value);
      return problem === undefined ? source : `${path}.env: ${problem}`;
    }
    case 'pem':
      return typeof value === 'string' ? source : `${path}.pem: must be a string`;
    default:
      return isRecord(value) ? source : `${path}.jwk: must be a JWK object`;
  }
}
