/**
 * Opens tokens minted by TokenService with node:crypto primitives only (no
 * jose, no FakeIAdvize), following RFC 7516 §5.2 and RFC 7515 §5.2 by hand,
 * so jose is not the only judge of our output.
 */
import {
  constants,
  createDecipheriv,
  privateDecrypt,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import { TokenService } from '../../lib/token/token.service.js';
import { rsaKeyPair } from '../support/keys.js';

const ISSUER = 'https://brand.example';
const NOW_MS = 1_767_225_600_123; // 2026-01-01T00:00:00.123Z
const TTL = 120;

interface JweParts {
  header: string;
  encryptedKey: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

function splitJwe(token: string): JweParts {
  const parts = token.split('.');
  expect(parts).toHaveLength(5);
  for (const part of parts) expect(part).toMatch(/^[A-Za-z0-9_-]+$/);
  const [header, ek, iv, ct, tag] = parts;
  return {
    header,
    encryptedKey: Buffer.from(ek, 'base64url'),
    iv: Buffer.from(iv, 'base64url'),
    ciphertext: Buffer.from(ct, 'base64url'),
    tag: Buffer.from(tag, 'base64url'),
  };
}

function joinJwe(p: JweParts): string {
  return [p.header, p.encryptedKey, p.iv, p.ciphertext, p.tag].map((x) => (typeof x === 'string' ? x : x.toString('base64url'))).join('.');
}

/** RSA-OAEP key unwrap with the given OAEP hash. */
function unwrapCek(encryptedKey: Buffer, recipientKey: KeyObject, oaepHash = 'sha256'): Buffer {
  return privateDecrypt({ key: recipientKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, encryptedKey);
}

/** A256GCM decryption with the ASCII of the encoded protected header as AAD (RFC 7516 §5.2 step 14-16). */
function decryptContent(p: JweParts, cek: Buffer): string {
  const decipher = createDecipheriv('aes-256-gcm', cek, p.iv);
  decipher.setAAD(Buffer.from(p.header, 'ascii'));
  decipher.setAuthTag(p.tag);
  return Buffer.concat([decipher.update(p.ciphertext), decipher.final()]).toString('utf8');
}

/** The full by-hand opening: JWE → JWS → verified claims. */
function openWithNodeCrypto(token: string, recipientKey: KeyObject, brandPublicKey: KeyObject) {
  const p = splitJwe(token);
  const jweHeaderJson = Buffer.from(p.header, 'base64url').toString('utf8');
  const cek = unwrapCek(p.encryptedKey, recipientKey);
  const jws = decryptContent(p, cek);
  const jwsParts = jws.split('.');
  expect(jwsParts).toHaveLength(3);
  const [h, payload, sig] = jwsParts;
  const signature = Buffer.from(sig, 'base64url');
  const verified = cryptoVerify('sha256', Buffer.from(`${h}.${payload}`, 'ascii'), brandPublicKey, signature);
  return {
    parts: p,
    jweHeaderJson,
    cek,
    jws,
    jwsHeaderJson: Buffer.from(h, 'base64url').toString('utf8'),
    claims: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>,
    signingInput: `${h}.${payload}`,
    signature,
    verified,
  };
}

function flipBit(buf: Buffer, index = Math.floor(buf.length / 2), mask = 0x01): Buffer {
  const copy = Buffer.from(buf);
  copy[index] ^= mask;
  return copy;
}

async function setup() {
  const brand = await rsaKeyPair('brand');
  const recipient = await rsaKeyPair('recipient');
  const config = await resolveIAdvizeAuthOptions({
    issuer: ISSUER,
    signingKey: { pem: brand.privatePem },
    iadvizePublicKey: recipient.publicPem,
    tokenTtlSeconds: TTL,
    clock: () => NOW_MS,
  });
  return { service: new TokenService(config), brand, recipient, config };
}

describe('a TokenService token opened with node:crypto only', () => {
  it('has the exact JWE header, an OAEP-SHA-256 wrapped 256-bit CEK, and an A256GCM-encrypted RS256 JWS with the claims', async () => {
    const { service, brand, recipient } = await setup();
    const { token, expiresAt } = await service.createToken({ userId: 'customer-42' });
    const opened = openWithNodeCrypto(token, recipient.privateKey, brand.publicKey);

    // Protected header: exactly these members, in this order, nothing else.
    expect(opened.jweHeaderJson).toBe('{"alg":"RSA-OAEP-256","enc":"A256GCM","cty":"JWT"}');
    expect(JSON.parse(opened.jweHeaderJson)).toEqual({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT' });

    // Sizes: RSA-2048 wrapped key, 96-bit IV, 128-bit tag, 256-bit CEK; GCM adds no padding.
    expect(opened.parts.encryptedKey).toHaveLength(256);
    expect(opened.parts.iv).toHaveLength(12);
    expect(opened.parts.tag).toHaveLength(16);
    expect(opened.cek).toHaveLength(32);
    expect(opened.parts.ciphertext).toHaveLength(Buffer.byteLength(opened.jws, 'utf8'));

    // Inner JWS: RS256 (RSASSA-PKCS1-v1_5 SHA-256) by the brand's key.
    expect(opened.jwsHeaderJson).toBe('{"alg":"RS256"}');
    expect(opened.signature).toHaveLength(256);
    expect(opened.verified).toBe(true);

    // Claims: exactly the documented ones; exp = iat + ttl.
    const iat = Math.floor(NOW_MS / 1000);
    expect(opened.claims).toEqual({ 'https://iadvize.com/userId': 'customer-42', iss: ISSUER, iat, exp: iat + TTL });
    expect(expiresAt).toBe(iat + TTL);
  });

  it('carries visitor data as an object under https://iadvize.com/visitorData', async () => {
    const { service, brand, recipient } = await setup();
    const visitorData = { firstName: 'Zoë', email: 'zoe@example.com', city: 'Nantes' };
    const { token } = await service.createToken({ userId: 'user-é', visitorData });
    const opened = openWithNodeCrypto(token, recipient.privateKey, brand.publicKey);
    expect(opened.verified).toBe(true);
    expect(opened.claims['https://iadvize.com/userId']).toBe('user-é');
    expect(opened.claims['https://iadvize.com/visitorData']).toEqual(visitorData);
  });

  it('the JWS signature is PKCS#1 v1.5: it fails as PSS and with another key', async () => {
    const { service, brand, recipient } = await setup();
    const other = await rsaKeyPair('other-brand');
    const { token } = await service.createToken({ userId: 'u' });
    const { signingInput, signature } = openWithNodeCrypto(token, recipient.privateKey, brand.publicKey);
    const input = Buffer.from(signingInput, 'ascii');
    expect(cryptoVerify('sha256', input, { key: brand.publicKey, padding: constants.RSA_PKCS1_PADDING }, signature)).toBe(true);
    expect(cryptoVerify('sha256', input, { key: brand.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING }, signature)).toBe(false);
    expect(cryptoVerify('sha256', input, other.publicKey, signature)).toBe(false);
    expect(cryptoVerify('sha256', flipBit(input), brand.publicKey, signature)).toBe(false);
  });

  it('the CEK is wrapped with OAEP SHA-256: a SHA-1 OAEP unwrap and the wrong private key both fail', async () => {
    const { service, recipient } = await setup();
    const stranger = await rsaKeyPair('stranger');
    const { token } = await service.createToken({ userId: 'u' });
    const { encryptedKey } = splitJwe(token);
    expect(unwrapCek(encryptedKey, recipient.privateKey, 'sha256')).toHaveLength(32);
    expect(() => unwrapCek(encryptedKey, recipient.privateKey, 'sha1')).toThrow();
    expect(() => unwrapCek(encryptedKey, recipient.privateKey, 'sha512')).toThrow();
    expect(() => unwrapCek(encryptedKey, stranger.privateKey, 'sha256')).toThrow();
  });

  it('flipping one bit of the tag, ciphertext, IV, header or encrypted key makes decryption throw', async () => {
    const { service, brand, recipient } = await setup();
    const { token } = await service.createToken({ userId: 'u' });
    const good = splitJwe(token);
    const cek = unwrapCek(good.encryptedKey, recipient.privateKey);
    expect(() => decryptContent(good, cek)).not.toThrow();

    const headerBytes = Buffer.from(good.header, 'base64url');
    const tampered: Array<[string, JweParts]> = [
      ['tag', { ...good, tag: flipBit(good.tag) }],
      ['tag (last bit)', { ...good, tag: flipBit(good.tag, good.tag.length - 1, 0x80) }],
      ['ciphertext', { ...good, ciphertext: flipBit(good.ciphertext) }],
      ['ciphertext (first byte)', { ...good, ciphertext: flipBit(good.ciphertext, 0) }],
      ['iv', { ...good, iv: flipBit(good.iv) }],
      ['header', { ...good, header: flipBit(headerBytes).toString('base64url') }],
      ['header (cty case)', { ...good, header: Buffer.from('{"alg":"RSA-OAEP-256","enc":"A256GCM","cty":"jwt"}').toString('base64url') }],
    ];
    const outcome = (fn: () => unknown) => {
      try {
        fn();
        return 'accepted';
      } catch (e) {
        return (e as Error).message;
      }
    };
    for (const [name, parts] of tampered) {
      // GCM authentication fails (the name in the pair shows which case broke if one does not).
      expect([name, outcome(() => decryptContent(parts, cek))]).toEqual([name, expect.stringMatching(/unable to authenticate/i)]);
      // And the whole by-hand opening of the re-serialized token fails too.
      expect([name, outcome(() => openWithNodeCrypto(joinJwe(parts), recipient.privateKey, brand.publicKey))]).not.toEqual([name, 'accepted']);
    }
    // A flipped bit in the wrapped key breaks the OAEP unwrap.
    expect(() => unwrapCek(flipBit(good.encryptedKey), recipient.privateKey)).toThrow();
    expect(() => openWithNodeCrypto(joinJwe({ ...good, encryptedKey: flipBit(good.encryptedKey) }), recipient.privateKey, brand.publicKey)).toThrow();
  });

  it('every token has a fresh CEK and IV', async () => {
    const { service, brand, recipient } = await setup();
    const a = openWithNodeCrypto((await service.createToken({ userId: 'u' })).token, recipient.privateKey, brand.publicKey);
    const b = openWithNodeCrypto((await service.createToken({ userId: 'u' })).token, recipient.privateKey, brand.publicKey);
    expect(a.cek.equals(b.cek)).toBe(false);
    expect(a.parts.iv.equals(b.parts.iv)).toBe(false);
    // Same clock, same claims: the inner JWS is identical (RS256 is deterministic), only the encryption differs.
    expect(a.jws).toBe(b.jws);
    expect(a.parts.ciphertext.equals(b.parts.ciphertext)).toBe(false);
  });
});
