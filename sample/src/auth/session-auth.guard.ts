import { ForbiddenException, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { SessionStore, type SampleSession } from './session-store.service.js';
import { readCookie, SESSION_COOKIE_NAME } from './session-cookie.util.js';

/**
 * Header a cookie-authenticated request must carry (any non-empty value; the
 * page sends `X-Requested-With: fetch`). A cross-site page cannot add a custom
 * header without a CORS preflight, which this app never grants, so a forged
 * request riding on the victim's cookie is refused (CSRF protection).
 */
export const CSRF_HEADER = 'x-requested-with';

/** The signed-in principal the guard puts on `request.user`. */
export interface SampleRequestUser {
  /** The user's stable id. */
  readonly id: string;
  readonly username: string;
}

/** The parts of a request (Express or Fastify) the sample reads and writes. */
export interface SampleRequest {
  headers: IncomingHttpHeaders;
  /** Set by {@link SessionAuthGuard}. */
  user?: SampleRequestUser;
  /** Set by {@link SessionAuthGuard}. */
  sampleSession?: SampleSession;
}

/** How a request proved who it is. */
export interface RequestAuthentication {
  readonly session: SampleSession;
  readonly via: 'cookie' | 'bearer';
}

/**
 * Finds the session of a request: `Authorization: Bearer <token>` when that
 * header is present (an invalid bearer is never rescued by a cookie), else
 * the session cookie. `null` when neither is valid.
 */
export function authenticateRequest(request: SampleRequest, sessions: SessionStore): RequestAuthentication | null {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer[ ]+([A-Za-z0-9_-]{20,200})[ ]*$/i.exec(authorization);
    const session = match ? sessions.findByBearerToken(match[1]) : null;
    return session ? { session, via: 'bearer' } : null;
  }
  const sessionId = readCookie(request.headers.cookie, SESSION_COOKIE_NAME);
  const session = sessionId ? sessions.findBySessionId(sessionId) : null;
  return session ? { session, via: 'cookie' } : null;
}

/** `true` when a cookie-authenticated request carries the CSRF header. */
export function hasCsrfHeader(request: SampleRequest): boolean {
  const value = request.headers[CSRF_HEADER];
  return typeof value === 'string' && value.trim() !== '';
}

/** 401 body of the sample (same shape as the library's errors). */
export function unauthenticatedError(): UnauthorizedException {
  return new UnauthorizedException({
    statusCode: 401,
    error: 'Unauthorized',
    message: 'Sign in first: send the session cookie, or "Authorization: Bearer <token>" from POST /auth/login',
    code: 'SAMPLE_UNAUTHENTICATED',
  });
}

/** 403 body when a cookie-authenticated request lacks the CSRF header. */
export function csrfHeaderError(): ForbiddenException {
  return new ForbiddenException({
    statusCode: 403,
    error: 'Forbidden',
    message: 'Requests authenticated by the session cookie must send the "X-Requested-With" header (CSRF protection); add it to your fetch() call, or use the bearer token',
    code: 'SAMPLE_CSRF_HEADER_MISSING',
  });
}

/**
 * The sample's authentication guard: accepts the session cookie (browsers,
 * with the CSRF header) or a bearer token (mobile-style clients) and sets
 * `request.user = { id, username }` from the **server-side** session. Nothing
 * the client sends in a body or query string can change who the user is.
 *
 * It guards the app's own routes and, through the library's
 * `controller: { guards: [SessionAuthGuard] }` option, the iAdvize token endpoint.
 */
@Injectable()
export class SessionAuthGuard implements CanActivate {
  constructor(private readonly sessions: SessionStore) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<SampleRequest>();
    const auth = authenticateRequest(request, this.sessions);
    if (!auth) throw unauthenticatedError();
    if (auth.via === 'cookie' && !hasCsrfHeader(request)) throw csrfHeaderError();
    request.user = { id: auth.session.userId, username: auth.session.username };
    request.sampleSession = auth.session;
    return true;
  }
}
