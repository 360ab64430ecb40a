/**
 * `nestjs-iadvize-auth/testing`: plays iAdvize in your tests.
 * @packageDocumentation
 */
export { FakeIAdvize, FakeIAdvizeError, type FakeIAdvizeErrorReason, type OpenOptions, type OpenedToken, type OpenedTokenClaims } from './fake-iadvize.js';
export { FakeIAdvizeSetup, type FakeIAdvizeModuleOptions } from './fake-iadvize-setup.js';
export { FakeKeyProvider, type FakeKeyProviderMode, type FakeKeyProviderOptions } from './fake-key.provider.js';
