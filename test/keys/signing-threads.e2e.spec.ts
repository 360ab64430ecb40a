/**
 * Local signing does not share libuv's thread pool with the app (issue 13:
 * a flood of scrypt logins starved token signing). With every libuv thread
 * blocked by work the test controls (opens of a FIFO nobody writes to), the
 * token endpoint still mints a token, on Express and Fastify; a signing
 * thread that dies fails only the signatures it owed, as a 503; closing the
 * app stops the threads.
 *
 * No timed assertion: the checks are about order (the token is minted BEFORE
 * the libuv threads are released). The 20 s bound only ends the wait on code
 * that signs on libuv's pool, which then mints only after the release.
 */
import { execFileSync } from 'node:child_process';
import { constants, closeSync, openSync, writeFileSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Injectable, type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { SigningPool, defaultSigningThreads } from '../../lib/keys/signing-thread.pool.js';
import type { FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestApp, authTestModule, authTestModuleBuilder, authTestSetup, type AuthTestModuleParts } from '../support/auth-module.js';
import { tempDir } from '../support/keys.js';
import { PLATFORMS, startApp } from '../support/platforms.js';

/** libuv's thread pool size in this process (Node's default is 4). */
const UV_THREADS = Number(process.env.UV_THREADPOOL_SIZE ?? 4);

/** Test-only authentication: `x-user` becomes `request.user.id`; `x-crash-signer: yes` stops the signing threads first. */
@Injectable()
class HeaderGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: unknown }>();
    if (req.headers['x-crash-signer'] === 'yes') {
      // Synchronously, before the controller asks for the signature: the thread dies with that job owed.
      for (const worker of SigningPool.shared(defaultSigningThreads()).workers()) void worker.terminate();
    }
    if (req.headers['x-user']) req.user = { id: req.headers['x-user'] };
    return true;
  }
}

let setup: FakeIAdvizeSetup;
let brandPem: string;
let tmp: ReturnType<typeof tempDir>;

beforeAll(async () => {
  setup = await authTestSetup();
  brandPem = setup.moduleOptions.signingKey.pem;
  tmp = tempDir();
});
afterAll(() => tmp.cleanup());

/** The test app: the setup's brand key (with `signingKey` overrides) behind {@link HeaderGuard}. */
function parts(signingKey: { signingThreads?: number } = {}): AuthTestModuleParts {
  return { options: { signingKey: { pem: brandPem, ...signingKey } }, controller: { guards: [HeaderGuard] } };
}

/**
 * Occupies every libuv thread with an `open()` of a FIFO that has no writer
 * (each blocks in the kernel until one appears). `release()` opens the write
 * end from this thread (non-blocking: the readers are waiting), which frees them.
 */
async function blockLibuvPool(name: string) {
  const fifo = join(tmp.dir, name);
  execFileSync('mkfifo', [fifo]);
  const probeFile = join(tmp.dir, `${name}.probe`);
  writeFileSync(probeFile, 'x');
  const readers: Array<Promise<FileHandle>> = Array.from({ length: UV_THREADS }, () => open(fifo, 'r'));
  // Queued behind the readers: settles only once a libuv thread is free again.
  let probeDone = false;
  const probe = stat(probeFile).then(() => {
    probeDone = true;
  });
  let released = false;
  return {
    /** True while no libuv thread has been free since the block started. */
    stillBlocked: () => !probeDone && !released,
    get released() {
      return released;
    },
    async release() {
      released = true;
      const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      const handles = await Promise.all(readers);
      closeSync(writer);
      await Promise.all(handles.map((h) => h.close()));
      await probe;
    },
  };
}

describe.each(PLATFORMS)('local signing threads on %s', (name, platform) => {
  let app: INestApplication;
  beforeAll(async () => {
    ({ app } = await authTestApp(setup, platform, parts()));
  });
  afterAll(() => app?.close());

  it('mints a token while every libuv thread is blocked (before they are released)', async () => {
    const block = await blockLibuvPool(`fifo-${name}`);
    let mintedWhileBlocked: boolean | undefined;
    let poolBlockedWhenMinted: boolean | undefined;
    const response = request(app.getHttpServer())
      .post('/iadvize/token')
      .set('x-user', 'alice')
      .then((res) => {
        mintedWhileBlocked = !block.released;
        poolBlockedWhenMinted = block.stillBlocked();
        return res;
      });
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([response, new Promise((resolve) => (bound = setTimeout(resolve, 20_000)))]);
    clearTimeout(bound);
    await block.release();
    const res = await response;
    expect(res.status).toBe(200);
    expect(mintedWhileBlocked).toBe(true);
    // The block was real: no libuv thread came free before the token was out.
    expect(poolBlockedWhenMinted).toBe(true);
    const opened = await setup.open(res.body.token as string);
    expect(opened.userId).toBe('alice');
  }, 40_000);

  it('a signing thread that dies fails its owed signature as 503 IADVIZE_SIGNING_UNAVAILABLE, and the next token is minted', async () => {
    const crashed = await request(app.getHttpServer()).post('/iadvize/token').set('x-user', 'bob').set('x-crash-signer', 'yes');
    expect(crashed.status).toBe(503);
    expect(crashed.body.code).toBe('IADVIZE_SIGNING_UNAVAILABLE');
    const next = await request(app.getHttpServer()).post('/iadvize/token').set('x-user', 'bob').expect(200);
    expect((await setup.open(next.body.token as string)).userId).toBe('bob');
  });
});

describe('closing the app', () => {
  it('stops the signing threads it started', async () => {
    const pool = SigningPool.shared(3);
    const { app } = await authTestApp(setup, PLATFORMS[0][1], parts({ signingThreads: 3 }));
    await request(app.getHttpServer()).post('/iadvize/token').set('x-user', 'carol').expect(200);
    const workers = pool.workers();
    expect(workers).toHaveLength(3);
    const exited = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)));
    await app.close();
    await Promise.all(exited);
    expect(pool.workers()).toHaveLength(0);
  });
});

describe('signingThreads: 0 signs on libuv\'s thread pool (no signing thread)', () => {
  it('mints tokens without starting a thread', async () => {
    const pool = SigningPool.shared(defaultSigningThreads());
    const { moduleRef } = await authTestModule(setup, parts({ signingThreads: 0 }));
    const before = pool.workers().length;
    const app = await startApp(moduleRef, PLATFORMS[1][1]);
    try {
      const res = await request(app.getHttpServer()).post('/iadvize/token').set('x-user', 'dave').expect(200);
      expect((await setup.open(res.body.token as string)).userId).toBe('dave');
      expect(pool.workers()).toHaveLength(before);
    } finally {
      await app.close();
    }
  });
});

describe('signingThreads is checked at startup', () => {
  it.each([-1, 1.5, 17, '2'])('%p is refused with a message naming the option', async (bad) => {
    const { builder } = authTestModuleBuilder(setup, parts({ signingThreads: bad as number }));
    await expect(builder.compile()).rejects.toThrow(/signingKey: signingThreads: must be a whole number from 0/);
  });
});
