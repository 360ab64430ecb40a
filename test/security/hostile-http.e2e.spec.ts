/**
 * A corpus of hostile HTTP requests against the token endpoint, on Express and
 * on Fastify, sent as raw bytes over TCP (so nothing is normalised on the
 * client side). For every request:
 * - never a 5xx;
 * - a 200 only carries `{ token, expiresAt }` with `Cache-Control: no-store`,
 *   and the token opens to the user the app's own authentication chose —
 *   never to a user id taken from the body, query, headers or path;
 * - no response echoes a credential (bearer value, cookie, API key), a key,
 *   or a token; no log line holds one either.
 * The exact status of each request on each adapter is pinned in CASES and
 * documented in docs/security.md ("Hostile requests").
 */
import { createPrivateKey, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Injectable, type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { compactDecrypt } from 'jose';
import type { FakeIAdvizeSetup } from '../../lib/testing/index.js';
import { authTestModule, authTestSetup } from '../support/auth-module.js';
import { PLATFORMS } from '../support/platforms.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { captureProcessOutput, LeakCorpus, SecretRegistry } from '../support/leak-scanner.js';
import { buildRequest, rawRequest, type RawResponse } from '../support/raw-http.js';

const PATH = '/iadvize/token';

/** Session secrets: long and random, so an echo is unmistakable. */
const ALICE = `sa_${randomBytes(24).toString('base64url')}`;
const BOB = `sb_${randomBytes(24).toString('base64url')}`;
const API_KEY = `ak_${randomBytes(24).toString('base64url')}`;
const SESSIONS = new Map<string, { id: string }>([
  [ALICE, { id: 'alice' }],
  [BOB, { id: 'bob' }],
]);

/**
 * The app's authentication, strict on purpose: exactly one well-formed bearer
 * credential, else exactly one `sid` cookie; a present but malformed
 * Authorization header never falls back to the cookie.
 */
@Injectable()
class SessionGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined>; user?: unknown }>();
    const authorization = req.headers.authorization;
    if (authorization !== undefined) {
      const match = typeof authorization === 'string' ? /^Bearer ([A-Za-z0-9_-]+)$/.exec(authorization) : null;
      const user = match ? SESSIONS.get(match[1]) : undefined;
      if (user) req.user = { ...user };
      return true;
    }
    const cookie = req.headers.cookie;
    if (typeof cookie === 'string') {
      const sids = cookie.split(';').map((c) => c.trim()).filter((c) => c.startsWith('sid=')).map((c) => c.slice(4));
      const user = sids.length === 1 ? SESSIONS.get(sids[0]) : undefined;
      if (user) req.user = { ...user };
    }
    return true; // anonymous requests go on; the library's identity guard answers 401
  }
}

type Who = 'alice' | 'bob' | null;
type Statuses = number | { express: number; fastify: number };

interface Case {
  name: string;
  request: Buffer;
  /** Expected status of each response (one per pipelined request). */
  status: Statuses | Statuses[];
  /** Whose token a 200 must carry (one per response); `null` = no token may be issued. */
  user?: Who | Who[];
  /** Responses expected on the connection (pipelining). Default 1. */
  responses?: number;
  /** Which responses answer a HEAD request. */
  head?: boolean[];
}

const bearer = (s: string): [string, string] => ['Authorization', `Bearer ${s}`];
const host: [string, string] = ['Host', 'localhost'];
const close: [string, string] = ['Connection', 'close'];
const json = (body: string): Array<[string, string]> => [['Content-Type', 'application/json'], ['Content-Length', String(Buffer.byteLength(body))]];
const req = (method: string, target: string, headers: Array<[string, string]> = [], body?: string | Buffer) =>
  buildRequest(method, target, [host, ...headers, close], body);
const both = (express: number, fastify: number) => ({ express, fastify });

/** A body carrying every way a client could try to name the user. */
const USER_BODY = JSON.stringify({
  userId: 'bob',
  user: { id: 'bob', sub: 'bob' },
  id: 'bob',
  sub: 'bob',
  'https://iadvize.com/userId': 'bob',
  identity: { userId: 'bob' },
  iadvizeIdentity: { userId: 'bob' },
  apiKey: API_KEY,
});

const deepJson = `${'['.repeat(5000)}${']'.repeat(5000)}`;
const hugeJson = JSON.stringify({ userId: 'bob', pad: 'x'.repeat(2 * 1024 * 1024) });
const manyHeaders: Array<[string, string]> = Array.from({ length: 1500 }, (_, i) => [`x-h${i}`, 'v']);

const CASES: Case[] = [
  // Baseline
  { name: 'POST with a bearer session', request: req('POST', PATH, [bearer(ALICE)]), status: 200, user: 'alice' },
  { name: 'GET with a bearer session', request: req('GET', PATH, [bearer(BOB)]), status: 200, user: 'bob' },
  { name: 'POST with a cookie session', request: req('POST', PATH, [['Cookie', `sid=${ALICE}`]]), status: 200, user: 'alice' },
  { name: 'POST anonymous', request: req('POST', PATH), status: 401, user: null },

  // A user id offered by the client, everywhere the client controls
  { name: 'userId in the JSON body, bearer alice', request: req('POST', PATH, [bearer(ALICE), ...json(USER_BODY)], USER_BODY), status: 200, user: 'alice' },
  { name: 'userId in the JSON body, anonymous', request: req('POST', PATH, json(USER_BODY), USER_BODY), status: 401, user: null },
  {
    name: 'userId in the query (repeated, nested, prototype keys), bearer alice',
    request: req('POST', `${PATH}?userId=bob&userId=carol&user[id]=bob&user.id=bob&__proto__[user][id]=bob&constructor[prototype][user]=bob&https://iadvize.com/userId=bob`, [bearer(ALICE)]),
    status: 200,
    user: 'alice',
  },
  { name: 'userId in the query, anonymous', request: req('GET', `${PATH}?userId=bob&user[id]=bob&__proto__[user][id]=bob`), status: 401, user: null },
  {
    name: 'userId in identity-looking headers, bearer alice',
    request: req('POST', PATH, [bearer(ALICE), ['X-User-Id', 'bob'], ['X-IAdvize-User-Id', 'bob'], ['X-Forwarded-User', 'bob'], ['X-Remote-User', 'bob'], ['Remote-User', 'bob'], ['X-Original-URL', '/admin'], ['X-Rewrite-URL', '/admin'], ['Forwarded', 'for=1.2.3.4;user=bob'], ['X-Api-Key', API_KEY]]),
    status: 200,
    user: 'alice',
  },
  { name: 'userId in identity-looking headers, anonymous', request: req('POST', PATH, [['X-User-Id', 'bob'], ['X-Forwarded-User', 'bob'], ['Remote-User', 'bob']]), status: 401, user: null },
  { name: 'urlencoded body with user[id], anonymous', request: req('POST', PATH, [['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Length', '27']], 'user[id]=bob&userId=bob&a=1'), status: 401, user: null },
  { name: 'JSON __proto__ pollution attempt, anonymous', request: req('POST', PATH, json('{"__proto__":{"user":{"id":"bob"},"id":"bob","sub":"bob"}}'), '{"__proto__":{"user":{"id":"bob"},"id":"bob","sub":"bob"}}'), status: both(401, 400), user: null },
  { name: 'JSON constructor.prototype pollution attempt, anonymous', request: req('POST', PATH, json('{"constructor":{"prototype":{"user":{"id":"bob"}}}}'), '{"constructor":{"prototype":{"user":{"id":"bob"}}}}'), status: both(401, 400), user: null },

  // Forged, repeated and conflicting credentials
  { name: 'two Authorization headers (alice, bob): Node keeps the first', request: req('POST', PATH, [bearer(ALICE), bearer(BOB)]), status: 200, user: 'alice' },
  { name: 'two Authorization headers (forged, alice): the forged one wins, no token', request: req('POST', PATH, [bearer('forged'), bearer(ALICE)]), status: 401, user: null },
  { name: 'one Authorization header with two credentials', request: req('POST', PATH, [['Authorization', `Bearer ${ALICE}, Bearer ${BOB}`]]), status: 401, user: null },
  { name: 'lower-case scheme', request: req('POST', PATH, [['Authorization', `bearer ${ALICE}`]]), status: 401, user: null },
  { name: 'Basic credentials', request: req('POST', PATH, [['Authorization', `Basic ${Buffer.from('alice:pw').toString('base64')}`]]), status: 401, user: null },
  { name: 'forged bearer', request: req('POST', PATH, [bearer('sa_forged0000000000000000000000000000')]), status: 401, user: null },
  { name: 'bearer of 8 KiB', request: req('POST', PATH, [bearer('x'.repeat(8192))]), status: 401, user: null },
  { name: 'empty Authorization header, valid cookie (no fallback)', request: req('POST', PATH, [['Authorization', ''], ['Cookie', `sid=${ALICE}`]]), status: 401, user: null },
  { name: 'bearer bob and cookie alice: the header decides', request: req('POST', PATH, [bearer(BOB), ['Cookie', `sid=${ALICE}`]]), status: 200, user: 'bob' },
  { name: 'two sid cookies in one header', request: req('POST', PATH, [['Cookie', `sid=${ALICE}; sid=${BOB}`]]), status: 401, user: null },
  { name: 'two Cookie headers (joined by Node)', request: req('POST', PATH, [['Cookie', `sid=${ALICE}`], ['Cookie', `sid=${BOB}`]]), status: 401, user: null },
  { name: 'forged cookie', request: req('POST', PATH, [['Cookie', 'sid=forged; user=bob; userId=bob']]), status: 401, user: null },
  { name: 'obs-fold continuation line in Authorization', request: buildRequest('POST', PATH, [host, ['Authorization', `Bearer ${BOB}`], [' Bearer', ALICE], close]), status: 400, user: null },
  { name: 'credential smuggled in a header value with CR', request: buildRequest('POST', PATH, [host, ['X-A', `b\rAuthorization: Bearer ${BOB}`], close]), status: 400, user: null },

  // Methods
  { name: 'PUT', request: req('PUT', PATH, [bearer(ALICE)]), status: 404, user: null },
  { name: 'DELETE', request: req('DELETE', PATH, [bearer(ALICE)]), status: 404, user: null },
  { name: 'PATCH', request: req('PATCH', PATH, [bearer(ALICE), ...json('{}')], '{}'), status: 404, user: null },
  { name: 'OPTIONS (no CORS configured)', request: req('OPTIONS', PATH, [bearer(ALICE), ['Origin', 'https://evil.example'], ['Access-Control-Request-Method', 'POST']]), status: 404, user: null },
  { name: 'HEAD runs the GET handler; the token is never sent', request: req('HEAD', PATH, [bearer(ALICE)]), status: 200, user: null, head: [true] },
  { name: 'TRACE', request: req('TRACE', PATH, [bearer(ALICE)]), status: 404, user: null },
  { name: 'an unknown method', request: req('FOO', PATH, [bearer(ALICE)]), status: 400, user: null },
  { name: 'X-HTTP-Method-Override is ignored', request: req('POST', `${PATH}?_method=DELETE`, [bearer(ALICE), ['X-HTTP-Method-Override', 'DELETE']]), status: 200, user: 'alice' },

  // Paths
  { name: 'trailing slash', request: req('POST', `${PATH}/`, [bearer(ALICE)]), status: both(200, 404), user: 'alice' },
  { name: 'double leading slash', request: req('POST', `/${PATH}`, [bearer(ALICE)]), status: 404, user: null },
  { name: '..;/ suffix', request: req('POST', `${PATH}/..;/`, [bearer(ALICE)]), status: 404, user: null },
  { name: 'dot segments', request: req('POST', '/iadvize/./token', [bearer(ALICE)]), status: 404, user: null },
  { name: 'dot-dot segments', request: req('POST', '/x/../iadvize/token', [bearer(ALICE)]), status: 404, user: null },
  { name: '%2e%2e segments', request: req('POST', '/x/%2e%2e/iadvize/token', [bearer(ALICE)]), status: 404, user: null },
  { name: 'percent-encoded letter', request: req('POST', '/iadvize/%74oken', [bearer(ALICE)]), status: both(404, 200), user: 'alice' },
  { name: 'encoded slash', request: req('POST', '/iadvize%2ftoken', [bearer(ALICE)]), status: 404, user: null },
  { name: 'upper case', request: req('POST', '/IADVIZE/TOKEN', [bearer(ALICE)]), status: both(200, 404), user: 'alice' },
  // Nest's own not-found handler quotes the request line ("Cannot POST /x;a=b?c=d") back to the
  // caller, so a credential put in a URL is reflected to whoever sent it: keep credentials out of URLs.
  { name: 'matrix parameter', request: req('POST', `${PATH};jsessionid=not-a-secret`, [bearer(ALICE)]), status: 404, user: null },
  { name: 'unknown path with credentials in headers and cookies (never reflected)', request: req('POST', '/iadvize/tokens', [bearer(ALICE), ['Cookie', `sid=${BOB}`], ['X-Api-Key', API_KEY]]), status: 404, user: null },
  { name: 'absolute-form target with a foreign host', request: req('POST', `http://evil.example${PATH}`, [bearer(ALICE)]), status: 200, user: 'alice' },
  { name: 'NUL byte in the path', request: req('POST', `${PATH}%00`, [bearer(ALICE)]), status: 404, user: null },
  { name: 'raw NUL byte in the request line', request: Buffer.concat([Buffer.from(`POST ${PATH}`), Buffer.from([0]), Buffer.from(' HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')]), status: 400, user: null },
  { name: 'path of 8 KiB', request: req('POST', `${PATH}/${'a'.repeat(8192)}`, [bearer(ALICE)]), status: 404, user: null },

  // Content types and bodies
  { name: 'malformed JSON', request: req('POST', PATH, [bearer(ALICE), ...json('{"userId":')], '{"userId":'), status: 400, user: null },
  { name: 'JSON with a BOM and trailing garbage', request: req('POST', PATH, [bearer(ALICE), ...json('\ufeff{"a":1} x')], '\ufeff{"a":1} x'), status: 400, user: null },
  { name: 'text/plain body', request: req('POST', PATH, [bearer(ALICE), ['Content-Type', 'text/plain'], ['Content-Length', '11']], 'userId=bob!'), status: 200, user: 'alice' },
  { name: 'application/xml body', request: req('POST', PATH, [bearer(ALICE), ['Content-Type', 'application/xml'], ['Content-Length', '24']], '<user><id>bob</id></user>'.slice(0, 24)), status: both(200, 415), user: 'alice' },
  { name: 'JSON declared as UTF-16', request: req('POST', PATH, [bearer(ALICE), ['Content-Type', 'application/json; charset=utf-16'], ['Content-Length', '2']], '{}'), status: both(400, 200), user: 'alice' },
  { name: 'empty JSON body', request: req('POST', PATH, [bearer(ALICE), ['Content-Type', 'application/json'], ['Content-Length', '0']]), status: both(200, 400), user: 'alice' },
  { name: 'JSON body of 2 MiB', request: req('POST', PATH, [bearer(ALICE), ...json(hugeJson)], hugeJson), status: 413, user: null },
  { name: 'JSON nested 5000 deep', request: req('POST', PATH, [bearer(ALICE), ...json(deepJson)], deepJson), status: 200, user: 'alice' },
  { name: 'multipart body', request: req('POST', PATH, [bearer(ALICE), ['Content-Type', 'multipart/form-data; boundary=x'], ['Content-Length', '56']], '--x\r\nContent-Disposition: form-data; name="userId"\r\n\r\nbob'), status: both(400, 415), user: 'alice' },
  { name: 'Content-Length and Transfer-Encoding together', request: req('POST', PATH, [bearer(ALICE), ['Content-Type', 'application/json'], ['Content-Length', '2'], ['Transfer-Encoding', 'chunked']], '0\r\n\r\n'), status: 400, user: null },
  { name: 'invalid chunk size', request: req('POST', PATH, [bearer(ALICE), ['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']], 'zz\r\n{}\r\n0\r\n\r\n'), status: 400, user: null },
  { name: 'non-numeric Content-Length', request: req('POST', PATH, [bearer(ALICE), ['Content-Type', 'application/json'], ['Content-Length', 'abc']], '{}'), status: 400, user: null },
  { name: 'two different Content-Length headers', request: req('POST', PATH, [bearer(ALICE), ['Content-Type', 'application/json'], ['Content-Length', '2'], ['Content-Length', '3']], '{}'), status: 400, user: null },

  // Headers
  { name: 'one header of 20 KiB', request: req('POST', PATH, [bearer(ALICE), ['X-Big', 'x'.repeat(20 * 1024)]]), status: 431, user: null },
  { name: '1500 small headers', request: req('POST', PATH, [bearer(ALICE), ...manyHeaders]), status: 200, user: 'alice' },
  { name: 'no Host header (HTTP/1.1)', request: buildRequest('POST', PATH, [bearer(ALICE), close]), status: 400, user: null },
  { name: 'HTTP/1.0 without Host', request: buildRequest('POST', PATH, [bearer(ALICE)], undefined, 'HTTP/1.0'), status: 200, user: 'alice' },
  { name: 'foreign Host header', request: buildRequest('POST', PATH, [['Host', 'evil.example'], bearer(ALICE), close]), status: 200, user: 'alice' },
  { name: 'cross-site Origin with a cookie session gets no CORS grant', request: req('POST', PATH, [['Cookie', `sid=${ALICE}`], ['Origin', 'https://evil.example'], ['Sec-Fetch-Site', 'cross-site']]), status: 200, user: 'alice' },
  { name: 'HTTP/2 preface on an HTTP/1.1 port', request: Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), status: 400, user: null },
  { name: 'garbage bytes', request: randomBytes(256), status: 400, user: null },

  // Keep-alive: a session never bleeds into the next request on the same connection
  {
    name: 'pipelined: alice, then anonymous, then bob, then anonymous',
    request: Buffer.concat([
      buildRequest('POST', PATH, [host, bearer(ALICE)]),
      buildRequest('POST', PATH, [host]),
      buildRequest('GET', PATH, [host, ['Cookie', `sid=${BOB}`]]),
      buildRequest('GET', `${PATH}?userId=alice`, [host, close]),
    ]),
    responses: 4,
    status: [200, 401, 200, 401],
    user: ['alice', null, 'bob', null],
  },
];

let setup: FakeIAdvizeSetup;
const secrets = new SecretRegistry();
const corpus = new LeakCorpus();
let restoreOutput: () => void;

beforeAll(async () => {
  setup = await authTestSetup();
  secrets.addPrivateKey('brand', createPrivateKey(setup.moduleOptions.signingKey.pem)).addPrivateKey('iadvize', setup.iadvize.privateKey);
  secrets.add('alice session', ALICE).add('bob session', BOB).add('API key', API_KEY);
  restoreOutput = captureProcessOutput(corpus);
});

afterAll(() => {
  restoreOutput?.();
});

async function innerJws(token: string): Promise<string> {
  const { plaintext } = await compactDecrypt(token, setup.iadvize.privateKey);
  return new TextDecoder().decode(plaintext);
}

function expectedFor(statuses: Statuses, platform: 'express' | 'fastify'): number {
  return typeof statuses === 'number' ? statuses : statuses[platform];
}

describe.each(PLATFORMS)('hostile requests on %s', (name, platform) => {
  let app: INestApplication;
  let port: number;
  const logger = new CapturingLogger(corpus, `log(${name})`);
  const observed: string[] = [];

  beforeAll(async () => {
    const { moduleRef } = await authTestModule(setup, { controller: { guards: [SessionGuard] }, moduleLogger: logger });
    app = moduleRef.createNestApplication(platform(), { logger });
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterAll(async () => {
    await app?.close();
    if (process.env.HOSTILE_HTTP_TABLE) console.log(`${name}\n${observed.join('\n')}`);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_title, c) => {
    const count = c.responses ?? 1;
    const responses = await rawRequest(port, c.request, { expectResponses: count, headRequests: c.head });
    const statuses = Array.isArray(c.status) ? c.status : [c.status];
    const users = Array.isArray(c.user) ? c.user : [c.user ?? null];
    observed.push(`${c.name}: ${responses.map((r) => r.status).join(', ')}`);
    expect(responses.map((r) => r.status)).toEqual(statuses.map((s) => expectedFor(s, name)));
    for (let i = 0; i < responses.length; i++) {
      await checkResponse(responses[i], users[i] ?? null, c.head?.[i] ?? false, `${name} ${c.name} #${i + 1}`);
    }
  });

  it('nothing reached Object.prototype, and an anonymous request afterwards still gets 401', async () => {
    for (const key of ['user', 'id', 'sub', 'userId', 'iadvizeIdentity', 'identity']) {
      expect(Object.prototype.hasOwnProperty.call(Object.prototype, key)).toBe(false);
    }
    expect(({} as Record<string, unknown>).user).toBeUndefined();
    const [res] = await rawRequest(port, req('POST', PATH));
    expect(res.status).toBe(401);
  });

  async function checkResponse(res: RawResponse, user: Who, isHead: boolean, label: string): Promise<void> {
    expect(res.status).toBeGreaterThan(0);
    expect(res.status).toBeLessThan(500);
    // No CORS grant is ever made by the library.
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    if (res.status === 200 && !isHead) {
      expect(user).not.toBeNull();
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const body = JSON.parse(res.body) as { token: string; expiresAt: number };
      expect(Object.keys(body).sort()).toEqual(['expiresAt', 'token']);
      const opened = await setup.open(body.token);
      expect({ label, userId: opened.userId }).toEqual({ label, userId: user });
      secrets.addToken(body.token, await innerJws(body.token));
      // The token is the only secret a 200 carries: scan the rest.
      corpus.record(`${label} (200, token removed)`, res.raw.replace(body.token, '<token>'));
    } else {
      if (res.status === 200 && isHead) {
        expect(res.body).toBe('');
        expect(res.headers['cache-control']).toBe('no-store');
      }
      expect(res.raw).not.toMatch(/"token"\s*:/);
      corpus.record(`${label} (${res.status})`, res.raw);
    }
  }
});

describe('secrets across the whole hostile corpus', () => {
  it('no response and no log line holds a credential, a key, a token or a stack trace', () => {
    restoreOutput();
    expect(corpus.size).toBeGreaterThan(CASES.length * 2);
    expect(secrets.size).toBeGreaterThan(10);
    corpus.assertClean(secrets);
  });
});
