/**
 * The suite-wide output check (test/jest/global-output-check.mjs) finds what it
 * claims to find, and test/jest/output-capture.ts really records this process's
 * output. The leaks planted here go to a temporary folder, never to stdout.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { Logger } from '@nestjs/common';
// @ts-expect-error plain JavaScript module without typings
import { scanOutput } from '../jest/global-output-check.mjs';
import { OUTPUT_DIR } from '../jest/output-capture.js';

const scan = scanOutput as (dir: string) => string[];

describe('suite-wide output check', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'output-check-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('flags a private PEM, a private JWK member and a compact token; passes public keys and ordinary logs', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = privateKey.export({ format: 'jwk' });
    const header = Buffer.from(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM' })).toString('base64url');
    const token = [header, 'a'.repeat(342), 'b'.repeat(16), 'c'.repeat(40), 'd'.repeat(22)].join('.');
    writeFileSync(join(dir, '1.log'), `[Nest] 1 - LOG starting\n${privateKey.export({ type: 'pkcs8', format: 'pem' })}`);
    writeFileSync(join(dir, '2.log'), `debug ${JSON.stringify(jwk)}\n`);
    writeFileSync(join(dir, '5.log'), `${inspect({ ...jwk })}\n`); // console.log(jwk)'s form
    writeFileSync(join(dir, '3.log'), `issued ${token}\n`);
    writeFileSync(join(dir, '4.log'), `${publicKey.export({ type: 'spki', format: 'pem' })}\nIADVIZE_SIGNING_UNAVAILABLE: signing backend "aws-kms" failed\n`);
    expect(scan(dir).sort()).toEqual([
      'test output 1.log: private-key-pem-block',
      'test output 2.log: private-jwk-member',
      'test output 3.log: jose-compact-token',
      'test output 5.log: private-jwk-member',
    ]);
  });

  it("captures Nest's logger output of this process (console output is recorded by test/jest/output-reporter.mjs)", () => {
    const marker = `output-capture-marker-${process.pid}-${Date.now()}`;
    new Logger('OutputCheck').log(marker);
    expect(readFileSync(join(OUTPUT_DIR, `${process.pid}.log`), 'utf8')).toContain(marker);
  });
});
