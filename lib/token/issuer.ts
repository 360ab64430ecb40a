import { MAX_ECHOED_LENGTH } from '../redaction.js';

/**
 * Longest accepted `issuer`, in UTF-16 code units: the longest value the
 * redaction rule lets through, so the issuer can always be logged, shown by
 * `doctor` and carried in tokens.
 */
export const MAX_ISSUER_LENGTH = MAX_ECHOED_LENGTH;

const EXAMPLE = 'set it to your site\'s URL, e.g. "https://www.example.com"';

/**
 * Checks the `issuer` option: a reasonable StringOrURI (RFC 7519 §2), as it
 * becomes the `iss` claim of every token.
 * - a non-empty string of at most {@link MAX_ISSUER_LENGTH} characters;
 * - no whitespace, control or invisible format characters, well-formed Unicode;
 * - with a `:`, an absolute URI (RFC 7519: "any value containing a ':' MUST be a URI");
 * - not key material (a PEM, a JWK, a long base64 run) pasted in the wrong option.
 *
 * Returns the problem, prefixed `issuer:`, or `undefined`. The message never
 * contains the value.
 * @internal used by the options' startup validation.
 */
export function issuerProblem(issuer: unknown): string | undefined {
  if (issuer === undefined) return `issuer: is required; ${EXAMPLE}`;
  if (typeof issuer !== 'string' || issuer.trim() === '') return `issuer: must be a non-empty string; ${EXAMPLE}`;
  if (/-----(BEGIN|END)|"kty"|[A-Za-z0-9+/_=-]{100,}/.test(issuer)) {
    return `issuer: looks like key material (a PEM, a JWK or a base64 key), not an issuer; keep keys in signingKey and ${EXAMPLE}`;
  }
  if (issuer.length > MAX_ISSUER_LENGTH) return `issuer: must be at most ${MAX_ISSUER_LENGTH} characters`;
  if (/[\s\p{Cc}\p{Cf}\p{Z}]/u.test(issuer)) return `issuer: must not contain whitespace, control or invisible characters (RFC 7519 StringOrURI); ${EXAMPLE}`;
  if (/\p{Cs}/u.test(issuer)) return 'issuer: must be well-formed Unicode (it holds a lone surrogate)';
  if (issuer.includes(':') && !(/^[A-Za-z][A-Za-z0-9+.-]*:/.test(issuer) && URL.canParse(issuer))) {
    return `issuer: contains ":" so it must be an absolute URI (RFC 7519 StringOrURI); ${EXAMPLE}`;
  }
  return undefined;
}
