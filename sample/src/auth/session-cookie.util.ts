/** Name of the sample's session cookie. */
export const SESSION_COOKIE_NAME = 'sample_session';

/** Reads one cookie from a `Cookie` request header; `undefined` when absent. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return value === '' ? undefined : value;
    }
  }
  return undefined;
}

/**
 * `Set-Cookie` value of the session cookie: HttpOnly (no script can read it),
 * SameSite=Lax (not sent on cross-site sub-requests such as a forged POST),
 * Path=/, and Secure when the app is served over HTTPS.
 */
export function sessionCookie(sessionId: string, maxAgeSeconds: number, secure: boolean): string {
  return [
    `${SESSION_COOKIE_NAME}=${sessionId}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Lax',
    `Max-Age=${maxAgeSeconds}`,
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

/** `Set-Cookie` value that deletes the session cookie. */
export function clearedSessionCookie(secure: boolean): string {
  return sessionCookie('', 0, secure) + '; Expires=Thu, 01 Jan 1970 00:00:00 GMT';
}
