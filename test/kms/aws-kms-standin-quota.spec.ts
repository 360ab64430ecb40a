/**
 * The AWS KMS stand-in's optional `Sign` quota (used by bench:fleet): calls
 * past the quota within one clock second answer ThrottlingException, as AWS
 * KMS does, and are counted; the real SDK sees a throttle.
 */
import { KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { createHash } from 'node:crypto';
import { AwsKmsStandin } from '../support/standins/aws-kms.standin.js';

describe('AwsKmsStandin signQuotaPerSecond', () => {
  let kms: AwsKmsStandin;
  let client: KMSClient;

  beforeAll(async () => {
    kms = await AwsKmsStandin.create({ signQuotaPerSecond: 2 });
    client = new KMSClient({ region: 'us-east-1', endpoint: kms.url, credentials: { accessKeyId: 'AKIDSTANDIN', secretAccessKey: 'standin-secret' }, maxAttempts: 1 });
  });

  afterAll(async () => {
    client?.destroy();
    await kms?.stop();
  });

  it('throttles the Sign calls past the quota and counts both kinds', async () => {
    const digest = createHash('sha256').update('probe').digest();
    // 7 calls at once: even spread over 3 clock seconds, at most 6 fit a quota of 2 per second.
    const results = await Promise.allSettled(
      Array.from({ length: 7 }, () => client.send(new SignCommand({ KeyId: kms.keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256' }))),
    );
    const throttled = results.filter((r) => r.status === 'rejected' && (r.reason as Error).name === 'ThrottlingException').length;
    const signed = results.filter((r) => r.status === 'fulfilled').length;
    expect(signed + throttled).toBe(7);
    expect(throttled).toBeGreaterThanOrEqual(1);
    expect(kms.throttled).toBe(throttled);
    expect(kms.signed).toBe(signed);
  });
});
