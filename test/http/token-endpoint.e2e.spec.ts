import {
  Injectable,
  Module,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  IAdvizeAuthModule,
  UserResolver,
  type IAdvizeUser,
} from '../../lib/index.js';
import type { FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestApp, authTestOptions, authTestSetup } from '../support/auth-module.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { kmsLikeSigner } from '../support/kms-like-signer.js';
import { expectNoSecrets } from '../support/keys.js';
import { PLATFORMS, startApp } from '../support/platforms.js';

/** Server-side sessions: bearer token → user. The only source of user ids. */
const SESSIONS = new Map<string, { id: string | number; name: string }>();

/** The app's own authentication guard, placed in front through `controller.guards`. */
@Injectable()
class BearerAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: unknown }>();
    const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    const user = match ? SESSIONS.get(match[1]) : undefined;
    if (user) req.user = user;
    return true; // anonymous requests continue; the identity guard answers 401
  }
}

/** A global guard of the app: it must keep working in front of the library's controller. */
@Injectable()
class BlockListGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers['x-blocked'] !== 'yes';
  }
}

@Injectable()
class UsersService {
  async profile(id: string) {
    await new Promise((r) => setTimeout(r, 1));
    return { customerId: `cust-${id}`, firstName: `First ${id}`, email: `${id}@example.com` };
  }
}

@Module({ providers: [UsersService], exports: [UsersService] })
class UsersModule {}

/** Async resolver injecting an app provider, registered through the `userResolver` option. */
@Injectable()
class ProfileResolver extends UserResolver {
  constructor(private readonly users: UsersService) {
    super();
  }
  async resolve(context: ExecutionContext): Promise<IAdvizeUser | null> {
    const user = context.switchToHttp().getRequest<{ user?: { id: string } }>().user;
    if (!user) return null;
    const p = await this.users.profile(String(user.id));
    return { userId: p.customerId, visitorData: { firstName: p.firstName, email: p.email } };
  }
}

let setup: FakeIAdvizeSetup;

beforeAll(async () => {
  setup = await authTestSetup();
  SESSIONS.set('tok-alice', { id: 'alice', name: 'Alice' });
  SESSIONS.set('tok-bob', { id: 'bob', name: 'Bob' });
  SESSIONS.set('tok-numeric', { id: 1234, name: 'Numeric' });
  for (let i = 0; i < 300; i++) SESSIONS.set(`tok-u${i}`, { id: `user-${i}`, name: `U${i}` });
});

async function openUser(token: string) {
  return setup.open(token);
}

describe.each(PLATFORMS)('token endpoint on %s', (_name, platform) => {
  describe('default path, default resolver, bearer guard in front, a global APP_GUARD', () => {
    let app: INestApplication;
    beforeAll(async () => {
      ({ app } = await authTestApp(setup, platform, {
        controller: { guards: [BearerAuthGuard] },
        providers: [{ provide: APP_GUARD, useClass: BlockListGuard }],
      }));
    });
    afterAll(() => app.close());

    it('POST returns a token for the signed-in user, with no-store', async () => {
      const before = Math.floor(Date.now() / 1000);
      const res = await request(app.getHttpServer()).post('/iadvize/token').set('Authorization', 'Bearer tok-alice').expect(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['pragma']).toBe('no-cache');
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(Object.keys(res.body).sort()).toEqual(['expiresAt', 'token']);
      expect(res.body.expiresAt).toBeGreaterThanOrEqual(before + 60);
      expect(res.body.expiresAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 60);
      const opened = await openUser(res.body.token);
      expect(opened.userId).toBe('alice');
      expect(opened.claims.exp).toBe(res.body.expiresAt);
    });

    it('GET works too (mobile SDK JWE provider); numeric ids become strings', async () => {
      const res = await request(app.getHttpServer()).get('/iadvize/token').set('Authorization', 'Bearer tok-numeric').expect(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect((await openUser(res.body.token)).userId).toBe('1234');
    });

    it('anonymous requests get 401 with a stable code and no token', async () => {
      for (const method of ['get', 'post'] as const) {
        const res = await request(app.getHttpServer())[method]('/iadvize/token').expect(401);
        expect(res.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: 'Sign in to get an iAdvize token', code: 'IADVIZE_UNAUTHENTICATED' });
      }
      await request(app.getHttpServer()).post('/iadvize/token').set('Authorization', 'Bearer forged').expect(401);
    });

    it('a userId in the body, query or headers never changes the token user', async () => {
      const res = await request(app.getHttpServer())
        .post('/iadvize/token?userId=bob&https://iadvize.com/userId=bob')
        .set('Authorization', 'Bearer tok-alice')
        .set('X-User-Id', 'bob')
        .set('X-IAdvize-User-Id', 'bob')
        .send({ userId: 'bob', user: { id: 'bob' }, 'https://iadvize.com/userId': 'bob', identity: { userId: 'bob' } })
        .expect(200);
      expect((await openUser(res.body.token)).userId).toBe('alice');
    });

    it('the global APP_GUARD still runs first', async () => {
      await request(app.getHttpServer()).post('/iadvize/token').set('Authorization', 'Bearer tok-alice').set('X-Blocked', 'yes').expect(403);
    });

    it('hundreds of concurrent requests for different users each get their own token', async () => {
      const server = app.getHttpServer();
      const n = 300;
      const responses = await Promise.all(
        Array.from({ length: n }, (_, i) => request(server).post('/iadvize/token').set('Authorization', `Bearer tok-u${i}`)),
      );
      const opened = await Promise.all(responses.map((r) => { expect(r.status).toBe(200); return openUser(r.body.token); }));
      opened.forEach((o, i) => expect(o.userId).toBe(`user-${i}`));
      expect(new Set(responses.map((r) => r.body.token)).size).toBe(n);
    });
  });

  it('serves a custom path, and nothing on the default one', async () => {
    const { app } = await authTestApp(setup, platform, { controller: { path: 'api/chat/iadvize-token', guards: [new BearerAuthGuard()] } });
    try {
      const res = await request(app.getHttpServer()).post('/api/chat/iadvize-token').set('Authorization', 'Bearer tok-bob').expect(200);
      expect((await openUser(res.body.token)).userId).toBe('bob');
      await request(app.getHttpServer()).post('/iadvize/token').set('Authorization', 'Bearer tok-bob').expect(404);
    } finally {
      await app.close();
    }
  });

  it('controller: false registers no endpoint (404) but keeps TokenService', async () => {
    const { app } = await authTestApp(setup, platform, { controller: false });
    try {
      await request(app.getHttpServer()).post('/iadvize/token').set('Authorization', 'Bearer tok-alice').expect(404);
      await request(app.getHttpServer()).get('/iadvize/token').expect(404);
    } finally {
      await app.close();
    }
  });

  it('a custom async resolver given by option injects an app provider (forRootAsync)', async () => {
    // Hand-written on purpose: the forRootAsync path is what this test checks.
    const moduleRef = await Test.createTestingModule({
      imports: [
        IAdvizeAuthModule.forRootAsync({
          imports: [UsersModule],
          useFactory: () => authTestOptions(setup),
          userResolver: ProfileResolver,
          controller: { guards: [BearerAuthGuard] },
        }),
      ],
    }).compile();
    const app = await startApp(moduleRef, platform);
    try {
      const res = await request(app.getHttpServer()).post('/iadvize/token').set('Authorization', 'Bearer tok-alice').expect(200);
      const opened = await openUser(res.body.token);
      expect(opened.userId).toBe('cust-alice');
      expect(opened.visitorData).toEqual({ firstName: 'First alice', email: 'alice@example.com' });
    } finally {
      await app.close();
    }
  });

  it('a resolver replaced with an ordinary provider override; extraProviders supply its dependency', async () => {
    const { app } = await authTestApp(setup, platform, {
      options: { extraProviders: [UsersService] },
      controller: { guards: [BearerAuthGuard] },
      override: (builder) => builder.overrideProvider(UserResolver).useClass(ProfileResolver),
    });
    try {
      const res = await request(app.getHttpServer()).get('/iadvize/token').set('Authorization', 'Bearer tok-bob').expect(200);
      expect((await openUser(res.body.token)).userId).toBe('cust-bob');
    } finally {
      await app.close();
    }
  });

  it('an identity that breaks the protocol rules gets 422 naming the rule, logged once, no values echoed', async () => {
    @Injectable()
    class BadResolver extends UserResolver {
      resolve() {
        return { userId: 'x'.repeat(300), visitorData: { email: 'leak@example.com', shoeSize: '42' } } as never;
      }
    }
    const logger = new CapturingLogger();
    const { app } = await authTestApp(setup, platform, { userResolver: BadResolver, logger });
    try {
      const res = await request(app.getHttpServer()).post('/iadvize/token').expect(422);
      expect(res.body.code).toBe('IADVIZE_INVALID_IDENTITY');
      expect(res.body.statusCode).toBe(422);
      expect(res.body.message).toContain('userId: must be at most 255 characters');
      expect(res.body.message).toContain('visitorData: unknown field "shoeSize"');
      expect(res.text).not.toContain('xxxxxxxxxx');
      expect(res.text).not.toContain('leak@example.com');
      const warnings = logger.texts('log', 'warn', 'error').filter((l) => l.includes('IADVIZE_INVALID_IDENTITY'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).not.toContain('leak@example.com');
    } finally {
      await app.close();
    }
  });

  it('a failing or hanging signer gives 503 with Retry-After, no stack, no secrets, and recovers', async () => {
    const signer = kmsLikeSigner(setup.moduleOptions.signingKey.pem);
    const logger = new CapturingLogger();
    const { app } = await authTestApp(setup, platform, { options: { signingKey: signer, signingTimeoutMs: 300 }, controller: { guards: [BearerAuthGuard] }, logger });
    try {
      const server = app.getHttpServer();
      signer.mode = 'fail';
      let res = await request(server).post('/iadvize/token').set('Authorization', 'Bearer tok-alice').expect(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.body).toEqual({ statusCode: 503, error: 'Service Unavailable', message: 'Token signing is temporarily unavailable; retry later', code: 'IADVIZE_SIGNING_UNAVAILABLE' });
      expect(res.text).not.toMatch(/hunter2|ECONNREFUSED|at .*\.ts|stack/);

      signer.mode = 'hang';
      const started = Date.now();
      res = await request(server).post('/iadvize/token').set('Authorization', 'Bearer tok-alice').expect(503);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(res.body.code).toBe('IADVIZE_SIGNING_UNAVAILABLE');

      signer.mode = 'ok';
      res = await request(server).post('/iadvize/token').set('Authorization', 'Bearer tok-alice').expect(200);
      expect((await openUser(res.body.token)).userId).toBe('alice');
      const all = logger.texts('log', 'warn', 'error').join('\n');
      expect(all).not.toContain('hunter2');
      expectNoSecrets(all, [res.body.token]);
    } finally {
      await app.close();
    }
  });
});
