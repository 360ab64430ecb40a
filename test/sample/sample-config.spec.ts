import 'reflect-metadata';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeIAdvize } from 'nestjs-iadvize-auth/testing';
import request from 'supertest';
import { createSampleApp } from '../../sample/src/sample-app.js';
import { loadSampleConfig } from '../../sample/src/sample.config.js';
import { startSample, tempKeysDir } from '../support/sample-harness.js';

describe('sample configuration and development keys', () => {
  const dirs: string[] = [];
  const newDir = () => {
    const d = tempKeysDir();
    dirs.push(d);
    return d;
  };

  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('first run: generates the development key pairs (private files 0600) and warns loudly; later runs reuse them', async () => {
    const dir = join(newDir(), 'nested', '.keys');
    const first = await loadSampleConfig({ SAMPLE_KEYS_DIR: dir });
    expect(first.mode).toBe('demo');
    expect(readdirSync(dir).sort()).toEqual([
      'brand-signing-private.pem',
      'brand-signing-public.pem',
      'fake-iadvize-private.pem',
      'fake-iadvize-public.pem',
    ]);
    if (process.platform !== 'win32') {
      expect(statSync(join(dir, 'brand-signing-private.pem')).mode & 0o077).toBe(0);
      expect(statSync(join(dir, 'fake-iadvize-private.pem')).mode & 0o077).toBe(0);
    }
    const loud = first.notices.filter((n) => n.loud);
    expect(loud).toHaveLength(1);
    expect(loud[0].lines.join('\n')).toMatch(/GENERATED A THROWAWAY DEVELOPMENT SIGNING KEY PAIR/);
    expect(loud[0].lines.join('\n')).toMatch(/development ONLY/);
    // Notices name files, never print key material.
    expect(JSON.stringify(first.notices)).not.toMatch(/BEGIN [A-Z ]*KEY/);
    expect(first.iadvizeOptions.signingKey).toEqual({ file: join(dir, 'brand-signing-private.pem') });
    expect(first.iadvizeOptions.issuer).toBe('https://sample.brand.example');

    const before = readFileSync(join(dir, 'brand-signing-private.pem'), 'utf8');
    const fakeBefore = first.fakeIAdvize!.publicKeyPem;
    const second = await loadSampleConfig({ SAMPLE_KEYS_DIR: dir });
    expect(readFileSync(join(dir, 'brand-signing-private.pem'), 'utf8')).toBe(before);
    expect(second.fakeIAdvize!.publicKeyPem).toBe(fakeBefore); // stable across restarts
    expect(second.notices.find((n) => n.loud)?.lines[0]).toMatch(/USING THE THROWAWAY DEVELOPMENT SIGNING KEY PAIR/);
  });

  it('demo users and their passwords are printed for the console', async () => {
    const config = await loadSampleConfig({ SAMPLE_KEYS_DIR: newDir() });
    const text = config.notices.map((n) => n.lines.join('\n')).join('\n');
    expect(text).toMatch(/alice\s+password: alice-demo-password/);
    expect(text).toMatch(/bob\s+password: bob-demo-password/);
  });

  it('a configured key file wins: no signing key is generated and tokens are signed with the configured key', async () => {
    const dir = newDir();
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyFile = join(newDir(), 'brand.pem');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });

    const sample = await startSample({ IADVIZE_SIGNING_KEY_FILE: keyFile, IADVIZE_ISSUER: 'https://shop.example' }, dir);
    try {
      expect(existsSync(join(dir, 'brand-signing-private.pem'))).toBe(false);
      expect(sample.config.notices.some((n) => n.loud)).toBe(false);
      expect(sample.config.signingKeySource).toContain('IADVIZE_SIGNING_KEY_FILE');
      const server = sample.app.getHttpServer();
      const login = await request(server).post('/auth/login').send({ username: 'bob', password: 'bob-demo-password' }).expect(200);
      const { body } = await request(server).post('/iadvize/token').set('Authorization', `Bearer ${login.body.bearerToken}`).expect(200);
      const fakeKey = readFileSync(join(dir, 'fake-iadvize-private.pem'));
      const { createPrivateKey, createPublicKey } = await import('node:crypto');
      const fake = FakeIAdvize.fromKeyPair(createPrivateKey(fakeKey), createPublicKey(createPrivateKey(fakeKey)));
      const opened = await fake.open(body.token, publicKey, { issuer: 'https://shop.example' });
      expect(opened.userId).toBe('demo-user-1002');
    } finally {
      await sample.close();
    }
  });

  it('a key in IADVIZE_SIGNING_KEY wins too; setting both key variables is an error naming them', async () => {
    const dir = newDir();
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const config = await loadSampleConfig({ SAMPLE_KEYS_DIR: dir, IADVIZE_SIGNING_KEY: pem.replace(/\n/g, '\\n') });
    expect(existsSync(join(dir, 'brand-signing-private.pem'))).toBe(false);
    expect(config.signingKeySource).toBe('environment variable IADVIZE_SIGNING_KEY');
    expect(JSON.stringify(config.notices)).not.toContain('PRIVATE KEY');

    await expect(loadSampleConfig({ SAMPLE_KEYS_DIR: dir, IADVIZE_SIGNING_KEY: pem, IADVIZE_SIGNING_KEY_FILE: '/nowhere.pem' })).rejects.toThrow(
      /IADVIZE_SIGNING_KEY and IADVIZE_SIGNING_KEY_FILE/,
    );
  });

  it('an unreadable configured key makes startup fail with a message naming the variable (never exits the process)', async () => {
    const dir = newDir();
    const missing = join(dir, 'missing.pem');
    const config = await loadSampleConfig({ SAMPLE_KEYS_DIR: dir, IADVIZE_SIGNING_KEY_FILE: missing });
    await expect(createSampleApp(config, { logger: false })).rejects.toThrow(/IADVIZE_SIGNING_KEY_FILE/);
    expect(existsSync(join(dir, 'brand-signing-private.pem'))).toBe(false); // no silent fallback to a development key
  });

  it('real mode: IADVIZE_SID switches to the real tag; bad values are refused with the variable named', async () => {
    const config = await loadSampleConfig({ SAMPLE_KEYS_DIR: newDir(), IADVIZE_SID: '4242' });
    expect(config.mode).toBe('real');
    expect(config.platform).toBe('halc.iadvize.com');
    expect(config.fakeIAdvize).toBeUndefined();
    await expect(loadSampleConfig({ SAMPLE_KEYS_DIR: newDir(), IADVIZE_SID: 'abc' })).rejects.toThrow(/IADVIZE_SID: must be your numeric iAdvize site id/);
    await expect(loadSampleConfig({ SAMPLE_KEYS_DIR: newDir(), IADVIZE_SID: '1', IADVIZE_PLATFORM: 'https://x/y' })).rejects.toThrow(/IADVIZE_PLATFORM/);
    await expect(loadSampleConfig({ SAMPLE_KEYS_DIR: newDir(), PORT: 'eighty' })).rejects.toThrow(/PORT: must be a whole number/);
  });
});
