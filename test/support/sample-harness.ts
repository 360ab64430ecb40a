import type { INestApplication } from '@nestjs/common';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSampleApp } from '../../sample/src/sample-app.js';
import { loadSampleConfig, type SampleConfig } from '../../sample/src/sample.config.js';

/** A running sample app, in this process, on a free loopback port. */
export interface RunningSample {
  app: INestApplication;
  config: SampleConfig;
  /** e.g. `http://127.0.0.1:41234` */
  baseUrl: string;
  /** The temporary keys folder of this run (SAMPLE_KEYS_DIR). */
  keysDir: string;
  /** Stops the app and deletes the keys folder (unless it was given). */
  close(): Promise<void>;
}

/** A fresh temporary folder for the sample's development keys. */
export function tempKeysDir(): string {
  return mkdtempSync(join(tmpdir(), 'iadvize-sample-keys-'));
}

/**
 * Starts the sample the way `npm run sample` does (same config loader, same
 * app factory), with its keys in a temporary folder so tests never read or
 * write the developer's `sample/.keys`. Only the variables given are seen:
 * a developer's own IADVIZE_* variables do not leak in.
 */
export async function startSample(env: Record<string, string> = {}, keysDir?: string): Promise<RunningSample> {
  const dir = keysDir ?? tempKeysDir();
  const config = await loadSampleConfig({ PORT: '0', SAMPLE_KEYS_DIR: dir, ...env });
  const app = await createSampleApp(config, { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return {
    app,
    config,
    baseUrl: `http://127.0.0.1:${port}`,
    keysDir: dir,
    async close() {
      await app.close();
      if (!keysDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The brand public key the sample generated (what the brand would register with iAdvize). */
export function brandPublicKeyPem(keysDir: string): string {
  return readFileSync(join(keysDir, 'brand-signing-public.pem'), 'utf8');
}
