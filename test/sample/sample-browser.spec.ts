import 'reflect-metadata';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { DEMO_USERS } from '../../sample/src/users/demo-users.js';
import { startSample, type RunningSample } from '../support/sample-harness.js';

/**
 * The sample page in a real browser: Debian's chromium driven by
 * playwright-core (no downloaded browser). Missing chromium fails the suite
 * on CI (`.ci/run` installs it) and skips it on a developer machine.
 *
 * Screenshots go to test-artifacts/sample/ (git-ignored). With
 * UPDATE_DOCS_SCREENSHOT=1 the signed-in page is also written to
 * docs/images/sample-page.png, the README's screenshot.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = join(ROOT, 'test-artifacts', 'sample');
const DOCS_SCREENSHOT = join(ROOT, 'docs', 'images', 'sample-page.png');

/** The flags the environment notes list for headless chromium on this kind of machine. */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const [alice, bob] = DEMO_USERS;

// Starting a browser and loading pages takes longer than a unit test.
jest.setTimeout(90_000);

if (!HAVE_CHROMIUM && process.env.CI) {
  describe('sample page in chromium', () => {
    it('needs chromium', () => {
      throw new Error(`chromium not found at ${CHROMIUM}: install Debian's package (apt-get install -y chromium) or set CHROMIUM_PATH`);
    });
  });
}

(HAVE_CHROMIUM ? describe : describe.skip)('sample page in chromium (demo mode)', () => {
  let sample: RunningSample;
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  const pageErrors: string[] = [];
  /** Console errors other than the expected 401s (CSP violations land here). */
  const consoleErrors: string[] = [];
  /** Every console error, with the URL it is about (failed requests). */
  const allConsoleErrors: Array<{ text: string; url: string }> = [];
  const tokenRequests: Array<{ method: string; csrf: string | undefined }> = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    sample = await startSample();
    userDataDir = mkdtempSync(join(tmpdir(), 'iadvize-sample-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 900, height: 760 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') allConsoleErrors.push({ text: m.text(), url: m.location().url });
      if (m.type() === 'error' && !/status of 401/.test(m.text())) consoleErrors.push(m.text());
    });
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/iadvize/token') tokenRequests.push({ method: r.method(), csrf: r.headers()['x-requested-with'] });
    });
  });

  afterAll(async () => {
    await context?.close();
    await sample?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  afterEach(async () => {
    const name = expect.getState().currentTestName?.replace(/[^a-z0-9]+/gi, '-').toLowerCase() ?? 'step';
    await page?.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true }).catch(() => undefined);
  });

  const status = () => page.locator('#iadvize-status');

  async function waitForState(state: string): Promise<string> {
    await page.waitForSelector(`#iadvize-status[data-state="${state}"]`);
    return (await status().textContent()) ?? '';
  }

  async function signIn(user: { username: string; password: string }): Promise<void> {
    await page.locator('#signed-out').waitFor({ state: 'visible' });
    await page.fill('#username', user.username);
    await page.fill('#password', user.password);
    await page.click('#sign-in');
  }

  it('shows the sign-in form to a signed-out visitor, without activating the tag', async () => {
    await page.goto(sample.baseUrl);
    await page.locator('#signed-out').waitFor({ state: 'visible' });
    expect(await page.locator('#mode').textContent()).toContain('demo mode');
    expect(await status().getAttribute('data-state')).toBe('idle');
    expect(await page.evaluate(() => (globalThis as any).iAdvizeDemo.state)).toBe('idle');
    expect(tokenRequests).toHaveLength(0);
    // Being signed out is not an error: the first load logs nothing in the console (GET /auth/me answers 204).
    expect(allConsoleErrors).toEqual([]);
  });

  it('a wrong password shows the error and activates nothing', async () => {
    await signIn({ username: alice.username, password: 'wrong password' });
    await page.locator('#error').waitFor({ state: 'visible' });
    expect(await page.locator('#error').textContent()).toContain('Wrong username or password');
    expect(tokenRequests).toHaveLength(0);
  });

  it('signing in as the first demo user activates the tag as that user', async () => {
    await signIn(alice);
    const text = await waitForState('success');
    expect(text).toBe(`Authenticated as ${alice.firstName} ${alice.lastName} (userId ${alice.id})`);
    expect(await page.locator('#user-name').textContent()).toContain('alice');
    const demo = await page.evaluate(() => (globalThis as any).iAdvizeDemo);
    expect(demo.state).toBe('active');
    expect(demo.identity).toEqual({ userId: alice.id, visitorData: { firstName: 'Alice', lastName: 'Martin', email: alice.email } });
    // One token request, a POST with the CSRF header; the token never reaches the DOM.
    expect(tokenRequests).toEqual([{ method: 'POST', csrf: 'fetch' }]);
    expect(await page.content()).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
    // The session cookie is HttpOnly: page scripts cannot read it.
    expect(await page.evaluate(() => (globalThis as any).document.cookie)).toBe('');
    const [cookie] = (await context.cookies()).filter((c) => c.name === 'sample_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') {
      mkdirSync(join(ROOT, 'docs', 'images'), { recursive: true });
      const box = await page.locator('main').boundingBox();
      await page.screenshot({ path: DOCS_SCREENSHOT, clip: { x: 0, y: 0, width: 900, height: Math.ceil((box?.y ?? 0) + (box?.height ?? 700)) + 24 } });
    }
  });

  it('activates once per page load: a second activate() is refused, a reload activates once again', async () => {
    const second = await page.evaluate(
      () =>
        new Promise((resolve) =>
          (globalThis as any).iAdvizeInterface.push((iAdvize: any) => iAdvize.activate(async () => ({})).then(resolve)),
        ),
    );
    expect(second).toMatchObject({ authentication: { status: 'authentication-failure', reason: "Can't activate twice, please logout first" } });

    tokenRequests.length = 0;
    await page.reload();
    expect(await waitForState('success')).toContain(`userId ${alice.id}`);
    expect(tokenRequests).toHaveLength(1);
  });

  it('signing out logs the tag out, then ends the app session', async () => {
    await page.click('#sign-out');
    await page.locator('#signed-out').waitFor({ state: 'visible' });
    expect(await waitForState('idle')).toBe('Signed out of iAdvize');
    const demo = await page.evaluate(() => (globalThis as any).iAdvizeDemo);
    expect(demo).toMatchObject({ state: 'idle', identity: null });
    expect((await context.cookies()).filter((c) => c.name === 'sample_session')).toEqual([]);
    // The server-side session is gone as well.
    const res = await page.evaluate(async () => (await fetch('/iadvize/token', { method: 'POST', headers: { 'X-Requested-With': 'fetch' } })).status);
    expect(res).toBe(401);
  });

  it('signing in as the second demo user on the same page activates the tag as that user', async () => {
    tokenRequests.length = 0;
    await signIn(bob);
    const text = await waitForState('success');
    expect(text).toBe(`Authenticated as ${bob.firstName} ${bob.lastName} (userId ${bob.id})`);
    expect(await page.evaluate(() => (globalThis as any).iAdvizeDemo.identity.userId)).toBe(bob.id);
    expect(tokenRequests).toHaveLength(1);
  });

  it('the boxed tag (sandboxed iframe): the page answers its token request, and iAdvize verifies the signed-in user', async () => {
    // The boxed tag's iframe (the demo stand-in of @iadvize-oss/boxed-tag's iframe side), sandboxed as iAdvize documents it.
    await page.evaluate(
      () =>
        new Promise<void>((resolve) => {
          const w = globalThis as any;
          const iframe = w.document.createElement('iframe');
          iframe.id = 'iadvize-boxed';
          iframe.setAttribute('sandbox', 'allow-scripts allow-same-origin allow-popups allow-forms');
          iframe.src = '/demo/boxed-iframe.html';
          iframe.onload = () => resolve();
          w.document.body.append(iframe);
          w.answerBoxedIAdvizeTokenRequests(iframe, (error: Error) => (w.boxedTokenError = error.message));
        }),
    );
    tokenRequests.length = 0;
    // Something other than the iframe asks for a token: ignored (only the iAdvize iframe may ask).
    await page.evaluate(() => (globalThis as any).postMessage({ command: 'internals', method: 'get-activate-auth-token' }, '*'));
    // The host asks the iframe to activate, as iAdvizeBoxedInterface.push({ method: 'activate', … }) does.
    const activation = await page.evaluate(
      () =>
        new Promise((resolve) => {
          const w = globalThis as any;
          const iframe = w.document.getElementById('iadvize-boxed');
          w.addEventListener('message', (e: any) => {
            if (e.source === iframe.contentWindow && e.data?.method === 'activate') resolve(e.data.activation);
          });
          iframe.contentWindow.postMessage({ command: 'internals', method: 'activate', args: { authenticationOption: { type: 'SECURED_AUTHENTICATION' } } }, w.location.origin);
        }),
    );
    expect(activation).toEqual({ authentication: { status: 'authentication-success' } });
    const frame = page.frames().find((f) => f.url().endsWith('/demo/boxed-iframe.html'));
    expect(await frame!.evaluate(() => (globalThis as any).iAdvizeBoxedDemo)).toEqual({
      identity: { userId: bob.id, visitorData: { firstName: bob.firstName, lastName: bob.lastName, email: bob.email } },
      tokenRequests: 1,
    });
    // One token fetched, for the iframe's request only, with the CSRF header.
    expect(tokenRequests).toEqual([{ method: 'POST', csrf: 'fetch' }]);
    expect(await page.evaluate(() => (globalThis as any).boxedTokenError)).toBeUndefined();
    await page.evaluate(() => (globalThis as any).document.getElementById('iadvize-boxed').remove());
  });

  it('when the session is gone, the token call gets 401: the page shows it and does not fall back to anonymous', async () => {
    // The browser loses its session (signed out in another tab, expired…), then
    // the tag asks for a fresh token, as the real tag does when it renews the visitor's session.
    await context.clearCookies();
    tokenRequests.length = 0;
    const result = await page.evaluate(() => (globalThis as any).iAdvizeDemo.refresh());
    expect(result).toMatchObject({ authentication: { status: 'authentication-failure' } });
    const text = await waitForState('error');
    expect(text).toContain('Could not get an iAdvize token: 401');
    expect(text).toContain('no anonymous fallback');
    expect(tokenRequests).toEqual([{ method: 'POST', csrf: 'fetch' }]);
    await page.locator('#signed-out').waitFor({ state: 'visible' });
    const demo = await page.evaluate(() => (globalThis as any).iAdvizeDemo);
    expect(demo).toMatchObject({ state: 'idle', identity: null }); // logged out of the tag, not anonymous
    expect(await status().textContent()).toContain('401'); // the error stays visible
  });

  it('a signed-out page that calls the token endpoint gets 401 and shows it', async () => {
    await page.reload();
    await page.locator('#signed-out').waitFor({ state: 'visible' });
    tokenRequests.length = 0;
    // Run the page's own activation path (app.js's startIAdvize) while signed out.
    await page.evaluate(() => (globalThis as any).startIAdvize());
    const text = await waitForState('error');
    expect(text).toContain('Could not get an iAdvize token: 401 Sign in first');
    expect(tokenRequests).toEqual([{ method: 'POST', csrf: 'fetch' }]);
    const demo = await page.evaluate(() => (globalThis as any).iAdvizeDemo);
    expect(demo).toMatchObject({ state: 'idle', identity: null });
    await page.locator('#signed-out').waitFor({ state: 'visible' });
  });

  it('raised no script error and no CSP violation on the page', () => {
    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
