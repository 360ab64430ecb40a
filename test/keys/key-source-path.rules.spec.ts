/**
 * One rule for where a local key is read from (a non-empty file path, an
 * environment variable name), checked by the providers users build directly
 * and by the `{ file }` / `{ env }` key options, with one wording.
 */
import { InvalidKeyError, InvalidOptionsError } from '../../lib/errors.js';
import { EnvKeyProvider, FileKeyProvider, keyEnvNameProblem, keyFilePathProblem } from '../../lib/keys/local-key.provider.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';

const ISSUER = 'https://brand.example';

async function optionProblems(raw: unknown): Promise<string> {
  const e: unknown = await resolveIAdvizeAuthOptions(raw).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(InvalidOptionsError);
  return (e as Error).message;
}

describe('the key path rule', () => {
  it.each([[''], [undefined], [42]])('a file path of %p breaks it, a non-empty string passes', (bad) => {
    expect(keyFilePathProblem(bad)).toBe('must be a non-empty path');
    expect(keyEnvNameProblem(bad)).toBe('must be the name of an environment variable');
    expect(keyFilePathProblem('key.pem')).toBeUndefined();
    expect(keyEnvNameProblem('IADVIZE_KEY')).toBeUndefined();
  });

  it('a provider built directly applies it, naming its own option', async () => {
    await expect(new FileKeyProvider({ file: '' }).init()).rejects.toThrow(new InvalidKeyError('"file" must be a non-empty path'));
    await expect(new EnvKeyProvider({ env: '' }).init()).rejects.toThrow(new InvalidKeyError('"env" must be the name of an environment variable'));
  });

  it('the module options apply the same rule, naming the option', async () => {
    expect(await optionProblems({ issuer: ISSUER, signingKey: { file: '' } })).toContain('signingKey.file: must be a non-empty path');
    expect(await optionProblems({ issuer: ISSUER, signingKey: { env: '' } })).toContain('signingKey.env: must be the name of an environment variable');
    expect(await optionProblems({ issuer: ISSUER, signingKey: { pem: 'x' }, iadvizePublicKey: { file: '' } })).toContain('iadvizePublicKey.file: must be a non-empty path');
  });
});
