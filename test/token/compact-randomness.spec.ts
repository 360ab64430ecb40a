/**
 * The content key (CEK) and IV of a token are drawn when that token is made,
 * and wiped after: no future token's content key sits in process memory.
 *
 * `node:crypto` is the real module, with its random sources wrapped so the
 * test sees every buffer they fill or return. After each token, every such
 * buffer must be all zeros again, and each token may draw at most its own 44
 * bytes (32-byte CEK + 12-byte IV). A pool drawn ahead for later tokens fails
 * both checks. The tokens themselves are opened by FakeIAdvize.
 */
import { jest } from '@jest/globals';
import { createRequire } from 'node:module';
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';

type Crypto = typeof import('node:crypto');
const real = createRequire(import.meta.url)('node:crypto') as Crypto;

/** Every buffer a random source filled or returned, since the last check. */
const drawn: Uint8Array[] = [];
const view = (b: NodeJS.ArrayBufferView): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

jest.unstable_mockModule('node:crypto', () => ({
  ...real,
  default: real,
  randomFillSync: <T extends NodeJS.ArrayBufferView>(buffer: T, offset?: number, size?: number): T => {
    const out = real.randomFillSync(buffer, offset, size);
    drawn.push(view(buffer));
    return out;
  },
  randomBytes: (size: number) => {
    const out = real.randomBytes(size);
    drawn.push(view(out));
    return out;
  },
  getRandomValues: <T extends NodeJS.ArrayBufferView>(array: T): T => {
    const out = real.getRandomValues(array as unknown as Uint8Array) as unknown as T;
    drawn.push(view(array));
    return out;
  },
}));

const CEK_AND_IV_BYTES = 32 + 12;

describe('content keys are drawn per token, never ahead', () => {
  it('after each token no random bytes remain in memory, and each token draws only its own 44 bytes', async () => {
    const { compactEncrypt, jwsSigningInput, b64url } = await import('../../lib/token/compact.js');
    const { FakeIAdvize } = await import('../../lib/testing/index.js');
    const iadvize = await FakeIAdvize.create();
    const brand = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const recipient = real.createPublicKey(iadvize.publicKeyPem);
    const brandPublicPem = brand.publicKey.export({ type: 'spki', format: 'pem' }).toString();

    for (let i = 0; i < 5; i++) {
      drawn.length = 0;
      const now = Math.floor(Date.now() / 1000);
      const input = jwsSigningInput({ 'https://iadvize.com/userId': `user-${i}`, iss: 'https://brand.example', iat: now, exp: now + 60 });
      const jws = `${input}.${b64url(cryptoSign('sha256', Buffer.from(input), brand.privateKey))}`;
      const token = compactEncrypt(jws, recipient);

      const bytesDrawn = drawn.reduce((n, b) => n + b.byteLength, 0);
      expect({ token: i, bytesDrawn }).toEqual({ token: i, bytesDrawn: CEK_AND_IV_BYTES });
      const leftover = drawn.filter((b) => b.some((x) => x !== 0)).length;
      expect({ token: i, buffersStillHoldingRandomBytes: leftover }).toEqual({ token: i, buffersStillHoldingRandomBytes: 0 });
      expect((await iadvize.open(token, brandPublicPem)).userId).toBe(`user-${i}`);
    }
  });
});
