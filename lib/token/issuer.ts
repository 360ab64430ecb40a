import { MAX_ECHOED_LENGTH, redactionVerdict, type RedactionVerdict } from '../redaction.js';

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
 * - not a secret pasted in the wrong option, as the redaction rule
 *   ({@link redactionVerdict}) recognises one: key material (a PEM, a JWK,
 *   base64), a known credential shape (an AWS secret, a JWT, a Vault or
 *   GitHub token…);
 * - an issuer that is not an absolute URL (`acme-chat`, `urn:…`) must also be
 *   something the redaction rule shows (not random-looking, no passphrase
 *   symbols), so such a value is never carried by every token. An `http(s)`
 *   URL without credentials is accepted even when a part of it looks random
 *   (a tenant GUID, an authorization server id, a percent-encoded path, a
 *   query): those are public ids.
 *
 * Returns the problem, prefixed `issuer:`, or `undefined`. The message never
 * contains the value.
 * @internal used by the options' startup validation.
 */
export function issuerProblem(issuer: unknown): string | undefined {
  if (issuer === undefined) return `issuer: is required; ${EXAMPLE}`;
  if (typeof issuer !== 'string' || issuer.trim() === '') return `issuer: must be a non-empty string; ${EXAMPLE}`;
  const verdict = redactionVerdict(issuer);
  if (verdict !== undefined && looksLikeSecret(verdict)) {
    return `issuer: looks like key material (a PEM, a JWK or a base64 key), not an issuer; keep keys in signingKey and ${EXAMPLE}`;
  }
  if (issuer.length > MAX_ISSUER_LENGTH) return `issuer: must be at most ${MAX_ISSUER_LENGTH} characters`;
  if (/[\s\p{Cc}\p{Cf}\p{Z}]/u.test(issuer)) return `issuer: must not contain whitespace, control or invisible characters (RFC 7519 StringOrURI); ${EXAMPLE}`;
  if (/\p{Cs}/u.test(issuer)) return 'issuer: must be well-formed Unicode (it holds a lone surrogate)';
  if (issuer.includes(':') && !(/^[A-Za-z][A-Za-z0-9+.-]*:/.test(issuer) && URL.canParse(issuer))) {
    return `issuer: contains ":" so it must be an absolute URI (RFC 7519 StringOrURI); ${EXAMPLE}`;
  }
  // Whatever else the redaction rule would hide: accepted in a URL (public ids), refused in a bare string.
  if (verdict !== undefined && !isHttpUrl(issuer)) {
    return `issuer: ${verdict.looksLike}, which the redaction rule hides from logs and doctor (every token carries the issuer); ${EXAMPLE}`;
  }
  return undefined;
}

/** A verdict meaning key material or a known credential shape (not a value that merely looks random, or a URL with a query). */
function looksLikeSecret(verdict: RedactionVerdict): boolean {
  if (verdict.category === 'key' || verdict.category === 'json') return true;
  return verdict.category === 'credential' && verdict.looksLike === 'looks like a credential';
}

/** An absolute `http:` / `https:` URL with a host and no credentials. */
function isHttpUrl(issuer: string): boolean {
  if (!/^https?:\/\//i.test(issuer) || !URL.canParse(issuer)) return false;
  const url = new URL(issuer);
  return url.host !== '' && url.username === '' && url.password === '';
}
