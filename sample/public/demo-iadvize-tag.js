/* global window */
// DEMO ONLY: a local stand-in of the iAdvize web tag, served by the sample
// app when IADVIZE_SID is not set. It implements the part of the tag's API
// that the page uses, with the documented results and error messages:
//
//   iAdvizeInterface.push(fn)  runs fn(iAdvize) once the tag is ready
//   iAdvize.activate(cb)       calls cb() for { authenticationOption: { type:
//                              'SECURED_AUTHENTICATION', token } }, has the token
//                              opened by POST /demo/iadvize/authenticate (the
//                              app playing iAdvize's servers with FakeIAdvize),
//                              resolves { authentication: { option, status, reason? } }
//   iAdvize.logout()           ends the authenticated visitor session
//
// It is not the real tag: no chat, no retries (the real tag retries a failed
// token call three times), no automatic session renewal. For tests and demos,
// window.iAdvizeDemo exposes the verified identity and `refresh()`, which
// calls the token callback again as the real tag does when it renews the
// visitor's session.
'use strict';

(function () {
  var ENDPOINT = '/demo/iadvize/authenticate';
  var state = 'idle'; // 'idle' | 'activating' | 'active'
  var callback = null; // the page's token callback, kept for refresh()
  var generation = 0; // bumped by logout(): a late answer of an older activation is ignored

  var demo = {
    /** 'idle' | 'activating' | 'active' */
    state: state,
    /** { userId, visitorData? } iAdvize verified, or null. */
    identity: null,
    /** The demo endpoint's answer to the last refused token, or null. */
    lastFailure: null,
    refresh: refresh,
  };
  window.iAdvizeDemo = demo;

  function setState(next) {
    state = next;
    demo.state = next;
  }

  function failure(option, reason) {
    return { authentication: { option: option, status: 'authentication-failure', reason: reason } };
  }

  function validOption(value) {
    var option = value && typeof value === 'object' ? value.authenticationOption : undefined;
    return option && option.type === 'SECURED_AUTHENTICATION' && typeof option.token === 'string' && option.token.length > 0
      ? option
      : null;
  }

  // Gets a token from the page and has "iAdvize" (the demo endpoint) open it.
  async function authenticate(cb) {
    var value;
    try {
      value = await cb();
    } catch (error) {
      return failure(undefined, 'The authentication callback failed: ' + (error && error.message ? error.message : String(error)));
    }
    var option = validOption(value);
    if (!option) return failure(value && value.authenticationOption, 'A valid authentication option must be provided');
    var response;
    var body = null;
    try {
      response = await window.fetch(ENDPOINT, {
        method: 'POST',
        credentials: 'omit',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ token: option.token }),
      });
      body = await response.json();
    } catch {
      return failure(option, 'Failed to fetch authentication with a server error');
    }
    if (!response.ok || !body || body.status !== 'authentication-success') {
      demo.lastFailure = body;
      return failure(option, 'Failed to fetch authentication with a server error');
    }
    demo.lastFailure = null;
    demo.identity = { userId: body.userId, visitorData: body.visitorData };
    return { authentication: { option: option, status: 'authentication-success' } };
  }

  var iAdvize = {
    activate: function (cb) {
      if (typeof cb !== 'function') return Promise.resolve(failure(undefined, 'A valid authentication option must be provided'));
      if (state === 'activating') return Promise.resolve(failure(undefined, 'An activation is already ongoing'));
      if (state === 'active') return Promise.resolve(failure(undefined, "Can't activate twice, please logout first"));
      setState('activating');
      var mine = generation;
      return authenticate(cb).then(function (result) {
        if (mine !== generation) return failure(result.authentication.option, 'The visitor logged out during the activation');
        if (result.authentication.status === 'authentication-success') {
          callback = cb;
          setState('active');
        } else {
          setState('idle');
        }
        return result;
      });
    },

    logout: function () {
      generation += 1;
      callback = null;
      demo.identity = null;
      setState('idle');
      return Promise.resolve();
    },
  };

  // What the real tag does when the visitor's session must be renewed: call the
  // token callback again. A refused or missing token ends the authenticated session.
  function refresh() {
    if (state !== 'active' || !callback) return Promise.reject(new Error('iAdvize (demo) is not activated'));
    var mine = generation;
    return authenticate(callback).then(function (result) {
      if (mine === generation && result.authentication.status !== 'authentication-success') {
        callback = null;
        demo.identity = null;
        setState('idle');
      }
      return result;
    });
  }

  // Replace the queue with an object whose push() runs functions as soon as
  // they arrive, then run the ones queued before the tag loaded.
  var queued = Array.isArray(window.iAdvizeInterface) ? window.iAdvizeInterface.slice() : [];
  var config = window.iAdvizeInterface && window.iAdvizeInterface.config;
  window.iAdvizeInterface = {
    config: config,
    push: function () {
      for (var i = 0; i < arguments.length; i += 1) {
        var fn = arguments[i];
        if (typeof fn === 'function') {
          Promise.resolve(iAdvize).then(fn).catch(function (error) {
            window.console.error('iAdvize (demo): a pushed function failed', error);
          });
        }
      }
      return 0;
    },
  };
  window.iAdvizeInterface.push.apply(window.iAdvizeInterface, queued);
})();
