// A NestJS 12 ESM app as the CLI 12 scaffold makes it
// (test/fixtures/consumers/nest12-esm-vitest: "type": "module", module
// nodenext, Vitest 4 + Vite 8 with vitest.config.e2e.ts, decorators through
// Vite's oxc transform reading tsconfig.json), installed from the packed
// tarball, runs the e2e spec of test/fixtures/consumers/nest12-esm-jest (the
// same app's src/ and test/, copied in by installConsumer): forRootAsync + ConfigService, UserResolver
// overridden through DI, supertest on Express and Fastify, FakeIAdvize opens
// the token. See test/support/consumer-app.ts.
import { readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectNoSecrets } from '../support/keys.js';
import { describeRun, installConsumer, installedFrom, packRepository, type ConsumerApp } from '../support/consumer-app.js';

const version = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')).version as string;
let tarball: string;
let app: ConsumerApp;

beforeAll(() => {
  tarball = packRepository();
  app = installConsumer('nest12-esm-vitest', tarball, { sourcesFrom: 'nest12-esm-jest' });
}, 600_000);
afterAll(() => {
  app?.remove();
  if (tarball) rmSync(dirname(tarball), { recursive: true, force: true });
});

describe('NestJS 12 ESM app, CLI 12 Vitest set-up', () => {
  it('has the package installed from the packed tarball', () => {
    expect(installedFrom(app)).toMatchObject({ version, resolved: expect.stringMatching(/^file:.*\.tgz$/) });
  });

  it('passes its e2e spec on Express and Fastify with Vitest', () => {
    const res = app.test('test:e2e', ['--reporter=json', '--outputFile']);
    expectNoSecrets(res.output);
    if (res.status !== 0) throw new Error(describeRun(res));
    expect(res.report).toMatchObject({ numTotalTests: 8, numPassedTests: 8, numFailedTests: 0 });
  }, 300_000);
});
