/**
 * One rule for a key file path, wherever a path is read: the environment
 * reader (`IADVIZE_SIGNING_KEY_FILE`, the public key `_FILE` variables, each
 * `IADVIZE_SIGNING_KEY_SCHEDULE` entry), the `{ file }` options and the
 * providers users build directly. The same bad value gets the same wording
 * everywhere; only the place (variable or option) and the hint differ.
 */
import { InvalidKeyError, InvalidOptionsError } from '../../lib/errors.js';
import { FileKeyProvider, keyFilePathProblem } from '../../lib/keys/local-key.provider.js';
import { redact } from '../../lib/redaction.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import { IAdvizeEnv, iadvizeAuthOptionsFromEnv } from '../../lib/config/index.js';
import { expectNoSecrets, rsaKeyPair } from '../support/keys.js';

const ISSUER = 'https://brand.example';
const KEY_HINT = `; put the key itself in ${IAdvizeEnv.SigningKey}, or its path here`;

function envProblems(env: Record<string, string>): readonly string[] {
  try {
    iadvizeAuthOptionsFromEnv(env);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidOptionsError);
    return (e as InvalidOptionsError).problems;
  }
  throw new Error('expected an InvalidOptionsError');
}

async function optionProblems(raw: unknown): Promise<readonly string[]> {
  const e: unknown = await resolveIAdvizeAuthOptions(raw).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(InvalidOptionsError);
  return (e as InvalidOptionsError).problems;
}

function schedule(file: unknown): Record<string, string> {
  return { IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_SCHEDULE: JSON.stringify([{ file }]) };
}

describe('the key file path rule, shared by the environment reader, the options and the providers', () => {
  let pem: string;
  beforeAll(async () => {
    ({ privatePem: pem } = await rsaKeyPair('brand'));
  });

  it.each([
    ['an empty string', ''],
    ['only spaces', '   '],
    ['a number', 5],
    ['null', null],
  ])('%s as a path: one wording in a schedule entry, the options and a provider', async (_what, bad) => {
    const problem = keyFilePathProblem(bad);
    expect(problem).toBe('must be a non-empty path');
    expect(envProblems(schedule(bad))).toEqual([`${IAdvizeEnv.SigningKeySchedule}[0].file: ${problem}`]);
    expect(await optionProblems({ issuer: ISSUER, signingKey: { file: bad } })).toEqual([`signingKey.file: ${problem}`]);
    await expect(new FileKeyProvider({ file: bad as string }).init()).rejects.toThrow(new InvalidKeyError(`"file" ${problem}`));
  });

  it('a key pasted where its path belongs: the same description in every variable, option and provider, never the key', async () => {
    // The PEM, the PEM with escaped line breaks, its body alone with escaped line breaks (no markers), base64 of the PEM.
    for (const value of [pem, pem.replace(/\n/g, '\\n'), pem.split('\n').filter((l) => !l.startsWith('-----')).join('\\n'), Buffer.from(pem).toString('base64')]) {
      const problem = keyFilePathProblem(value) as string;
      expect(problem).toMatch(/^holds <redacted: [^>]+, \d+ chars>, not a file path$/);
      const outputs: string[] = [problem];
      const fromSchedule = envProblems(schedule(value));
      expect(fromSchedule).toEqual([`${IAdvizeEnv.SigningKeySchedule}[0].file: ${problem}${KEY_HINT}`]);
      const fromFileVariable = envProblems({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: value });
      expect(fromFileVariable).toEqual([`${IAdvizeEnv.SigningKeyFile}: ${problem}${KEY_HINT}`]);
      const fromPublicFile = envProblems({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY_FILE: '/k.pem', IADVIZE_PUBLIC_KEY_FILE: value });
      expect(fromPublicFile).toEqual([`${IAdvizeEnv.PublicKeyFile}: ${problem}; put the key itself in ${IAdvizeEnv.PublicKey}, or its path here`]);
      const fromOptions = await optionProblems({ issuer: ISSUER, signingKey: { file: value }, iadvizePublicKey: { file: value } });
      expect(fromOptions).toEqual([`signingKey.file: ${problem}; give the key itself as "pem", or its path here`, `iadvizePublicKey.file: ${problem}; give the key itself as "pem", or its path here`]);
      const fromProvider = await new FileKeyProvider({ file: value }).init().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(fromProvider).toEqual(new InvalidKeyError(`"file" ${problem}`));
      outputs.push(...fromSchedule, ...fromFileVariable, ...fromPublicFile, ...fromOptions, (fromProvider as Error).message);
      expectNoSecrets(outputs.join('\n'));
    }
  });

  it('a sound path passes everywhere', () => {
    // Windows folders starting with n or r (`\\nick`, `\\repos`) are not escaped line breaks.
    const windows = ['C:\\Users\\nick\\repos\\brand.pem', 'D:\\run\\nestjs\\brand.pem', '\\\\server\\share\\keys\\brand.pem'];
    for (const path of ['keys/brand.pem', '/run/secrets/brand-2026.pem', 'brand.key', './keys/my brand.pem', ...windows]) expect([path, keyFilePathProblem(path)]).toEqual([path, undefined]);
    // …and messages show them: the redaction rule itself reads them as paths.
    for (const path of windows) expect(redact(path)).toBe(path);
    expect(() => iadvizeAuthOptionsFromEnv(schedule('keys/brand.pem'))).not.toThrow();
  });
});
