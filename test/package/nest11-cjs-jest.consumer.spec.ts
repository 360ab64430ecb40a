// A NestJS 11 CommonJS TypeScript app with the Jest set-up `nest new` gives it
// (test/fixtures/consumers/nest11-cjs-jest: ts-jest, test/jest-e2e.json, no
// ESM flags, no transformIgnorePatterns), installed from the packed tarball,
// runs its e2e spec: forRootAsync + ConfigService, UserResolver overridden
// through DI, supertest on Express and Fastify, FakeIAdvize opens the token.
// Twice: with CLI 11.0's tsconfig (module commonjs) and CLI 11.1's (module
// nodenext in a CommonJS package). See test/support/consumer-app.ts.
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectNoSecrets } from '../support/keys.js';
import { describeRun, installConsumer, installedFrom, packRepository, type ConsumerApp } from '../support/consumer-app.js';

const version = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')).version as string;
let tarball: string;
let app: ConsumerApp;

beforeAll(() => {
  tarball = packRepository();
  app = installConsumer('nest11-cjs-jest', tarball);
}, 600_000);
afterAll(() => {
  app?.remove();
  if (tarball) rmSync(dirname(tarball), { recursive: true, force: true });
});

describe('NestJS 11 CommonJS app, default ts-jest set-up', () => {
  it('has the package installed from the packed tarball', () => {
    expect(installedFrom(app)).toMatchObject({ version, resolved: expect.stringMatching(/^file:.*\.tgz$/) });
  });

  it.each([
    ['CLI 11.0 (module commonjs)', undefined],
    ['CLI 11.1 (module nodenext, CommonJS package)', 'variants/tsconfig.cli-11.1.json'],
  ])('passes its e2e spec on Express and Fastify with the tsconfig of %s', (_label, variant) => {
    if (variant) copyFileSync(join(app.dir, variant), join(app.dir, 'tsconfig.json'));
    const res = app.test('test:e2e', ['--json', '--outputFile']);
    expectNoSecrets(res.output);
    if (res.status !== 0) throw new Error(describeRun(res));
    expect(res.report).toMatchObject({ numTotalTests: 8, numPassedTests: 8, numFailedTests: 0 });
    expect(res.output).not.toContain('VM Modules'); // Jest ran in its default CommonJS mode
  }, 300_000);
});
