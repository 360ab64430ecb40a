/* global window */
// DEMO ONLY: a local stand-in of the iframe side of @iadvize-oss/boxed-tag
// (the iAdvize tag boxed in a sandboxed iframe), served by the sample app in
// demo mode. It speaks the boxed tag's messages (version 1.4.4):
//
//   host → iframe  { command: 'internals', method: 'activate', args: { authenticationOption: { type: 'SECURED_AUTHENTICATION' } } }
//   iframe → host  { command: 'internals', method: 'get-activate-auth-token' }
//   host → iframe  { command: 'internals', method: 'set-activate-auth-token', args: '<token>' }
//   iframe → host  { command: 'internals', method: 'activate', activation: { authentication: { status, reason? } } }
//
// and has the token opened by POST /demo/iadvize/authenticate (the app
// playing iAdvize's servers with FakeIAdvize). For tests,
// window.iAdvizeBoxedDemo.identity is the identity iAdvize verified.
'use strict';

(function () {
  var demo = { identity: null, tokenRequests: 0 };
  window.iAdvizeBoxedDemo = demo;

  /** As the boxed tag does: ask the host page for a token, resolve the first answer. */
  function getActivateAuthToken() {
    demo.tokenRequests += 1;
    window.parent.postMessage({ command: 'internals', method: 'get-activate-auth-token' }, '*');
    return new Promise(function (resolve) {
      window.addEventListener('message', function listener(event) {
        if (event.source !== window.parent || !event.data || event.data.method !== 'set-activate-auth-token') return;
        window.removeEventListener('message', listener);
        resolve(event.data.args);
      });
    });
  }

  async function activate() {
    var token = await getActivateAuthToken();
    var response = await fetch('/demo/iadvize/authenticate', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: token }),
    });
    var body = await response.json().catch(function () {
      return null;
    });
    demo.identity = response.ok && body ? { userId: body.userId, visitorData: body.visitorData } : null;
    var activation = response.ok
      ? { authentication: { status: 'authentication-success' } }
      : { authentication: { status: 'authentication-failure', reason: 'Failed to fetch authentication with a server error' } };
    window.parent.postMessage({ command: 'internals', method: 'activate', activation: activation }, '*');
  }

  window.addEventListener('message', function (event) {
    var data = event.data;
    if (event.source !== window.parent || !data || data.command !== 'internals' || data.method !== 'activate') return;
    var option = data.args && data.args.authenticationOption;
    if (option && option.type === 'SECURED_AUTHENTICATION') activate();
  });
})();
