/**
 * REFERENCE IMPLEMENTATION, NOT THE LIBRARY: the straightforward way to mint
 * an iAdvize token with jose 6 (`SignJWT` RS256, then `CompactEncrypt`
 * RSA-OAEP-256 / A256GCM), with keys imported once at startup as jose's
 * documentation recommends. The benchmark compares the library's engine with it.
 */
import { CompactEncrypt, SignJWT, importPKCS8, importSPKI } from 'jose';

/**
 * Builds the jose pipeline.
 * @param {{ privatePem: string, iadvizePublicPem: string, issuer: string, ttlSeconds: number }} options
 * @returns {Promise<(identity: { userId: string, visitorData?: Record<string, string> }) => Promise<string>>}
 */
export async function createJoseReference({ privatePem, iadvizePublicPem, issuer, ttlSeconds }) {
  const signingKey = await importPKCS8(privatePem, 'RS256');
  const encryptionKey = await importSPKI(iadvizePublicPem, 'RSA-OAEP-256');
  const encoder = new TextEncoder();
  return async function mintWithJose(identity) {
    const claims = { 'https://iadvize.com/userId': identity.userId };
    if (identity.visitorData) claims['https://iadvize.com/visitorData'] = identity.visitorData;
    const jws = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer(issuer)
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .sign(signingKey);
    return new CompactEncrypt(encoder.encode(jws))
      .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT' })
      .encrypt(encryptionKey);
  };
}
