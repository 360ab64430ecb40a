/**
 * Own-property rule, over HTTP on Express and Fastify: the library reads the
 * request, `request.user` and the identity through own properties only.
 *
 * The test process pollutes `Object.prototype` (as a careless deep merge of a
 * request body would) with every field the library reads from a request, a
 * principal, an identity or its visitor data, one at a time, and checks that:
 * - an anonymous request, or a principal without an id, is still refused (401);
 * - a signed-in user's token carries their own id and no polluted claim;
 * - `@IAdvizeIdentity()` in an app's own controller sees no inherited identity.
 * The pollution is always removed (finally + afterEach), and tokens are
 * opened only after it is gone.
 *
 * It also pins the principal rules: an `id` present but null/undefined is a
 * 422 (never a fallback to `sub`), and a `request.user` (or its `id`) whose
 * getter or Proxy throws is the same 422, never a 500.
 */
import { Controller, Get, Injectable, Module, type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { IAdvizeIdentity, UserResolver, VISITOR_DATA_FIELDS } from '../../lib/index.js';
import type { FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestApp, authTestSetup } from '../support/auth-module.js';
import { PLATFORMS } from '../support/platforms.js';

const PATH = '/iadvize/token';
const MALLORY = 'mallory-polluted';

/**
 * Every field the library reads from a request, a principal, an identity,
 * visitor data or an error body, with the value an attacker would plant.
 * Add a field here when the library starts reading a new one.
 */
const POLLUTIONS: ReadonlyArray<readonly [string, unknown]> = [
  ['user', { id: MALLORY }],
  ['id', MALLORY],
  ['sub', MALLORY],
  ['userId', MALLORY],
  ['visitorData', { firstName: MALLORY }],
  ['iadvizeIdentity', { userId: MALLORY }],
  ['value', MALLORY],
  ['get', () => MALLORY],
  ['code', MALLORY],
  ['message', MALLORY],
  ...VISITOR_DATA_FIELDS.map((f) => [f, MALLORY] as const),
];

const polluted = new Set<string>();

/** Pollutes Object.prototype the way `target[key] = value` through `__proto__` does (enumerable, writable). */
function pollute(key: string, value: unknown): void {
  polluted.add(key);
  (Object.prototype as Record<string, unknown>)[key] = value;
}

function cleanPollution(): void {
  for (const key of polluted) delete (Object.prototype as Record<string, unknown>)[key];
  polluted.clear();
}

type Req = { headers: Record<string, string | undefined>; user?: unknown };

const throwing = (): never => {
  throw new Error('hostile getter');
};

/** Principals set by the app's authentication, by bearer value. */
const PRINCIPALS: Record<string, (req: Req) => void> = {
  alice: (req) => {
    req.user = { id: 'alice' };
  },
  'no-id': (req) => {
    req.user = { name: 'nobody' };
  },
  'null-id': (req) => {
    req.user = { id: null, sub: 'bob' };
  },
  'undefined-id': (req) => {
    req.user = { id: undefined, sub: 'bob' };
  },
  'throwing-user': (req) => {
    Object.defineProperty(req, 'user', { get: throwing, configurable: true, enumerable: true });
  },
  'proxy-user': (req) => {
    req.user = new Proxy({}, { get: throwing, has: throwing, getOwnPropertyDescriptor: throwing, ownKeys: throwing, getPrototypeOf: throwing });
  },
  'throwing-id': (req) => {
    req.user = Object.defineProperty({ sub: 'bob' }, 'id', { get: throwing, enumerable: true });
  },
};

@Injectable()
class BearerGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Req>();
    const who = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (who !== undefined && Object.hasOwn(PRINCIPALS, who)) PRINCIPALS[who](req);
    return true; // anonymous requests go on: the library's identity guard answers 401
  }
}

/** An app's own resolver that builds the identity as an object literal (no visitor data). */
@Injectable()
class LiteralResolver extends UserResolver {
  resolve(context: ExecutionContext) {
    const req = context.switchToHttp().getRequest<Req>();
    return req.headers.authorization === 'Bearer alice' ? { userId: 'alice' } : null;
  }
}

/** An app's own route reading the decorator without the identity guard: it must see nothing. */
@Controller('who')
class WhoController {
  @Get()
  who(@IAdvizeIdentity() identity: unknown) {
    return { identity: identity ?? null };
  }
}

@Module({ controllers: [WhoController] })
class WhoModule {}

let setup: FakeIAdvizeSetup;

beforeAll(async () => {
  setup = await authTestSetup();
});

afterEach(cleanPollution);

/** Opens a token (after the pollution is gone) and checks it is alice's, with no polluted claim. */
async function expectAlicesCleanToken(token: string): Promise<void> {
  const opened = await setup.open(token);
  expect(opened.userId).toBe('alice');
  expect(Object.keys(opened.claims).sort()).toEqual(['exp', 'https://iadvize.com/userId', 'iat', 'iss']);
  expect(JSON.stringify(opened.claims)).not.toContain(MALLORY);
}

describe.each(PLATFORMS)('own-property rule on %s', (_name, platform) => {
  let defaultApp: INestApplication;
  let literalApp: INestApplication;

  beforeAll(async () => {
    ({ app: defaultApp } = await authTestApp(setup, platform, { controller: { guards: [BearerGuard] }, imports: [WhoModule] }));
    ({ app: literalApp } = await authTestApp(setup, platform, { controller: { guards: [BearerGuard] }, userResolver: LiteralResolver }));
  });
  afterAll(async () => {
    cleanPollution();
    await Promise.all([defaultApp?.close(), literalApp?.close()]);
  });

  it.each(POLLUTIONS.map(([key, value]) => [key, value] as const))('Object.prototype.%s never yields a token or an identity', async (key, value) => {
    const tokens: string[] = [];
    try {
      pollute(key, value);
      for (const app of [defaultApp, literalApp]) {
        const anonymous = await request(app.getHttpServer()).post(PATH);
        expect([anonymous.status, anonymous.body.code]).toEqual([401, 'IADVIZE_UNAUTHENTICATED']);
        const alice = await request(app.getHttpServer()).post(PATH).set('Authorization', 'Bearer alice');
        expect(alice.status).toBe(200);
        tokens.push(alice.body.token);
      }
      const noId = await request(defaultApp.getHttpServer()).get(PATH).set('Authorization', 'Bearer no-id');
      expect([noId.status, noId.body.code]).toEqual([401, 'IADVIZE_UNAUTHENTICATED']);
      const who = await request(defaultApp.getHttpServer()).get('/who').set('Authorization', 'Bearer alice');
      expect(who.status).toBe(200);
      expect(who.text).not.toContain(MALLORY);
    } finally {
      cleanPollution();
    }
    for (const token of tokens) await expectAlicesCleanToken(token);
  });

  it.each(['null-id', 'undefined-id'])('a principal whose id is present but empty (%s) is refused, never read through sub', async (who) => {
    const res = await request(defaultApp.getHttpServer()).post(PATH).set('Authorization', `Bearer ${who}`);
    expect([res.status, res.body.code]).toEqual([422, 'IADVIZE_INVALID_IDENTITY']);
    expect(res.text).not.toContain('bob');
  });

  it.each(['throwing-user', 'proxy-user', 'throwing-id'])('a principal that cannot be read (%s) is refused with a 422, never a 500', async (who) => {
    const res = await request(defaultApp.getHttpServer()).post(PATH).set('Authorization', `Bearer ${who}`);
    expect([res.status, res.body.code]).toEqual([422, 'IADVIZE_INVALID_IDENTITY']);
    expect(res.text).not.toContain('hostile');
  });
});
