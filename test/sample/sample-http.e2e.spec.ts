import 'reflect-metadata';
import { FakeIAdvize, FakeIAdvizeError } from 'nestjs-iadvize-auth/testing';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { DEMO_USERS } from '../../sample/src/users/demo-users.js';
import { brandPublicKeyPem, startSample, type RunningSample } from '../support/sample-harness.js';

const [alice, bob] = DEMO_USERS;
const CSRF = { 'X-Requested-With': 'fetch' };

/** The session cookie pair (`sample_session=…`) of a login response. */
function sessionCookieOf(res: request.Response): string {
  const setCookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const cookie = setCookie.find((c) => c.startsWith('sample_session='));
  if (!cookie) throw new Error('no session cookie in the response');
  return cookie.split(';')[0];
}

describe('sample app over HTTP (demo mode)', () => {
  let sample: RunningSample;
  let fake: FakeIAdvize;
  let brandKey: string;
  let server: ReturnType<RunningSample['app']['getHttpServer']>;

  beforeAll(async () => {
    sample = await startSample();
    server = sample.app.getHttpServer();
    brandKey = brandPublicKeyPem(sample.keysDir);
    // Plays iAdvize with the key pair the sample keeps in its keys folder: the test
    // opens tokens itself instead of trusting the sample's demo endpoint.
    const { createPrivateKey, createPublicKey } = await import('node:crypto');
    const privateKey = createPrivateKey(readFileSync(join(sample.keysDir, 'fake-iadvize-private.pem')));
    fake = FakeIAdvize.fromKeyPair(privateKey, createPublicKey(privateKey));
  });

  afterAll(async () => {
    await sample?.close();
  });

  async function login(user = alice): Promise<{ cookie: string; bearer: string; res: request.Response }> {
    const res = await request(server).post('/auth/login').send({ username: user.username, password: user.password }).expect(200);
    return { cookie: sessionCookieOf(res), bearer: res.body.bearerToken as string, res };
  }

  it('POST /auth/login sets an HttpOnly, SameSite, Path=/ session cookie and returns a bearer token', async () => {
    const { res, bearer, cookie } = await login(alice);
    const setCookie = ([] as string[]).concat(res.headers['set-cookie']).find((c) => c.startsWith('sample_session='))!;
    expect(setCookie).toMatch(/;\s*HttpOnly/i);
    expect(setCookie).toMatch(/;\s*SameSite=(Lax|Strict)/i);
    expect(setCookie).toMatch(/;\s*Path=\/(;|$)/);
    expect(setCookie).not.toMatch(/;\s*Secure/i); // plain-HTTP demo; SAMPLE_SECURE_COOKIE=true adds it
    expect(cookie.split('=')[1]).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
    expect(bearer).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(bearer).not.toBe(cookie.split('=')[1]);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ user: { username: 'alice', firstName: 'Alice', lastName: 'Martin' }, tokenType: 'Bearer' });
    expect(res.body.user).not.toHaveProperty('password');
  });

  it('a token fetched with the cookie opens with FakeIAdvize to that user, with visitor data from the user store', async () => {
    const { cookie } = await login(alice);
    const res = await request(server).post('/iadvize/token').set('Cookie', cookie).set(CSRF).expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const opened = await fake.open(res.body.token, brandKey, { issuer: 'https://sample.brand.example' });
    expect(opened.userId).toBe(alice.id);
    expect(opened.visitorData).toEqual({ firstName: alice.firstName, lastName: alice.lastName, email: alice.email });
  });

  it('a token fetched with the bearer token (mobile-style, GET and POST) opens to that user', async () => {
    const { bearer } = await login(bob);
    for (const method of ['get', 'post'] as const) {
      const res = await request(server)[method]('/iadvize/token').set('Authorization', `Bearer ${bearer}`).expect(200);
      const opened = await fake.open(res.body.token, brandKey);
      expect(opened.userId).toBe(bob.id);
      expect(opened.visitorData?.firstName).toBe('Bob');
    }
  });

  it('the demo iAdvize endpoint verifies a real token and refuses a tampered one', async () => {
    const { bearer } = await login(alice);
    const { body } = await request(server).post('/iadvize/token').set('Authorization', `Bearer ${bearer}`).expect(200);
    const ok = await request(server).post('/demo/iadvize/authenticate').send({ token: body.token }).expect(200);
    expect(ok.body).toMatchObject({ status: 'authentication-success', userId: alice.id, visitorData: { firstName: 'Alice' } });

    const parts = (body.token as string).split('.');
    parts[3] = parts[3].slice(0, -2) + (parts[3].endsWith('AA') ? 'BB' : 'AA');
    const refused = await request(server).post('/demo/iadvize/authenticate').send({ token: parts.join('.') }).expect(401);
    expect(refused.body).toMatchObject({ status: 'authentication-failure', reason: 'DECRYPTION_FAILED' });
    await request(server).post('/demo/iadvize/authenticate').send({}).expect(400);
  });

  it('a wrong password or an unknown user gets 401 with the same message, and no cookie', async () => {
    const wrong = await request(server).post('/auth/login').send({ username: 'alice', password: 'not-her-password' }).expect(401);
    const unknown = await request(server).post('/auth/login').send({ username: 'mallory', password: 'whatever' }).expect(401);
    expect(wrong.body).toEqual(unknown.body);
    expect(wrong.body.code).toBe('SAMPLE_BAD_CREDENTIALS');
    expect(wrong.headers['set-cookie']).toBeUndefined();
    await request(server).post('/auth/login').send({ username: 'alice' }).expect(400);
  });

  it('POST /auth/login accepts only application/json (415 for a form, text, multipart or no type), as docs/sample.md says', async () => {
    const credentials = `username=${encodeURIComponent(alice.username)}&password=${encodeURIComponent(alice.password)}`;
    const json = JSON.stringify({ username: alice.username, password: alice.password });
    const refused: Array<[string | undefined, string]> = [
      ['application/x-www-form-urlencoded', credentials],
      ['text/plain', credentials],
      ['text/plain', json],
      ['multipart/form-data; boundary=x', `--x\r\nContent-Disposition: form-data; name="username"\r\n\r\n${alice.username}\r\n--x--\r\n`],
      ['text/json', json],
      ['application/jsonp', json],
      ['application/json-patch+json', json],
      [undefined, json],
    ];
    for (const [type, body] of refused) {
      const req = request(server).post('/auth/login');
      const res = await (type === undefined ? req.send(Buffer.from(body)) : req.set('Content-Type', type).send(body));
      expect({ type, status: res.status, code: res.body.code }).toEqual({ type, status: 415, code: 'SAMPLE_UNSUPPORTED_MEDIA_TYPE' });
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.body.bearerToken).toBeUndefined();
    }
    for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON']) {
      await request(server).post('/auth/login').set('Content-Type', type).send(json).expect(200);
    }
  });

  it('the token endpoint answers 401 without authentication, or with an unknown cookie or bearer', async () => {
    for (const req of [
      request(server).post('/iadvize/token').set(CSRF),
      request(server).get('/iadvize/token'),
      request(server).post('/iadvize/token').set('Cookie', 'sample_session=' + 'x'.repeat(43)).set(CSRF),
      request(server).post('/iadvize/token').set('Authorization', 'Bearer ' + 'y'.repeat(43)),
      request(server).post('/iadvize/token').set('Authorization', 'Basic YWxpY2U6YWxpY2UtZGVtby1wYXNzd29yZA=='),
    ]) {
      const res = await req.expect(401);
      expect(res.body).toMatchObject({ statusCode: 401, code: 'SAMPLE_UNAUTHENTICATED' });
      expect(res.body.token).toBeUndefined();
    }
  });

  it('an invalid bearer token is not rescued by a valid cookie', async () => {
    const { cookie } = await login(alice);
    await request(server).post('/iadvize/token').set('Cookie', cookie).set(CSRF).set('Authorization', 'Bearer ' + 'z'.repeat(43)).expect(401);
  });

  it('CSRF: a cookie-authenticated call without X-Requested-With, or reported cross-site, is refused', async () => {
    const { cookie, bearer } = await login(alice);
    const noHeader = await request(server).post('/iadvize/token').set('Cookie', cookie).expect(403);
    expect(noHeader.body.code).toBe('SAMPLE_CSRF_HEADER_MISSING');
    await request(server).get('/iadvize/token').set('Cookie', cookie).expect(403); // a top-level GET navigation mints nothing
    await request(server).post('/iadvize/token').set('Cookie', cookie).set(CSRF).set('Sec-Fetch-Site', 'cross-site').expect(403);
    await request(server).post('/iadvize/token').set('Cookie', cookie).set(CSRF).set('Origin', 'https://evil.example').expect(403);
    // The bearer token is never sent by a browser on its own: no CSRF header needed.
    await request(server).post('/iadvize/token').set('Authorization', `Bearer ${bearer}`).expect(200);
    await request(server).post('/iadvize/token').set('Cookie', cookie).set(CSRF).set('Sec-Fetch-Site', 'same-origin').expect(200);
  });

  it('a userId in the body, query or headers cannot change whose token it is', async () => {
    const { cookie, bearer } = await login(alice);
    const viaCookie = await request(server)
      .post(`/iadvize/token?userId=${bob.id}&sub=${bob.id}`)
      .set('Cookie', cookie)
      .set(CSRF)
      .set('X-User-Id', bob.id)
      .send({ userId: bob.id, user: { id: bob.id }, visitorData: { firstName: 'Bob' } })
      .expect(200);
    const viaBearer = await request(server).get(`/iadvize/token?userId=${bob.id}&user[id]=${bob.id}`).set('Authorization', `Bearer ${bearer}`).expect(200);
    for (const res of [viaCookie, viaBearer]) {
      const opened = await fake.open(res.body.token, brandKey);
      expect(opened.userId).toBe(alice.id);
      expect(opened.visitorData?.firstName).toBe('Alice');
    }
  });

  it('POST /auth/logout ends the session: the cookie and the bearer token both stop working', async () => {
    const { cookie, bearer } = await login(alice);
    await request(server).get('/auth/me').set('Cookie', cookie).set(CSRF).expect(200);
    await request(server).post('/iadvize/token').set('Authorization', `Bearer ${bearer}`).expect(200);

    const out = await request(server).post('/auth/logout').set('Cookie', cookie).set(CSRF).expect(204);
    const cleared = ([] as string[]).concat(out.headers['set-cookie']).find((c) => c.startsWith('sample_session='))!;
    expect(cleared).toMatch(/Max-Age=0/);

    await request(server).post('/iadvize/token').set('Cookie', cookie).set(CSRF).expect(401);
    await request(server).post('/iadvize/token').set('Authorization', `Bearer ${bearer}`).expect(401);
    // Signed out is not an error: 204, so the page's first load logs no failed request.
    const me = await request(server).get('/auth/me').set('Cookie', cookie).set(CSRF).expect(204);
    expect(me.text).toBe('');
    await request(server).get('/auth/me').expect(204);
  });

  it('logout with the bearer token ends the browser session too; logout without a session is a no-op 204', async () => {
    const { cookie, bearer } = await login(bob);
    await request(server).post('/auth/logout').set('Authorization', `Bearer ${bearer}`).expect(204);
    await request(server).post('/iadvize/token').set('Cookie', cookie).set(CSRF).expect(401);
    await request(server).post('/auth/logout').expect(204);
    // A cookie-authenticated logout needs the CSRF header like every other call.
    const again = await login(bob);
    await request(server).post('/auth/logout').set('Cookie', again.cookie).expect(403);
    await request(server).post('/iadvize/token').set('Cookie', again.cookie).set(CSRF).expect(200);
  });

  it('signing in again in the same browser replaces the previous session', async () => {
    const first = await login(alice);
    const second = await request(server)
      .post('/auth/login')
      .set('Cookie', first.cookie)
      .send({ username: bob.username, password: bob.password })
      .expect(200);
    await request(server).post('/iadvize/token').set('Cookie', first.cookie).set(CSRF).expect(401);
    const res = await request(server).post('/iadvize/token').set('Cookie', sessionCookieOf(second)).set(CSRF).expect(200);
    expect((await fake.open(res.body.token, brandKey)).userId).toBe(bob.id);
  });

  it('serves the page, its script, the demo tag loader and the stand-in tag, with a same-origin CSP', async () => {
    const page = await request(server).get('/').expect(200).expect('Content-Type', /text\/html/);
    expect(page.text).toContain('<script src="/app.js" defer></script>');
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/);
    const loader = await request(server).get('/iadvize-tag.js').expect(200).expect('Content-Type', /javascript/);
    expect(loader.text).toContain('"/demo/iadvize.js"');
    expect(loader.text).not.toContain('iadvize.com');
    const app = await request(server).get('/app.js').expect(200);
    expect(app.text).toContain("type: 'SECURED_AUTHENTICATION'");
    const stand = await request(server).get('/demo/iadvize.js').expect(200);
    expect(stand.text).toContain("Can't activate twice, please logout first");
  });
});

describe('sample app over HTTP (real mode: IADVIZE_SID set)', () => {
  let sample: RunningSample;

  beforeAll(async () => {
    sample = await startSample({ IADVIZE_SID: '123456', IADVIZE_PLATFORM: 'sd.iadvize.com' });
  });

  afterAll(async () => {
    await sample?.close();
  });

  it('loads the real iAdvize tag with the site id and serves no demo route', async () => {
    const server = sample.app.getHttpServer();
    const loader = await request(server).get('/iadvize-tag.js').expect(200);
    expect(loader.text).toContain('window.iAdvizeInterface.config = { sid: "123456" };');
    expect(loader.text).toContain('"https://sd.iadvize.com/iadvize.js?sid=123456"');
    await request(server).get('/demo/iadvize.js').expect(404);
    await request(server).post('/demo/iadvize/authenticate').send({ token: 'x' }).expect(404);
  });

  it('encrypts tokens to iAdvize (the production key by default), not to a local fake', async () => {
    expect(sample.config.fakeIAdvize).toBeUndefined();
    expect(sample.config.iadvizeOptions.iadvizePublicKey).toBeUndefined();
    const server = sample.app.getHttpServer();
    const login = await request(server).post('/auth/login').send({ username: alice.username, password: alice.password }).expect(200);
    const { body } = await request(server).post('/iadvize/token').set('Authorization', `Bearer ${login.body.bearerToken}`).expect(200);
    const someFake = await FakeIAdvize.create();
    await expect(someFake.open(body.token, brandPublicKeyPem(sample.keysDir))).rejects.toThrow(FakeIAdvizeError);
    await expect(someFake.open(body.token, brandPublicKeyPem(sample.keysDir))).rejects.toMatchObject({ reason: 'DECRYPTION_FAILED' });
  });
});
