import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidOptionsError, thumbprintOf, type SigningKeyScheduleOption } from '../../lib/index.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import { iadvizeAuthOptionsFromEnv } from '../../lib/config/index.js';
import type { FakeIAdvize } from '../../lib/testing/index.js';
import { authTestBrandKey, authTestSetup } from '../support/auth-module.js';
import { rsaKeyPair, tempDir, type TestKeyPair } from '../support/keys.js';
import { PRIVATE_PEM, requireBuiltCli, runCli } from '../support/cli-runner.js';

const ISSUER = 'https://brand.example';

let dir: string;
let cleanup: () => void;
let keyA: TestKeyPair;
let keyB: TestKeyPair;
let iadvize: FakeIAdvize;
let files: Record<'a' | 'b' | 'iadvize', string>;

beforeAll(async () => {
  ({ dir, cleanup } = tempDir());
  const [setup, second] = await Promise.all([authTestSetup(ISSUER), rsaKeyPair('doctor-b')]);
  keyA = authTestBrandKey(setup);
  keyB = second;
  iadvize = setup.iadvize;
  files = { a: join(dir, 'brand-2026.pem'), b: join(dir, 'brand-2027.pem'), iadvize: join(dir, 'iadvize.pem') };
  writeFileSync(files.a, keyA.privatePem, { mode: 0o600 });
  writeFileSync(files.b, keyB.privatePem, { mode: 0o600 });
  writeFileSync(files.iadvize, iadvize.publicKeyPem);
});
afterAll(() => cleanup());

function scheduleEnv(entries: unknown[], extra: Record<string, string> = {}): Record<string, string> {
  return { IADVIZE_ISSUER: ISSUER, IADVIZE_PUBLIC_KEY_FILE: files.iadvize, IADVIZE_SIGNING_KEY_SCHEDULE: JSON.stringify(entries), ...extra };
}

describe('IADVIZE_SIGNING_KEY_SCHEDULE and IADVIZE_SIGNING_KEY_WATCH', () => {
  it('build a schedule of watched key files that the module loads', async () => {
    const options = iadvizeAuthOptionsFromEnv(
      scheduleEnv([{ file: files.a }, { file: files.b, from: '2099-01-01T00:00:00Z' }], { IADVIZE_SIGNING_KEY_WATCH: 'true', IADVIZE_SIGNING_KEY_WATCH_MS: '5000' }),
    );
    const schedule = (options.signingKey as SigningKeyScheduleOption).schedule;
    expect(schedule.map((e) => e.from)).toEqual([undefined, '2099-01-01T00:00:00Z']);
    const config = await resolveIAdvizeAuthOptions(options);
    expect(config.signingKeyThumbprint).toBe(await thumbprintOf(keyA.publicKey));
    expect(config.signingKeys?.describe().map((l) => [l.state, l.watched, l.description])).toEqual([
      ['in force', true, `file "${files.a}" (IADVIZE_SIGNING_KEY_SCHEDULE)`],
      ['scheduled', true, `file "${files.b}" (IADVIZE_SIGNING_KEY_SCHEDULE)`],
    ]);
    await config.signingKeys?.close();
  });

  it('report every problem, naming the variable and never echoing its value', () => {
    const attempt = (env: Record<string, string>) => {
      try {
        iadvizeAuthOptionsFromEnv(env);
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidOptionsError);
        return (e as Error).message;
      }
      throw new Error('expected a problem');
    };
    expect(attempt(scheduleEnv([], { IADVIZE_SIGNING_KEY_SCHEDULE: '{not json: secret-ish' }))).toMatch(/IADVIZE_SIGNING_KEY_SCHEDULE: is not valid JSON/);
    expect(attempt(scheduleEnv([], { IADVIZE_SIGNING_KEY_SCHEDULE: '{not json: secret-ish' }))).not.toContain('secret-ish');
    const many = attempt(
      scheduleEnv([{ file: files.a }, { pem: 'x' }, { file: '' }, { file: files.b, from: 5 }], {
        IADVIZE_SIGNING_KEY_FILE: files.a,
        IADVIZE_SIGNING_KEY_WATCH: 'yes',
      }),
    );
    expect(many).toContain('IADVIZE_SIGNING_KEY_SCHEDULE[1]: must be an object with "file"');
    expect(many).toContain('IADVIZE_SIGNING_KEY_SCHEDULE[2].file: must be a non-empty path');
    expect(many).toContain('IADVIZE_SIGNING_KEY_SCHEDULE[3].from: must be an ISO 8601 date-time string');
    expect(many).toContain('IADVIZE_SIGNING_KEY_FILE: is set, but so is IADVIZE_SIGNING_KEY_SCHEDULE');
    expect(many).toContain('IADVIZE_SIGNING_KEY_WATCH: must be true or false');
    expect(attempt({ IADVIZE_ISSUER: ISSUER, IADVIZE_SIGNING_KEY: keyA.privatePem, IADVIZE_SIGNING_KEY_WATCH: 'true' })).toContain(
      'IADVIZE_SIGNING_KEY_WATCH: only key files can be watched',
    );
  });
});

describe('iadvize-auth doctor shows the key schedule (built binary)', () => {
  beforeAll(() => requireBuiltCli());

  it('lists every entry with its instant, state and thumbprint, never key material', async () => {
    const r = await runCli(['doctor'], {
      env: scheduleEnv([{ file: join(dir, 'deleted-2025.pem') }, { file: files.a, from: '2026-01-01T00:00:00Z' }, { file: files.b, from: '2099-01-01T00:00:00+01:00' }], {
        IADVIZE_SIGNING_KEY_WATCH: 'true',
      }),
    });
    expect(r.code).toBe(0);
    const thumbA = await thumbprintOf(keyA.publicKey);
    const thumbB = await thumbprintOf(keyB.publicKey);
    expect(r.stdout).toContain('key schedule');
    expect(r.stdout).toMatch(new RegExp(`from the start +retired +file "${join(dir, 'deleted-2025.pem')}" \\(IADVIZE_SIGNING_KEY_SCHEDULE\\)\\n`));
    expect(r.stdout).toMatch(
      new RegExp(`from 2026-01-01T00:00:00.000Z +in force +file "${files.a}" \\(IADVIZE_SIGNING_KEY_SCHEDULE\\), watched, thumbprint ${thumbA}`),
    );
    expect(r.stdout).toMatch(
      new RegExp(`from 2098-12-31T23:00:00.000Z +scheduled +file "${files.b}" \\(IADVIZE_SIGNING_KEY_SCHEDULE\\), watched, thumbprint ${thumbB}`),
    );
    expect(r.stdout).toContain('All checks passed');
    expect(r.all).not.toMatch(PRIVATE_PEM);
    expect(r.all).not.toContain(keyB.privatePem.split('\n')[1]);
  });

  it('fails when a future key is bad, naming its entry', async () => {
    const r = await runCli(['doctor'], { env: scheduleEnv([{ file: files.a }, { file: join(dir, 'missing-2027.pem'), from: '2099-01-01T00:00:00Z' }]) });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('signingKey.schedule[1].key: file');
    expect(r.stdout).toContain('does not exist');
  });
});
