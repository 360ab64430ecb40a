/**
 * REFERENCE IMPLEMENTATION, NOT THE LIBRARY: the older stack many projects
 * still use: jsonwebtoken signs RS256 (synchronously, on the event loop),
 * node-jose encrypts the JWE (RSA-OAEP-256 / A256GCM). Keys are loaded once
 * (a `KeyObject` for jsonwebtoken, a node-jose JWK for the recipient), which
 * is the most favourable setup for this stack.
 */
import { createPrivateKey } from 'node:crypto';
import jwt from 'jsonwebtoken';
import nodeJose from 'node-jose';

/**
 * Builds the jsonwebtoken + node-jose pipeline.
 * @param {{ privatePem: string, iadvizePublicPem: string, issuer: string, ttlSeconds: number }} options
 * @returns {Promise<(identity: { userId: string, visitorData?: Record<string, string> }) => Promise<string>>}
 */
export async function createJsonwebtokenNodeJoseReference({ privatePem, iadvizePublicPem, issuer, ttlSeconds }) {
  const signingKey = createPrivateKey(privatePem);
  const recipient = await nodeJose.JWK.asKey(iadvizePublicPem, 'pem');
  return async function mintWithJsonwebtokenAndNodeJose(identity) {
    const claims = { 'https://iadvize.com/userId': identity.userId };
    if (identity.visitorData) claims['https://iadvize.com/visitorData'] = identity.visitorData;
    const jws = jwt.sign(claims, signingKey, { algorithm: 'RS256', issuer, expiresIn: ttlSeconds, noTimestamp: false });
    return nodeJose.JWE.createEncrypt(
      { format: 'compact', contentAlg: 'A256GCM', fields: { cty: 'JWT' } },
      { key: recipient, header: { alg: 'RSA-OAEP-256' } },
    )
      .update(jws, 'utf8')
      .final();
  };
}
