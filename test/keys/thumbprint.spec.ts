/**
 * thumbprintOf computes the RFC 7638 JWK thumbprint with node:crypto (no jose,
 * so the CommonJS build stays free of an ESM-only dependency): the RFC's own
 * example, and agreement with jose's calculateJwkThumbprint on fresh keys.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import { thumbprintOf } from '../../lib/index.js';

describe('thumbprintOf (RFC 7638)', () => {
  it('gives the thumbprint of RFC 7638 §3.1 for its example key', async () => {
    const n =
      '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw';
    const key = createPublicKey({ key: { kty: 'RSA', n, e: 'AQAB' }, format: 'jwk' });
    expect(await thumbprintOf(key)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('agrees with jose for fresh keys, from the public or the private half', async () => {
    for (const modulusLength of [2048, 3072]) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength });
      const jwk = publicKey.export({ format: 'jwk' });
      const expected = await calculateJwkThumbprint({ kty: 'RSA', n: jwk.n as string, e: jwk.e as string });
      expect(await thumbprintOf(publicKey)).toBe(expected);
      expect(await thumbprintOf(privateKey)).toBe(expected);
    }
  });
});
