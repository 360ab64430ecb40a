/* global window, document */
// The sample page: sign in, activate the iAdvize tag as the signed-in user,
// sign out. Plain JavaScript, no framework, no build step.
//
// Part 1, "iAdvize integration", is the snippet to copy into your site: it
// only needs your token endpoint (here the library's POST /iadvize/token) and
// the iAdvize tag on the page. Part 2 is this sample's own sign-in form.
'use strict';

// ===========================================================================
// Part 1 — iAdvize integration (copy this)
// ===========================================================================

// #region iadvize-integration (docs/sample.md shows this region verbatim)
/** The token endpoint answered with an error: no token, no chat. */
class TokenRequestError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'TokenRequestError';
    this.status = status;
  }
}

/**
 * Asks your backend for a fresh iAdvize token for the signed-in user.
 * The tag calls it on activation and again whenever it renews the visitor's
 * session, so it must fetch a new token every time (tokens live one minute).
 */
async function fetchIAdvizeToken() {
  const response = await fetch('/iadvize/token', {
    method: 'POST',
    credentials: 'same-origin', // sends the HttpOnly session cookie
    cache: 'no-store',
    headers: {
      Accept: 'application/json',
      // CSRF protection: the backend refuses cookie-authenticated calls
      // without this header, which a cross-site page cannot add.
      'X-Requested-With': 'fetch',
    },
  });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new TokenRequestError(response.status, `${response.status} ${body?.message ?? response.statusText}`);
  }
  const { token } = await response.json();
  return token;
}

/** Runs `fn(iAdvize)` once the tag is ready (right away if it already is). */
function withIAdvize(fn) {
  return new Promise((resolve, reject) => {
    window.iAdvizeInterface = window.iAdvizeInterface || [];
    window.iAdvizeInterface.push(async (iAdvize) => {
      try {
        resolve(await fn(iAdvize));
      } catch (error) {
        reject(error);
      }
    });
  });
}

/** This page load's activation; iAdvize refuses a second one until logout. */
let activation = null;

/**
 * Activates the tag with the signed-in user's identity, once per page load
 * (until `logoutIAdvize()`). Resolves iAdvize's result:
 * `{ authentication: { status: 'authentication-success' | 'authentication-failure', reason? } }`.
 *
 * @param onTokenError called when the token cannot be fetched (e.g. 401
 *   after the session ended). There is deliberately no fallback to an
 *   anonymous activation: a visitor who should be signed in must not chat as
 *   someone anonymous.
 */
function activateIAdvize(onTokenError) {
  if (!activation) {
    activation = withIAdvize((iAdvize) =>
      iAdvize.activate(async () => {
        try {
          const token = await fetchIAdvizeToken();
          return { authenticationOption: { type: 'SECURED_AUTHENTICATION', token } };
        } catch (error) {
          onTokenError(error);
          throw error; // the tag reports an authentication failure
        }
      }),
    );
  }
  return activation;
}

/** Ends the visitor's iAdvize session. Call it before your own sign-out. */
async function logoutIAdvize() {
  if (!activation) return;
  await activation.catch(() => undefined); // let a pending activation settle first
  activation = null;
  await withIAdvize((iAdvize) => iAdvize.logout());
}
// #endregion iadvize-integration

// The bridge is for pages that use the boxed tag; this page uses the plain tag (the browser test wires the bridge).
/* eslint-disable @typescript-eslint/no-unused-vars */
// #region iadvize-boxed-bridge (docs/operations.md shows this region verbatim)
/**
 * The boxed tag (`@iadvize-oss/boxed-tag`: the iAdvize tag in a sandboxed
 * iframe, with no access to your page), host side: when the iframe asks for a
 * token (`get-activate-auth-token`, on activation and whenever it needs a
 * fresh one), fetch one from your endpoint with `fetchIAdvizeToken()` above
 * and answer `set-activate-auth-token` with the token as `args`. Only the
 * iAdvize iframe may ask, and only its origin receives the token.
 *
 * @param iframe the boxed tag's `<iframe>` element
 * @param onTokenError called when the token cannot be fetched (e.g. 401);
 *   the iframe then gets no token (no anonymous fallback)
 */
function answerBoxedIAdvizeTokenRequests(iframe, onTokenError) {
  const iframeOrigin = new URL(iframe.src, window.location.href).origin;
  window.addEventListener('message', async (event) => {
    if (event.source !== iframe.contentWindow || event.origin !== iframeOrigin) return;
    if (event.data?.command !== 'internals' || event.data.method !== 'get-activate-auth-token') return;
    try {
      const token = await fetchIAdvizeToken();
      iframe.contentWindow.postMessage({ command: 'internals', method: 'set-activate-auth-token', args: token }, iframeOrigin);
    } catch (error) {
      onTokenError(error);
    }
  });
}
// #endregion iadvize-boxed-bridge
/* eslint-enable @typescript-eslint/no-unused-vars */

// ===========================================================================
// Part 2 — the sample's sign-in form and status display
// ===========================================================================

const $ = (id) => document.getElementById(id);

/** Headers of the sample's JSON calls (the CSRF header on every cookie-authenticated call). */
const jsonHeaders = { Accept: 'application/json', 'Content-Type': 'application/json', 'X-Requested-With': 'fetch' };

function setIAdvizeStatus(state, text) {
  const status = $('iadvize-status');
  status.dataset.state = state;
  status.textContent = text;
}

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = !message;
}

function showSignedIn(user) {
  $('user-name').textContent = `${user.firstName} ${user.lastName} (${user.username})`;
  $('signed-in').hidden = false;
  $('signed-out').hidden = true;
}

function showSignedOut() {
  $('signed-in').hidden = true;
  $('signed-out').hidden = false;
  $('password').value = '';
}

/** The token request failed: show why, and treat a 401 as the end of the session. */
function onTokenError(error) {
  const status = error instanceof TokenRequestError ? error.status : 0;
  setIAdvizeStatus('error', `Could not get an iAdvize token: ${error.message}. The chat stays off (no anonymous fallback).`);
  if (status === 401) {
    // Signed out elsewhere or session expired: sign the tag out too, then offer the sign-in form.
    setTimeout(async () => {
      await logoutIAdvize().catch(() => undefined);
      showSignedOut();
    }, 0);
  }
}

/** Activates the tag and shows the outcome. */
async function startIAdvize() {
  setIAdvizeStatus('pending', 'Activating iAdvize…');
  const result = await activateIAdvize(onTokenError);
  const { status, reason } = result.authentication;
  if (status === 'authentication-success') {
    // Demo mode only: the local stand-in says who iAdvize now sees. The real tag does not expose it.
    const who = window.iAdvizeDemo?.identity;
    const name = who?.visitorData ? `${who.visitorData.firstName} ${who.visitorData.lastName}` : null;
    setIAdvizeStatus('success', who ? `Authenticated as ${name ?? who.userId} (userId ${who.userId})` : 'Authenticated with iAdvize');
  } else if ($('iadvize-status').dataset.state !== 'error') {
    // Keep the more precise token error when there is one.
    setIAdvizeStatus('failure', `iAdvize authentication failed: ${reason}`);
  }
}

async function signIn(username, password) {
  const response = await fetch('/auth/login', {
    method: 'POST',
    credentials: 'same-origin',
    headers: jsonHeaders,
    body: JSON.stringify({ username, password }),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.message ?? `Sign-in failed (${response.status})`);
  // body.bearerToken is for mobile-style clients; the page relies on the HttpOnly cookie.
  showSignedIn(body.user);
  await startIAdvize();
}

async function signOut() {
  await logoutIAdvize(); // 1. end the iAdvize visitor session first…
  await fetch('/auth/logout', { method: 'POST', credentials: 'same-origin', headers: jsonHeaders }); // 2. …then the app's
  setIAdvizeStatus('idle', 'Signed out of iAdvize');
  showSignedOut();
}

async function init() {
  $('mode').textContent = window.sampleMode === 'real' ? 'real iAdvize tag' : 'demo mode (iAdvize played locally)';

  $('sign-in-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = $('sign-in');
    button.disabled = true;
    showError('');
    try {
      await signIn($('username').value, $('password').value);
    } catch (error) {
      showError(error.message);
    } finally {
      button.disabled = false;
    }
  });

  $('sign-out').addEventListener('click', async () => {
    showError('');
    try {
      await signOut();
    } catch (error) {
      showError(`Sign-out failed: ${error.message}`);
    }
  });

  // Already signed in (the session cookie survived a reload)? Then activate right away.
  // 200 with the profile when signed in, 204 when not (no error in the console).
  const me = await fetch('/auth/me', { credentials: 'same-origin', headers: jsonHeaders });
  if (me.status === 200) {
    showSignedIn(await me.json());
    await startIAdvize();
  } else {
    showSignedOut();
  }
}

init().catch((error) => showError(`The page could not start: ${error.message}`));
