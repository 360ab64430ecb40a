import { FakeKeyProvider } from '../../lib/testing/index.js';

/**
 * The suite's stand-in for a remote KMS: a {@link FakeKeyProvider} of kind
 * `'test-kms'` signing with `privatePem`, whose failures carry a message with
 * secret-looking text (`secret=hunter2`) that must never reach a response or a log.
 */
export function kmsLikeSigner(privatePem: string): FakeKeyProvider {
  return new FakeKeyProvider({
    privateKeyPem: privatePem,
    kind: 'test-kms',
    error: () => new Error('connect ECONNREFUSED kms.internal secret=hunter2'),
  });
}
