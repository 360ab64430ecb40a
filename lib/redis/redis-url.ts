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

/**
 * The URL as a message may show it: the password (or a user-info without a
 * colon, which may be one) replaced, everything else as given.
 * @internal
 */
export function urlForMessage(url: string): string {
  const scheme = url.indexOf('://');
  const at = url.lastIndexOf('@');
  if (scheme < 0 || at < scheme) return url;
  const userInfo = url.slice(scheme + 3, at);
  const colon = userInfo.indexOf(':');
  const shown = colon < 0 ? '<credentials hidden>' : `${userInfo.slice(0, colon)}:<password hidden>`;
  return `${url.slice(0, scheme + 3)}${shown}${url.slice(at)}`;
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
