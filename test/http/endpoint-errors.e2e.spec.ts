/**
 * Every error of the token endpoint has the body `{ statusCode, error,
 * message, code }`, whoever raised it: the app's own guards (passport-style
 * `UnauthorizedException`, `ForbiddenException`), a resolver that throws, the
 * default resolver given an unusable id. And an app's own controller around
 * `TokenService` gets the same mapping through `IAdvizeExceptionFilter`, the
 * `@IAdvizeIdentity()` decorator and a subclass of `IAdvizeIdentityGuard`.
 * Looped over Express and Fastify.
 */
import {
  Controller,
  ForbiddenException,
  Get,
  HttpException,
  Injectable,
  Post,
  UnauthorizedException,
  UseFilters,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import request from 'supertest';
import {
  IAdvizeAuthEvents,
  IAdvizeExceptionFilter,
  IAdvizeIdentity,
  IAdvizeIdentityGuard,
  TokenService,
  UserResolver,
  type IAdvizeUser,
} from '../../lib/index.js';
import { FakeKeyProvider, type FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestApp, authTestModule, authTestSetup } from '../support/auth-module.js';
import { expectNoSecrets } from '../support/keys.js';
import { PLATFORMS, startApp } from '../support/platforms.js';
import { CapturingLogger } from '../support/capturing-logger.js';

const USERS: Record<string, unknown> = {
  'tok-alice': { id: 'alice' },
  'tok-empty-id': { id: '' },
  'tok-float-id': { id: 1.5 },
  'tok-object-id': { id: { $oid: 'abc' } },
  'tok-sub-only': { sub: 'sub-carol' },
  'tok-empty-id-with-sub': { id: '', sub: 'sub-dave' },
  'tok-no-id': { name: 'nobody' },
};

type Req = { headers: Record<string, string | undefined>; user?: unknown; principal?: unknown };

function bearer(context: ExecutionContext): string | undefined {
  return /^Bearer (\S+)$/.exec(context.switchToHttp().getRequest<Req>().headers.authorization ?? '')?.[1];
}

/** Like passport's AuthGuard('jwt'): throws its own 401 (message "Unauthorized") for anonymous callers. */
@Injectable()
class ThrowingAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const user = USERS[bearer(context) ?? ''];
    if (!user) throw new UnauthorizedException('jwt malformed: eyJhbGciOiJSUzI1NiJ9.secret');
    if (context.switchToHttp().getRequest<Req>().headers['x-banned'] === 'yes') throw new ForbiddenException('user banned by policy 7');
    context.switchToHttp().getRequest<Req>().user = user;
    return true;
  }
}

let setup: FakeIAdvizeSetup;

beforeAll(async () => {
  setup = await authTestSetup();
});

describe.each(PLATFORMS)('token endpoint errors on %s', (_name, platform) => {
  describe('the app guard in front throws (passport style), default resolver', () => {
    let app: INestApplication;
    const logger = new CapturingLogger();
    const refused: string[] = [];
    beforeAll(async () => {
      const { moduleRef } = await authTestModule(setup, { controller: { guards: [ThrowingAuthGuard] } });
      moduleRef.get(IAdvizeAuthEvents).on('token.refused', (e) => refused.push(e.code));
      app = await startApp(moduleRef, platform, logger);
    });
    afterAll(() => app.close());

    it("the guard's own 401 gets the library's body and code, nothing the guard wrote is echoed, and counts as refused", async () => {
      const before = refused.length;
      const res = await request(app.getHttpServer()).post('/iadvize/token').set('Authorization', 'Bearer nope').expect(401);
      expect(res.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: 'Sign in to get an iAdvize token', code: 'IADVIZE_UNAUTHENTICATED' });
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.text).not.toContain('eyJ');
      expect(refused.slice(before)).toEqual(['IADVIZE_UNAUTHENTICATED']);
    });

    it("the guard's 403 becomes IADVIZE_FORBIDDEN without its message", async () => {
      const res = await request(app.getHttpServer()).get('/iadvize/token').set('Authorization', 'Bearer tok-alice').set('X-Banned', 'yes').expect(403);
      expect(res.body).toEqual({ statusCode: 403, error: 'Forbidden', message: 'This user may not get an iAdvize token', code: 'IADVIZE_FORBIDDEN' });
      expect(res.text).not.toContain('policy 7');
    });

    it('the default resolver takes id, else sub', async () => {
      for (const [tok, user] of [['tok-alice', 'alice'], ['tok-sub-only', 'sub-carol']]) {
        const res = await request(app.getHttpServer()).post('/iadvize/token').set('Authorization', `Bearer ${tok}`).expect(200);
        expect((await setup.open(res.body.token)).userId).toBe(user);
      }
    });

    it('a signed-in user with an unusable id gets 422 naming the rule (not a silent 401); no id at all is 401', async () => {
      const cases: Array<[string, string]> = [
        ['tok-empty-id', 'userId: must not be empty'],
        ['tok-empty-id-with-sub', 'userId: must not be empty'], // never silently replaced by sub
        ['tok-float-id', 'userId: must be a string, got a number'],
        ['tok-object-id', 'userId: must be a string'],
      ];
      for (const [tok, rule] of cases) {
        const res = await request(app.getHttpServer()).post('/iadvize/token').set('Authorization', `Bearer ${tok}`).expect(422);
        expect(res.body.code).toBe('IADVIZE_INVALID_IDENTITY');
        expect(res.body.message).toContain(rule);
        expect(res.text).not.toContain('abc');
      }
      const res = await request(app.getHttpServer()).post('/iadvize/token').set('Authorization', 'Bearer tok-no-id').expect(401);
      expect(res.body.code).toBe('IADVIZE_UNAUTHENTICATED');
      expect(logger.matching('IADVIZE_INVALID_IDENTITY')).toHaveLength(4);
    });
  });

  it('a guard subclass whose unauthenticated() throws UnauthorizedException counts one refusal, not two', async () => {
    @Injectable()
    class PassportStyleIdentityGuard extends IAdvizeIdentityGuard {
      protected override unauthenticated(): Error {
        return new UnauthorizedException();
      }
    }
    @Controller('guarded')
    @UseGuards(PassportStyleIdentityGuard)
    @UseFilters(IAdvizeExceptionFilter)
    class GuardedController {
      @Get()
      get() {
        return 'never';
      }
    }
    const { moduleRef } = await authTestModule(setup, { controller: false, controllers: [GuardedController], providers: [PassportStyleIdentityGuard] });
    const refused: string[] = [];
    moduleRef.get(IAdvizeAuthEvents).on('token.refused', (e) => refused.push(e.code));
    const app = await startApp(moduleRef, platform, new CapturingLogger());
    try {
      const res = await request(app.getHttpServer()).get('/guarded').expect(401);
      expect(res.body.code).toBe('IADVIZE_UNAUTHENTICATED');
      expect(refused).toEqual(['IADVIZE_UNAUTHENTICATED']);
    } finally {
      await app.close();
    }
  });

  it('an app HttpException with a status outside 400..599 becomes a clean 500', async () => {
    @Controller('odd')
    @UseFilters(IAdvizeExceptionFilter)
    class OddController {
      @Get()
      get() {
        throw new HttpException('weird', 600);
      }
    }
    const { app } = await authTestApp(setup, platform, { controller: false, controllers: [OddController], logger: new CapturingLogger() });
    try {
      const res = await request(app.getHttpServer()).get('/odd').expect(500);
      expect(res.body).toMatchObject({ statusCode: 500, error: 'Internal Server Error', code: 'IADVIZE_INTERNAL_ERROR' });
    } finally {
      await app.close();
    }
  });

  it('a global APP_GUARD that returns false: 403 with the same body', async () => {
    @Injectable()
    class DenyAll implements CanActivate {
      canActivate() {
        return false;
      }
    }
    const { app } = await authTestApp(setup, platform, { providers: [{ provide: APP_GUARD, useClass: DenyAll }], logger: new CapturingLogger() });
    try {
      const res = await request(app.getHttpServer()).post('/iadvize/token').expect(403);
      expect(res.body).toMatchObject({ statusCode: 403, code: 'IADVIZE_FORBIDDEN' });
    } finally {
      await app.close();
    }
  });

  it('a resolver that throws gives 500 IADVIZE_INTERNAL_ERROR: nothing of the error in the reply or the error line; its message and stack at debug level only', async () => {
    @Injectable()
    class BrokenResolver extends UserResolver {
      resolve(): never {
        throw new Error('user store down: postgres://admin:hunter2@db');
      }
    }
    const logger = new CapturingLogger();
    const { app } = await authTestApp(setup, platform, { userResolver: BrokenResolver, logger });
    try {
      const res = await request(app.getHttpServer()).post('/iadvize/token').expect(500);
      expect(res.body).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'The iAdvize token could not be served', code: 'IADVIZE_INTERNAL_ERROR' });
      expect(JSON.stringify(res.body)).not.toMatch(/hunter2|postgres/);
      // log, warn and error lines: the code and where to look, nothing of the error.
      const notDebug = logger.lines.filter((l) => l.level !== 'debug').map((l) => l.text).join('\n');
      expect(notDebug).not.toMatch(/hunter2|postgres|\n\s+at /);
      const lines = logger.matching('IADVIZE_INTERNAL_ERROR', 'error');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^IADVIZE_INTERNAL_ERROR: unexpected Error while serving an iAdvize token \(thrown by a UserResolver, a guard or the token pipeline\); its message and stack are logged at debug level/);
      // The operator can see what the resolver threw: at debug level, server-side only.
      const debug = logger.matching('IADVIZE_INTERNAL_ERROR', 'debug');
      expect(debug).toHaveLength(1);
      expect(debug[0]).toContain('Error: user store down');
      expect(debug[0]).toMatch(/\n\s+at .*BrokenResolver|\n\s+at /);
    } finally {
      await app.close();
    }
  });

  describe("the app's own controller around TokenService", () => {
    /** A subclass using the protected hooks: the principal lives on `request.principal`, and only ids starting "cust-" are served. */
    @Injectable()
    class PrincipalIdentityGuard extends IAdvizeIdentityGuard {
      protected override async resolveIdentity(context: ExecutionContext) {
        const principal = this.getRequest(context).principal as { customerId?: string } | undefined;
        return principal?.customerId?.startsWith('cust-') ? { userId: principal.customerId } : null;
      }
    }

    @Injectable()
    class PrincipalGuard implements CanActivate {
      canActivate(context: ExecutionContext): boolean {
        const tok = bearer(context);
        if (tok) context.switchToHttp().getRequest<Req>().principal = { customerId: tok };
        return true;
      }
    }

    @Controller('chat')
    @UseGuards(PrincipalGuard, PrincipalIdentityGuard)
    @UseFilters(IAdvizeExceptionFilter)
    class ChatController {
      constructor(private readonly tokens: TokenService) {}
      @Post('token')
      token(@IAdvizeIdentity() identity: IAdvizeUser) {
        return this.tokens.createToken(identity);
      }
    }

    /** No guard: hands TokenService an identity iAdvize would refuse. */
    @Controller('chat-raw')
    @UseFilters(IAdvizeExceptionFilter)
    class RawController {
      constructor(private readonly tokens: TokenService) {}
      @Get()
      raw() {
        return this.tokens.createToken({ userId: '' });
      }
    }

    let app: INestApplication;
    let signer: FakeKeyProvider;
    beforeAll(async () => {
      signer = new FakeKeyProvider({ privateKeyPem: setup.moduleOptions.signingKey.pem, kind: 'switch-kms', error: () => new Error('kms down token=hunter2') });
      ({ app } = await authTestApp(setup, platform, {
        options: { signingKey: signer },
        controller: false,
        controllers: [ChatController, RawController],
        providers: [PrincipalGuard, PrincipalIdentityGuard],
        logger: new CapturingLogger(),
      }));
    });
    afterAll(() => app.close());

    it('@IAdvizeIdentity() hands the guard subclass\'s identity to TokenService', async () => {
      const res = await request(app.getHttpServer()).post('/chat/token').set('Authorization', 'Bearer cust-42').expect(201);
      expect((await setup.open(res.body.token)).userId).toBe('cust-42');
    });

    it('the subclass hook refusing gives 401; library errors map to 422 and 503 + Retry-After', async () => {
      let res = await request(app.getHttpServer()).post('/chat/token').set('Authorization', 'Bearer employee-7').expect(401);
      expect(res.body.code).toBe('IADVIZE_UNAUTHENTICATED');
      res = await request(app.getHttpServer()).get('/chat-raw').expect(422);
      expect(res.body).toMatchObject({ statusCode: 422, code: 'IADVIZE_INVALID_IDENTITY', message: 'Invalid iAdvize identity: userId: must not be empty' });
      signer.mode = 'fail';
      try {
        res = await request(app.getHttpServer()).post('/chat/token').set('Authorization', 'Bearer cust-42').expect(503);
      } finally {
        signer.mode = 'ok';
      }
      expect(res.headers['retry-after']).toBe('1');
      expect(res.body.code).toBe('IADVIZE_SIGNING_UNAVAILABLE');
      expectNoSecrets(res.text);
      expect(res.text).not.toContain('hunter2');
    });
  });
});
