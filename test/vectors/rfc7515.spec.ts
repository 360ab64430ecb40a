/**
 * Published RS256 test vectors, checked against our own signing path
 * (PemKeyProvider + the compact helpers), not against jose.
 *
 * RSASSA-PKCS1-v1_5 is deterministic: the same key and signing input give the
 * same signature, byte for byte, so these vectors pin our output exactly.
 *
 * The private keys below are the RFCs' published example keys (RFC 7515
 * Appendix A.2.1 and RFC 7520 §3.4), not secrets. They are kept as JWK objects.
 */
import { createPublicKey, verify as cryptoVerify, type JsonWebKey } from 'node:crypto';
import { PemKeyProvider } from '../../lib/keys/local-key.provider.js';
import { b64url, jwsSigningInput, JWS_HEADER_B64 } from '../../lib/token/compact.js';

/** RFC 7515 Appendix A.2.1: the example RSA key (n, e, d, p, q, dp, dq, qi). */
const RFC7515_A2_JWK: JsonWebKey = {
  kty: 'RSA',
  n:
    'ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx' +
    'HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs' +
    'D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH' +
    'SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV' +
    'MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8' +
    'NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ',
  e: 'AQAB',
  d:
    'Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97I' +
    'jlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0' +
    'BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn' +
    '439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYT' +
    'CBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLh' +
    'BOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ',
  p:
    '4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdi' +
    'YrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPG' +
    'BY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc',
  q:
    'uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxa' +
    'ewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA' +
    '-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc',
  dp:
    'BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3Q' +
    'CLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb' +
    '34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0',
  dq:
    'h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7' +
    'I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-kyN' +
    'lxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU',
  qi:
    'IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy' +
    '26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW' +
    '0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U',
};

/** RFC 7515 A.2.1: JWS Protected Header and its BASE64URL(UTF8(...)). */
const RFC7515_A2_HEADER = '{"alg":"RS256"}';
const RFC7515_A2_HEADER_B64 = 'eyJhbGciOiJSUzI1NiJ9';
/** RFC 7515 A.1.1 / A.2.1: the JWS Payload (CRLF line breaks inside the JSON) and its base64url. */
const RFC7515_PAYLOAD = '{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}';
const RFC7515_PAYLOAD_B64 = 'eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ';
/** RFC 7515 A.2.1: the JWS Signing Input as the octet sequence the RFC lists. */
const RFC7515_A2_SIGNING_INPUT_OCTETS = [
  101, 121, 74, 104, 98, 71, 99, 105, 79, 105, 74, 83, 85, 122, 73, 49, 78, 105, 74, 57, 46, 101, 121, 74, 112, 99, 51, 77, 105, 79,
  105, 74, 113, 98, 50, 85, 105, 76, 65, 48, 75, 73, 67, 74, 108, 101, 72, 65, 105, 79, 106, 69, 122, 77, 68, 65, 52, 77, 84, 107,
  122, 79, 68, 65, 115, 68, 81, 111, 103, 73, 109, 104, 48, 100, 72, 65, 54, 76, 121, 57, 108, 101, 71, 70, 116, 99, 71, 120, 108,
  76, 109, 78, 118, 98, 83, 57, 112, 99, 49, 57, 121, 98, 50, 57, 48, 73, 106, 112, 48, 99, 110, 86, 108, 102, 81,
];
/** RFC 7515 A.2.1: the signature octets, as the RFC lists them. */
const RFC7515_A2_SIGNATURE_OCTETS = [
  112, 46, 33, 137, 67, 232, 143, 209, 30, 181, 216, 45, 191, 120, 69, 243, 65, 6, 174, 27, 129, 255, 247, 115, 17, 22, 173, 209,
  113, 125, 131, 101, 109, 66, 10, 253, 60, 150, 238, 221, 115, 162, 102, 62, 81, 102, 104, 123, 0, 11, 135, 34, 110, 1, 135, 237,
  16, 115, 249, 69, 229, 130, 173, 252, 239, 22, 216, 90, 121, 142, 232, 198, 109, 219, 61, 184, 151, 91, 23, 208, 148, 2, 190, 237,
  213, 217, 217, 112, 7, 16, 141, 178, 129, 96, 213, 248, 4, 12, 167, 68, 87, 98, 184, 31, 190, 127, 249, 217, 46, 10, 231, 111, 36,
  242, 91, 51, 187, 230, 244, 74, 230, 30, 177, 4, 10, 203, 32, 4, 77, 62, 249, 18, 142, 212, 1, 48, 121, 91, 212, 189, 59, 65, 238,
  202, 208, 102, 171, 101, 25, 129, 253, 228, 141, 247, 127, 55, 45, 195, 139, 159, 175, 221, 59, 239, 177, 139, 93, 163, 204, 60,
  46, 176, 47, 158, 58, 65, 214, 18, 202, 173, 21, 145, 18, 115, 160, 95, 35, 185, 232, 56, 250, 175, 132, 157, 105, 132, 41, 239,
  90, 30, 136, 121, 130, 54, 195, 212, 14, 96, 69, 34, 165, 68, 200, 242, 122, 122, 45, 184, 6, 99, 209, 108, 247, 202, 234, 86, 222,
  64, 92, 178, 33, 90, 69, 178, 194, 85, 102, 181, 90, 193, 167, 72, 160, 112, 223, 200, 163, 42, 70, 149, 67, 208, 25, 238, 251, 71,
];
/** RFC 7515 A.2.1: BASE64URL(JWS Signature). */
const RFC7515_A2_SIGNATURE_B64 =
  'cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7' +
  'AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4' +
  'BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K' +
  '0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv' +
  'hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB' +
  'p0igcN_IoypGlUPQGe77Rw';
/** RFC 7515 A.2.1: the complete JWS Compact Serialization. */
const RFC7515_A2_COMPACT =
  'eyJhbGciOiJSUzI1NiJ9' +
  '.' +
  'eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt' +
  'cGxlLmNvbS9pc19yb290Ijp0cnVlfQ' +
  '.' +
  'cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7' +
  'AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4' +
  'BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K' +
  '0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv' +
  'hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB' +
  'p0igcN_IoypGlUPQGe77Rw';

/** RFC 7520 §3.4: Bilbo Baggins' RSA key (also the key of §4.1). */
const RFC7520_BILBO_JWK: JsonWebKey = {
  kty: 'RSA',
  kid: 'bilbo.baggins@hobbiton.example',
  use: 'sig',
  n:
    'n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqVwGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuCLqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5gHdrNP5zw',
  e: 'AQAB',
  d:
    'bWUC9B-EFRIo8kpGfh0ZuyGPvMNKvYWNtB_ikiH9k20eT-O1q_I78eiZkpXxXQ0UTEs2LsNRS-8uJbvQ-A1irkwMSMkK1J3XTGgdrhCku9gRldY7sNA_AKZGh-Q661_42rINLRCe8W-nZ34ui_qOfkLnK9QWDDqpaIsA-bMwWWSDFu2MUBYwkHTMEzLYGqOe04noqeq1hExBTHBOBdkMXiuFhUq1BU6l-DqEiWxqg82sXt2h-LMnT3046AOYJoRioz75tSUQfGCshWTBnP5uDjd18kKhyv07lhfSJdrPdM5Plyl21hsFf4L_mHCuoFau7gdsPfHPxxjVOcOpBrQzwQ',
  p:
    '3Slxg_DwTXJcb6095RoXygQCAZ5RnAvZlno1yhHtnUex_fp7AZ_9nRaO7HX_-SFfGQeutao2TDjDAWU4Vupk8rw9JR0AzZ0N2fvuIAmr_WCsmGpeNqQnev1T7IyEsnh8UMt-n5CafhkikzhEsrmndH6LxOrvRJlsPp6Zv8bUq0k',
  q:
    'uKE2dh-cTf6ERF4k4e_jy78GfPYUIaUyoSSJuBzp3Cubk3OCqs6grT8bR_cu0Dm1MZwWmtdqDyI95HrUeq3MP15vMMON8lHTeZu2lmKvwqW7anV5UzhM1iZ7z4yMkuUwFWoBvyY898EXvRD-hdqRxHlSqAZ192zB3pVFJ0s7pFc',
  dp:
    'B8PVvXkvJrj2L-GYQ7v3y9r6Kw5g9SahXBwsWUzp19TVlgI-YV85q1NIb1rxQtD-IsXXR3-TanevuRPRt5OBOdiMGQp8pbt26gljYfKU_E9xn-RULHz0-ed9E9gXLKD4VGngpz-PfQ_q29pk5xWHoJp009Qf1HvChixRX59ehik',
  dq:
    'CLDmDGduhylc9o7r84rEUVn7pzQ6PF83Y-iBZx5NT-TpnOZKF1pErAMVeKzFEl41DlHHqqBLSM0W1sOFbwTxYWZDm6sI6og5iTbwQGIC3gnJKbi_7k_vJgGHwHxgPaX2PnvP-zyEkDERuf-ry4c_Z11Cq9AqC2yeL6kdKT1cYF8',
  qi:
    '3PiqvXQN0zwMeE-sBvZgi289XP9XCQF3VWqPzMKnIgQp7_Tugo6-NZBKCQsMf3HaEGBjTVJs_jcK8-TRXvaKe-7ZMaQj8VfBdYkssbu0NKDDhjJ-GtiseaDVWt7dcH0cfwxgFUHpQh7FoCrjFJ6h6ZEpMF6xmujs4qMpPz8aaI4',
};

/** RFC 7520 §4.1.1: the payload (note the U+2019 apostrophes in "It’s" and "there’s"). */
const RFC7520_PAYLOAD =
  'It\u2019s a dangerous business, Frodo, going out your door. You step onto the road, and if you don\'t keep your feet, there\u2019s no knowing where you might be swept off to.';
const RFC7520_PAYLOAD_B64 =
  'SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4';
/** RFC 7520 §4.1.3: the JWS Protected Header, as RFC 7520 serializes it, and its base64url. */
const RFC7520_4_1_HEADER = { alg: 'RS256', kid: 'bilbo.baggins@hobbiton.example' };
const RFC7520_4_1_HEADER_B64 = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9';
/** RFC 7520 §4.1.3: the signature. */
const RFC7520_4_1_SIGNATURE_B64 =
  'MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmKZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDkoBwA78185hX-Es4JIwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8wW1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluPxUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_fcIe8u9ipH84ogoree7vjbU5y18kDquDg';
/** RFC 7520 §4.1.4: the compact serialization. */
const RFC7520_4_1_COMPACT = `${RFC7520_4_1_HEADER_B64}.${RFC7520_PAYLOAD_B64}.${RFC7520_4_1_SIGNATURE_B64}`;

const ascii = (s: string) => new Uint8Array(Buffer.from(s, 'ascii'));

describe('RFC 7515 Appendix A.2 (RS256)', () => {
  it('our JWS header constant and b64url reproduce the RFC header and payload encodings', () => {
    expect(JWS_HEADER_B64).toBe(RFC7515_A2_HEADER_B64);
    expect(b64url(RFC7515_A2_HEADER)).toBe(RFC7515_A2_HEADER_B64);
    expect(b64url(JSON.stringify({ alg: 'RS256' }))).toBe(RFC7515_A2_HEADER_B64);
    // UTF-8 string and raw bytes go through the same encoder.
    expect(b64url(RFC7515_PAYLOAD)).toBe(RFC7515_PAYLOAD_B64);
    expect(b64url(new Uint8Array(Buffer.from(RFC7515_PAYLOAD, 'utf8')))).toBe(RFC7515_PAYLOAD_B64);
    // A Uint8Array view into a larger buffer is encoded over its own bytes only.
    const padded = Buffer.concat([Buffer.from('xx'), Buffer.from(RFC7515_PAYLOAD), Buffer.from('yy')]);
    expect(b64url(padded.subarray(2, padded.length - 2))).toBe(RFC7515_PAYLOAD_B64);
  });

  it('the signing input built from our header is the RFC octet sequence', () => {
    const signingInput = `${JWS_HEADER_B64}.${RFC7515_PAYLOAD_B64}`;
    expect([...ascii(signingInput)]).toEqual(RFC7515_A2_SIGNING_INPUT_OCTETS);
    // jwsSigningInput serializes an object compactly (no CRLF), so only its header part can match the RFC;
    // its payload part must still decode to the same claims.
    const ours = jwsSigningInput(JSON.parse(RFC7515_PAYLOAD) as object);
    expect(ours.startsWith(`${RFC7515_A2_HEADER_B64}.`)).toBe(true);
    expect(ours.split('.')).toHaveLength(2);
    expect(JSON.parse(Buffer.from(ours.split('.')[1], 'base64url').toString('utf8'))).toEqual(JSON.parse(RFC7515_PAYLOAD));
    expect(jwsSigningInput(JSON.parse(RFC7515_PAYLOAD) as object, RFC7515_A2_HEADER_B64)).toBe(ours);
  });

  it('the RFC signature octets and base64url agree (b64url over binary data)', () => {
    expect(b64url(new Uint8Array(RFC7515_A2_SIGNATURE_OCTETS))).toBe(RFC7515_A2_SIGNATURE_B64);
    expect(RFC7515_A2_SIGNATURE_OCTETS).toHaveLength(256);
  });

  it('PemKeyProvider({ jwk }) signs the RFC signing input to the RFC signature, byte for byte', async () => {
    const provider = new PemKeyProvider({ jwk: RFC7515_A2_JWK });
    await provider.init();
    const signingInput = `${JWS_HEADER_B64}.${RFC7515_PAYLOAD_B64}`;
    const signature = await provider.sign(ascii(signingInput));
    expect(Buffer.from(signature).equals(Buffer.from(RFC7515_A2_SIGNATURE_OCTETS))).toBe(true);
    expect(b64url(signature)).toBe(RFC7515_A2_SIGNATURE_B64);
    // The whole compact JWS, assembled as TokenService assembles it.
    expect(`${signingInput}.${b64url(signature)}`).toBe(RFC7515_A2_COMPACT);
    // Deterministic: a second signature is identical.
    expect(b64url(await provider.sign(ascii(signingInput)))).toBe(RFC7515_A2_SIGNATURE_B64);
  });

  it('the provider exposes the RFC public key, which verifies the RFC signature and nothing else', async () => {
    const provider = new PemKeyProvider({ jwk: RFC7515_A2_JWK });
    const publicKey = await provider.getPublicKey();
    expect(publicKey.type).toBe('public');
    const { n, e } = publicKey.export({ format: 'jwk' });
    expect(n).toBe(RFC7515_A2_JWK.n);
    expect(e).toBe(RFC7515_A2_JWK.e);
    const rfcPublic = createPublicKey({ key: { kty: 'RSA', n: RFC7515_A2_JWK.n, e: RFC7515_A2_JWK.e }, format: 'jwk' });
    const [h, p, s] = RFC7515_A2_COMPACT.split('.');
    expect(cryptoVerify('sha256', ascii(`${h}.${p}`), rfcPublic, Buffer.from(s, 'base64url'))).toBe(true);
    // A different payload (compact JSON instead of the RFC's CRLF JSON) does not verify with the RFC signature.
    const other = jwsSigningInput(JSON.parse(RFC7515_PAYLOAD) as object);
    expect(cryptoVerify('sha256', ascii(other), rfcPublic, Buffer.from(s, 'base64url'))).toBe(false);
  });
});

describe('RFC 7520 §4.1 (RSA v1.5 signature, RS256)', () => {
  it('b64url reproduces the RFC protected header and the UTF-8 payload encoding', () => {
    expect(b64url(JSON.stringify(RFC7520_4_1_HEADER))).toBe(RFC7520_4_1_HEADER_B64);
    expect(b64url(RFC7520_PAYLOAD)).toBe(RFC7520_PAYLOAD_B64);
    // The apostrophes are U+2019 (3 UTF-8 bytes each), not ASCII quotes.
    expect(Buffer.from(RFC7520_PAYLOAD_B64, 'base64url').toString('utf8')).toBe(RFC7520_PAYLOAD);
  });

  it('PemKeyProvider({ jwk }) signs the RFC signing input to the RFC signature, byte for byte', async () => {
    const provider = new PemKeyProvider({ jwk: RFC7520_BILBO_JWK });
    await provider.init();
    const signingInput = `${RFC7520_4_1_HEADER_B64}.${b64url(RFC7520_PAYLOAD)}`;
    const signature = await provider.sign(ascii(signingInput));
    expect(signature).toHaveLength(256);
    expect(b64url(signature)).toBe(RFC7520_4_1_SIGNATURE_B64);
    expect(`${signingInput}.${b64url(signature)}`).toBe(RFC7520_4_1_COMPACT);
  });

  it('the two RFC keys are different: the A.2 key does not produce the §4.1 signature', async () => {
    const signingInput = `${RFC7520_4_1_HEADER_B64}.${RFC7520_PAYLOAD_B64}`;
    const signature = await new PemKeyProvider({ jwk: RFC7515_A2_JWK }).sign(ascii(signingInput));
    expect(b64url(signature)).not.toBe(RFC7520_4_1_SIGNATURE_B64);
    const bilboPublic = await new PemKeyProvider({ jwk: RFC7520_BILBO_JWK }).getPublicKey();
    expect(cryptoVerify('sha256', ascii(signingInput), bilboPublic, Buffer.from(RFC7520_4_1_SIGNATURE_B64, 'base64url'))).toBe(true);
    expect(cryptoVerify('sha256', ascii(signingInput), bilboPublic, signature)).toBe(false);
  });
});
