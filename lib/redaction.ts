/**
 * The redaction rule: the one function that decides whether a value taken from
 * configuration, the environment or the command line may be repeated in a
 * message (error, log line, `doctor` / `inspect` report), and otherwise
 * describes it without any of its content.
 *
 * A value is echoed only when it looks like what a message may name: a short,
 * single-line name, path, URL without credentials or number. Anything that
 * looks like key material (PEM of any kind, base64 or DER bodies, JWK or other
 * JSON, escaped line breaks), a credential (AWS secret access key, Vault token,
 * API key, JWT, long or high-entropy run), a passphrase (spaces, symbols,
 * letters and digits interleaved) or is long or multi-line is replaced by
 * `<redacted: what it looks like, N chars>`. When in doubt it redacts.
 */

/** What a refused value looks like; `key` and `json` mean key material may be in it. */
export type RedactionCategory = 'key' | 'json' | 'credential' | 'passphrase' | 'multi-line' | 'long' | 'object';

/** Why a value may not be echoed. */
export interface RedactionVerdict {
  /** The broad kind, e.g. to tell key material from a long path. */
  readonly category: RedactionCategory;
  /** What the value looks like, for messages, e.g. `looks like a PEM private key`. */
  readonly looksLike: string;
}

/** Longest value ever echoed (a path or URL longer than this is described instead). */
export const MAX_ECHOED_LENGTH = 160;

/** PEM armour in any form: `-----BEGIN X-----`, a lone `END` line, `Proc-Type`, label text. */
const PEM = /-{3,}\s*(?:BEGIN|END)\b|\b(?:BEGIN|END)\s+[A-Z0-9 ]*(?:KEY|CERTIFICATE)\b|PRIVATE\s+KEY|Proc-Type:|DEK-Info:/i;
/** JSON or a JS object literal, or a JWK member spelled out. */
const JSON_LIKE = /^\s*[[{]|["']?\bkty\b["']?\s*:|["'](?:d|p|q|dp|dq|qi|private_key|client_secret|secret|password|token)["']\s*:/i;
const PRIVATE_JWK_MEMBER = /["']?\b(?:d|p|q|dp|dq|qi)\b["']?\s*:/;
/** Prefixes and shapes of well-known credentials (anywhere in the value). */
const CREDENTIAL = new RegExp(
  [
    '\\bhv[sbr]\\.[A-Za-z0-9_-]{8,}', // Vault service / batch / recovery tokens
    '\\b[sbr]\\.[A-Za-z0-9]{20,}', // Vault legacy tokens
    '\\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{12,}', // AWS key ids
    '\\bAIza[0-9A-Za-z_-]{20,}', // Google API key
    '\\bya29\\.[0-9A-Za-z_-]{10,}', // Google OAuth access token
    '\\bgh[pousr]_[A-Za-z0-9]{20,}|\\bgithub_pat_', // GitHub
    '\\bglpat-[A-Za-z0-9_-]{10,}', // GitLab
    '\\bxox[abposr]-', // Slack
    '\\b(?:sk|rk|pk)_(?:live|test)_', // Stripe
    '\\bsk-[A-Za-z0-9_-]{16,}', // OpenAI-style keys
    '\\beyJ[A-Za-z0-9_-]{8,}', // JOSE / JWT (base64url JSON)
    '[A-Za-z0-9_-]{3,}~[A-Za-z0-9_.~-]{20,}', // Azure AD client secret
    '(?:AccountKey|SharedAccessKey|sig|secret|password|passwd|pwd|token|apikey|api_key|client_secret)=', // connection strings, signed URLs
  ].join('|'),
);
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** A Windows path: a drive (`C:\\`) or a UNC share (`\\\\server\\`). */
const WINDOWS_PATH = /^(?:[A-Za-z]:\\|\\\\)/;
const UUID_INSIDE = /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/g;

/** `true` when one segment (between separators) of a value looks random rather than like a word. */
function randomLooking(segment: string): boolean {
  if (segment.length >= 28) return true;
  // 20+ characters that are not one word (lowercase, UPPERCASE or camelCase).
  if (segment.length >= 20 && !/^(?:[a-z]+|[A-Z]+|[A-Za-z][a-z]+(?:[A-Z][a-z]+)*)$/.test(segment)) return true;
  const letters = segment.replace(/[^A-Za-z]/g, '').length;
  const digits = segment.replace(/[^0-9]/g, '').length;
  const others = segment.length - letters - digits;
  // base64 symbols inside a run of letters and digits (`+`, `=`, `~`).
  if (others > 0 && segment.length >= 12) return true;
  // Letters and digits interleaved (`Tr0ub4dor`, `a8f3c9e1d2`), or long and mixed.
  const switches = (segment.match(/[A-Za-z](?=[0-9])|[0-9](?=[A-Za-z])/g) ?? []).length;
  if (switches >= 3 && segment.length >= 8) return true;
  if (letters > 0 && digits > 0 && segment.length >= 16) return true;
  // Case changing at random (`wJalrXUtnFEMI`), unlike camelCase or CONSTANTS.
  const upper = segment.replace(/[^A-Z]/g, '').length;
  const caseChanges = (segment.match(/[a-z](?=[A-Z])|[A-Z](?=[a-z])/g) ?? []).length;
  if (segment.length >= 10 && upper / Math.max(letters, 1) > 0.25 && upper / Math.max(letters, 1) < 0.9 && caseChanges >= 4) return true;
  return false;
}

/**
 * `true` when the letters and digits of a whole value change class the way
 * random text does (lower to upper case, letter to digit and back) rather
 * than the way words, paths and camelCase names do.
 */
function randomOverall(text: string): boolean {
  const runs = text.match(/[A-Za-z0-9]+/g) ?? [];
  let pairs = 0;
  let changes = 0;
  for (const run of runs) {
    pairs += run.length - 1;
    changes += (run.match(/[a-z](?=[A-Z])|[A-Za-z](?=[0-9])|[0-9](?=[A-Za-z])/g) ?? []).length;
  }
  if (pairs >= 12 && changes / pairs >= 0.25) return true;
  // Upper and lower case mixed in proportions words never have.
  const letters = text.replace(/[^A-Za-z]/g, '');
  const upperShare = letters.replace(/[^A-Z]/g, '').length / Math.max(letters.length, 1);
  if (letters.length >= 16 && upperShare >= 0.35 && upperShare <= 0.8) return true;
  // One long token (no path or host separators) mixing upper case, lower case and digits.
  return text.length >= 24 && !/[/\\.:]/.test(text) && /[A-Z]/.test(text) && /[a-z]/.test(text) && /[0-9]/.test(text);
}

/** A verdict on a string, or `undefined` when it may be echoed. */
function judgeText(text: string): RedactionVerdict | undefined {
  if (PEM.test(text)) {
    const looksLike = /PRIVATE|ENCRYPTED|Proc-Type|DEK-Info/i.test(text)
      ? 'looks like a PEM private key'
      : /PUBLIC/i.test(text)
        ? 'looks like a PEM public key'
        : /CERTIFICATE/i.test(text)
          ? 'looks like a PEM certificate'
          : 'looks like PEM key material';
    return { category: 'key', looksLike };
  }
  if (JSON_LIKE.test(text)) {
    const looksLike = /["']?\bkty\b/.test(text)
      ? PRIVATE_JWK_MEMBER.test(text) ? 'looks like a private JWK' : 'looks like a JWK'
      : 'looks like JSON';
    return { category: 'json', looksLike };
  }
  if (/[\r\n]/.test(text)) return { category: 'multi-line', looksLike: `is multi-line (${text.split(/\r\n|\r|\n/).length} lines)` };
  // Escaped line breaks, except in a Windows path, whose `\\nick` or `\\repos` folders are folders.
  if (!WINDOWS_PATH.test(text) && (text.match(/\\[rn]/g) ?? []).length >= 2) return { category: 'key', looksLike: 'has escaped line breaks (like a pasted key)' };
  // Base64 / DER bodies: a long unbroken run of the base64 alphabets.
  const run = /[A-Za-z0-9+/_-]{64,}={0,2}/.exec(text)?.[0];
  if (run !== undefined && run.length / (run.split('/').length) >= 16) return { category: 'key', looksLike: 'looks like base64 key material or a credential' };
  if (text.length > MAX_ECHOED_LENGTH) return { category: 'long', looksLike: 'is too long to be a name or path' };
  if (/[\p{Cc}\p{Cf}\u2028\u2029]/u.test(text)) return { category: 'multi-line', looksLike: 'holds control characters' };
  if (CREDENTIAL.test(text)) return { category: 'credential', looksLike: 'looks like a credential' };
  if (/\s/.test(text)) return { category: 'passphrase', looksLike: 'holds spaces (like a passphrase)' };
  let rest = text;
  const url = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(text);
  if (url) {
    if (url[1].includes('@')) return { category: 'credential', looksLike: 'is a URL with credentials' };
    if (/[?#]/.test(text)) return { category: 'credential', looksLike: 'is a URL with a query (which may carry a credential)' };
    rest = text.slice(url[0].indexOf('//') + 2);
  }
  if (/[!"#$%&'()*,;<>?@[\]^`{|}]/.test(rest)) return { category: 'passphrase', looksLike: 'holds symbols (like a passphrase)' };
  if (UUID.test(text)) return undefined;
  // A UUID inside a value (a tenant id in a URL, `urn:uuid:…`) is an id, not random text.
  rest = rest.replace(UUID_INSIDE, 'uuid');
  const segments = rest.split(/[/\\.:_-]+/).filter(Boolean);
  // A file path (a separator and an extension) is judged by its segments only: a temp directory's random suffix is no secret.
  const filePath = /[/\\]/.test(rest) && /\.[A-Za-z0-9]{1,5}$/.test(rest);
  if (segments.some(randomLooking) || (!filePath && randomOverall(rest))) return { category: 'credential', looksLike: 'looks random (like a credential or passphrase)' };
  return undefined;
}

/**
 * Why `value` must not be echoed, or `undefined` when it may be. Strings
 * are judged as above; finite numbers, booleans, bigints, `null` and
 * `undefined` may be echoed; any other value (object, array, bytes, function)
 * is described by its type only.
 */
export function redactionVerdict(value: unknown): RedactionVerdict | undefined {
  if (value === null || value === undefined || typeof value === 'boolean' || typeof value === 'bigint') return undefined;
  if (typeof value === 'number') return undefined;
  if (typeof value === 'string') return judgeText(value);
  if (Buffer.isBuffer(value) || value instanceof Uint8Array || value instanceof ArrayBuffer) return { category: 'key', looksLike: 'is binary data' };
  if (typeof value === 'object' && value !== null && Object.prototype.hasOwnProperty.call(value, 'kty')) {
    return { category: 'json', looksLike: 'is a JWK object' };
  }
  return { category: 'object', looksLike: `is a value of type ${Array.isArray(value) ? 'array' : typeof value}` };
}

/** Length of a value for the description (strings and bytes only). */
function lengthNote(value: unknown): string {
  if (typeof value === 'string') return `, ${value.length} char${value.length === 1 ? '' : 's'}`;
  if (value instanceof Uint8Array) return `, ${value.length} bytes`;
  return '';
}

/**
 * The redaction rule: `value` as text when it may be echoed, otherwise a
 * description without any of its content, e.g.
 * `<redacted: looks like a PEM private key, 1704 chars>`. Every message that
 * repeats a value from configuration, the environment or the command line
 * goes through this function (or {@link quoteValue}).
 */
export function redact(value: unknown): string {
  const verdict = redactionVerdict(value);
  if (verdict === undefined) return typeof value === 'string' ? value : String(value);
  return `<redacted: ${verdict.looksLike.replace(/^is /, '')}${lengthNote(value)}>`;
}

/** Like {@link redact}, but a string that may be echoed is JSON-quoted (`"keys/brand.pem"`). */
export function quoteValue(value: unknown): string {
  return typeof value === 'string' && redactionVerdict(value) === undefined ? JSON.stringify(value) : redact(value);
}

/**
 * Quotes a name that locates a key (file path, environment variable, option
 * name, JWK `kty`, provider `alg`) for a message, through the redaction rule
 * ({@link quoteValue}): key material, credentials and long or multi-line
 * values are described, never repeated.
 */
export const quoteName: (value: unknown) => string = quoteValue;

/** `value` as text when the redaction rule lets it be echoed, else its description ({@link redact}). */
export const safeName: (value: unknown) => string = redact;

/** `true` when `value` may be echoed as is. */
export function mayEcho(value: unknown): boolean {
  return redactionVerdict(value) === undefined;
}

/**
 * Quotes an environment variable name for a message. A value that is no
 * variable name (typically the value pasted instead: a key, a passphrase) is
 * never repeated: it is described through {@link redact}, with a hint.
 */
export function quoteEnvName(value: unknown): string {
  if (typeof value === 'string' && /^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(value) && mayEcho(value)) return JSON.stringify(value);
  const what = typeof value === 'string' && mayEcho(value) ? JSON.stringify(value) : redact(value);
  return `${what} (not a variable name: give the name of the variable, not its value)`;
}

/**
 * `true` when `value` reads like a file path rather than key text: a short,
 * echoable value with a directory separator or a key-file extension. Used to
 * suggest the `*_FILE` variable or `{ file }` when a path was put where the
 * key itself belongs.
 */
export function looksLikePath(value: string): boolean {
  const v = value.trim();
  return mayEcho(v) && v.length > 0 && (/[/\\]/.test(v) || /\.(?:pem|key|der|p8|pk8|pkcs8|crt|pub|txt|json)$/i.test(v));
}
