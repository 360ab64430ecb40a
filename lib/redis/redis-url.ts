/**
 * The `url` option, read with the WHATWG URL parser before ioredis sees it:
 * the store hands ioredis host, port, credentials and database as options,
 * never the string (ioredis' legacy parser mis-reads an unencoded `#`, `/` or
 * `?` in a password, connects elsewhere without it, and Node's DEP0170
 * warning prints the URL in full).
 */

/** The connection options a `redis://` / `rediss://` URL gives. @internal */
export interface RedisUrlOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: Record<string, never>;
}

/** An environment variable left unexpanded where a port belongs (`${REDIS_PORT}`, `$REDIS_PORT`). */
const PLACEHOLDER = /^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$/;

/**
 * The URL as a message may show it: scheme, user name, host, a port that is a
 * number or an unexpanded variable, a database number; anything that may hold
 * a credential (the password, a user-info without a colon, another port,
 * another path, query, fragment) is replaced by what it is.
 * @internal
 */
export function urlForMessage(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme < 0) return '<not a URL>';
  let rest = url.slice(scheme + 3);
  let shown = url.slice(0, scheme + 3);
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    // The user name (before the first colon) is not a secret; everything after it may be the password.
    const userInfo = rest.slice(0, at);
    const colon = userInfo.indexOf(':');
    shown += colon < 0 ? '<credentials hidden>@' : `${userInfo.slice(0, colon)}:<password hidden>@`;
    rest = rest.slice(at + 1);
  }
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const tail = end < 0 ? '' : rest.slice(end);
  const colon = authority.lastIndexOf(':');
  const bracketed = authority.startsWith('[') && authority.lastIndexOf(']') > colon;
  if (colon < 0 || bracketed) {
    shown += authority;
  } else {
    const port = authority.slice(colon + 1);
    shown += `${authority.slice(0, colon)}:${/^\d{1,5}$/.test(port) || PLACEHOLDER.test(port) ? port : '<not a port: hidden>'}`;
  }
  const path = /^\/\d{0,4}(?=$|[?#])/.exec(tail)?.[0];
  if (path !== undefined) shown += path;
  else if (tail.startsWith('/')) shown += '/<path hidden>';
  const rest2 = path !== undefined ? tail.slice(path.length) : tail.replace(/^\/[^?#]*/, '');
  if (rest2.startsWith('?')) shown += '?<query hidden>';
  if (rest2.includes('#')) shown += '#<fragment hidden>';
  return shown;
}

const ENCODE_HINT = 'percent-encode reserved characters of the user name and password (encodeURIComponent: # is %23, / is %2F, ? is %3F, @ is %40, : is %3A)';

/**
 * Connection options from a Redis URL, or the problem with it (naming the URL
 * with its password hidden).
 * @internal
 */
export function parseRedisUrl(url: string): { options: RedisUrlOptions } | { problem: string } {
  const shown = urlForMessage(url);
  const refuse = (why: string) => ({ problem: `url: ${shown} ${why}` });
  // The WHATWG parser drops tabs and line breaks silently (a password "p\tw" would become "pw").
  if ([...url].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) return refuse('holds a control character (a tab or line break pasted with it?); remove it');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return refuse(`is not a valid URL: the port must be a number (was a variable left unexpanded?) and you may need to ${ENCODE_HINT}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') return refuse('must start with redis:// or rediss://');
  if (parsed.hash !== '' || url.includes('#')) return refuse(`is ambiguous: it holds a "#"; ${ENCODE_HINT}`);
  if (parsed.search !== '' || url.includes('?')) return refuse(`is ambiguous: it holds a "?"; ${ENCODE_HINT} (give connection options in redisOptions, not as a query)`);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') return refuse(`has no host; ${ENCODE_HINT}`);
  const db = parsed.pathname === '' || parsed.pathname === '/' ? undefined : /^\/(\d{1,4})$/.exec(parsed.pathname)?.[1];
  if (parsed.pathname !== '' && parsed.pathname !== '/' && db === undefined) return refuse(`has a path other than a database number (/0 to /9999); ${ENCODE_HINT}`);
  let username: string;
  let password: string;
  try {
    username = decodeURIComponent(parsed.username);
    password = decodeURIComponent(parsed.password);
  } catch {
    return refuse('has an invalid percent-encoding (a % not followed by two hex digits) in its user name or password');
  }
  const options: RedisUrlOptions = { host, port: parsed.port === '' ? 6379 : Number(parsed.port) };
  if (username !== '') options.username = username;
  if (password !== '') options.password = password;
  if (db !== undefined) options.db = Number(db);
  if (parsed.protocol === 'rediss:') options.tls = {};
  return { options };
}
