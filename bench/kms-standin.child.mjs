/**
 * The AWS KMS stand-in of the fleet benchmark, in its own process so that its
 * per-second `Sign` quota is counted on arrival, not after the load
 * generator's event loop lets it run. The parent transpiles the test
 * stand-ins (test/support/standins) into `dir` and talks over IPC.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

let kms;
process.on('message', async (message) => {
  try {
    if (message.type === 'start') {
      const { AwsKmsStandin } = await import(pathToFileURL(join(message.dir, 'aws-kms.standin.js')).href);
      kms = await AwsKmsStandin.create({ signQuotaPerSecond: message.signQuotaPerSecond });
      process.send({
        type: 'ready',
        url: kms.url,
        alias: kms.alias,
        publicKeyPem: kms.key.publicKey.export({ type: 'spki', format: 'pem' }),
        // A second key of the same account, for the key switch of the outage scenario.
        rotatedKeyId: kms.rotatedKeyId,
        rotatedPublicKeyPem: kms.rotatedKey.publicKey.export({ type: 'spki', format: 'pem' }),
      });
    } else if (message.type === 'counters') {
      process.send({ type: 'counters', signed: kms.signed, throttled: kms.throttled });
    } else if (message.type === 'stop') {
      await kms?.stop();
      process.disconnect();
    }
  } catch (e) {
    console.error(`kms-standin.child.mjs: ${e?.stack ?? e}`);
    process.exit(1);
  }
});
