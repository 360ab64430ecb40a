/**
 * The iAdvize production public key embedded in the package: its bytes, its
 * RFC 7638 thumbprint (computed by jose and by hand), its size, and that it is
 * the default recipient of tokens.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import {
  IADVIZE_PRODUCTION_KEY_THUMBPRINT,
  IADVIZE_PRODUCTION_PUBLIC_KEY,
} from '../../lib/iadvize.constants.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import { TokenService } from '../../lib/token/token.service.js';
import { rsaKeyPair } from '../support/keys.js';

/** Independently recorded fingerprints of the key iAdvize publishes. */
const EXPECTED_DER_SHA256 = '20b1ebc3cd86286c9891186a8af48a9979e1f3e2ca460e40af85b0a6bbf7445a';
const EXPECTED_THUMBPRINT = 'QspNamaz04P1Fh1DKF1IUvMLLiYJHmQhECR3ue0eJGU';

const der = Buffer.from(IADVIZE_PRODUCTION_PUBLIC_KEY, 'base64');
const key = createPublicKey({ key: der, format: 'der', type: 'spki' });

describe('embedded iAdvize production key', () => {
  it('is plain base64 whose DER bytes hash to the recorded SHA-256', () => {
    expect(IADVIZE_PRODUCTION_PUBLIC_KEY).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    expect(der.toString('base64')).toBe(IADVIZE_PRODUCTION_PUBLIC_KEY);
    expect(createHash('sha256').update(der).digest('hex')).toBe(EXPECTED_DER_SHA256);
  });

  it('is a canonical SPKI DER (node re-exports the same bytes)', () => {
    expect(key.type).toBe('public');
    expect(Buffer.from(key.export({ format: 'der', type: 'spki' })).equals(der)).toBe(true);
  });

  it('is RSA-2048 with e = 65537', () => {
    expect(key.asymmetricKeyType).toBe('rsa');
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(key.asymmetricKeyDetails?.publicExponent).toBe(65537n);
    const { n, e } = key.export({ format: 'jwk' });
    expect(e).toBe('AQAB');
    const modulus = Buffer.from(n as string, 'base64url');
    expect(modulus).toHaveLength(256);
    expect(modulus[0] & 0x80).toBe(0x80); // top bit set: a full 2048-bit modulus
  });

  it('has the recorded RFC 7638 thumbprint, by jose and by hand with node:crypto', async () => {
    const { n, e, kty } = key.export({ format: 'jwk' });
    expect(kty).toBe('RSA');
    const byJose = await calculateJwkThumbprint({ kty: 'RSA', n, e }, 'sha256');
    // RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
    const canonical = `{"e":"${e}","kty":"RSA","n":"${n}"}`;
    expect(canonical).toBe(JSON.stringify({ e, kty: 'RSA', n }));
    const byHand = createHash('sha256').update(canonical, 'utf8').digest('base64url');
    expect(byHand).toBe(EXPECTED_THUMBPRINT);
    expect(byJose).toBe(EXPECTED_THUMBPRINT);
    expect(IADVIZE_PRODUCTION_KEY_THUMBPRINT).toBe(EXPECTED_THUMBPRINT);
  });

  it('is the default recipient: resolveIAdvizeAuthOptions without iadvizePublicKey encrypts to it', async () => {
    const brand = await rsaKeyPair('brand');
    const config = await resolveIAdvizeAuthOptions({ issuer: 'https://brand.example', signingKey: { pem: brand.privatePem } });
    expect(config.usesProductionIAdvizeKey).toBe(true);
    expect(config.iadvizeKeyThumbprint).toBe(EXPECTED_THUMBPRINT);
    expect(Buffer.from(config.iadvizePublicKey.export({ format: 'der', type: 'spki' })).equals(der)).toBe(true);

    const service = new TokenService(config);
    expect(service.iadvizeKeyThumbprint).toBe(EXPECTED_THUMBPRINT);
    const { token } = await service.createToken({ userId: 'u' });
    const parts = token.split('.');
    expect(parts).toHaveLength(5);
    expect(JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'))).toEqual({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT' });
    expect(Buffer.from(parts[1], 'base64url')).toHaveLength(256);
  });

  it('a configured iadvizePublicKey replaces it', async () => {
    const brand = await rsaKeyPair('brand');
    const sandbox = await rsaKeyPair('sandbox', 3072);
    const config = await resolveIAdvizeAuthOptions({
      issuer: 'https://brand.example',
      signingKey: { pem: brand.privatePem },
      iadvizePublicKey: sandbox.publicPem,
    });
    expect(config.usesProductionIAdvizeKey).toBe(false);
    expect(config.iadvizeKeyThumbprint).not.toBe(EXPECTED_THUMBPRINT);
    const { token } = await new TokenService(config).createToken({ userId: 'u' });
    // A 3072-bit recipient gives a 384-byte wrapped key: the size follows the recipient key.
    expect(Buffer.from(token.split('.')[1], 'base64url')).toHaveLength(384);
  });
});
