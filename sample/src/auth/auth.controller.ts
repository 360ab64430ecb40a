import {
  BadRequestException,
  Body,
  Controller,
  Get,
  Header,
  HttpCode,
  HttpStatus,
  Inject,
  Post,
  Req,
  Res,
  UnauthorizedException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { SAMPLE_CONFIG, type SampleConfig } from '../sample.config.js';
import { UserStore } from '../users/user-store.service.js';
import { SessionStore } from './session-store.service.js';
import { clearedSessionCookie, readCookie, sessionCookie, SESSION_COOKIE_NAME } from './session-cookie.util.js';
import { authenticateRequest, csrfHeaderError, hasCsrfHeader, type SampleRequest } from './session-auth.guard.js';

/** Body of `POST /auth/login`. */
interface LoginBody {
  username?: unknown;
  password?: unknown;
}

/** `true` for `application/json`, with or without parameters (`; charset=utf-8`), in any letter case. */
function isJsonContentType(header: string | string[] | undefined): boolean {
  if (typeof header !== 'string') return false;
  return header.split(';', 1)[0].trim().toLowerCase() === 'application/json';
}

/** Public profile of the signed-in user, as the page shows it. */
export interface ProfileResponse {
  username: string;
  firstName: string;
  lastName: string;
}

/** Response of `POST /auth/login`. */
export interface LoginResponse {
  user: ProfileResponse;
  /** For mobile-style clients: send it as `Authorization: Bearer <bearerToken>`. Browsers use the cookie. */
  bearerToken: string;
  tokenType: 'Bearer';
  /** Epoch seconds when the session (cookie and bearer token) ends. */
  expiresAt: number;
}

/**
 * The sample's sign-in: `POST /auth/login`, `POST /auth/logout`, `GET /auth/me`.
 * Stands in for whatever authentication your app already has.
 */
@Controller('auth')
export class AuthController {
  constructor(
    private readonly users: UserStore,
    private readonly sessions: SessionStore,
    private readonly adapterHost: HttpAdapterHost,
    @Inject(SAMPLE_CONFIG) private readonly config: SampleConfig,
  ) {}

  /**
   * Checks `{ "username", "password" }` (JSON), opens a session, sets the
   * HttpOnly session cookie and returns a bearer token for mobile-style clients.
   * Only `Content-Type: application/json` is accepted (415 otherwise: a
   * cross-site HTML form can send urlencoded, multipart or text bodies, never
   * JSON). Wrong credentials: 401, without saying which of the two was wrong.
   */
  @Post('login')
  @HttpCode(HttpStatus.OK)
  @Header('Cache-Control', 'no-store')
  async login(@Body() body: LoginBody | undefined, @Req() request: SampleRequest, @Res({ passthrough: true }) response: unknown): Promise<LoginResponse> {
    if (!isJsonContentType(request.headers['content-type'])) {
      throw new UnsupportedMediaTypeException({
        statusCode: 415,
        error: 'Unsupported Media Type',
        message: 'Send the credentials as JSON, with Content-Type: application/json',
        code: 'SAMPLE_UNSUPPORTED_MEDIA_TYPE',
      });
    }
    const { username, password } = body ?? {};
    if (typeof username !== 'string' || typeof password !== 'string' || username.length > 200 || password.length > 1024) {
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: 'Send JSON {"username": "...", "password": "..."} with Content-Type: application/json',
        code: 'SAMPLE_BAD_LOGIN_REQUEST',
      });
    }
    const user = await this.users.verifyCredentials(username, password);
    if (!user) {
      throw new UnauthorizedException({ statusCode: 401, error: 'Unauthorized', message: 'Wrong username or password', code: 'SAMPLE_BAD_CREDENTIALS' });
    }
    // A new sign-in replaces the browser's previous session (no session fixation).
    const previousId = readCookie(request.headers.cookie, SESSION_COOKIE_NAME);
    const previous = previousId ? this.sessions.findBySessionId(previousId) : null;
    if (previous) this.sessions.destroy(previous);

    const { session, sessionId, bearerToken } = this.sessions.create(user);
    this.adapterHost.httpAdapter.setHeader(response, 'Set-Cookie', sessionCookie(sessionId, this.config.sessionTtlSeconds, this.config.secureCookie));
    return {
      user: { username: user.username, firstName: user.firstName, lastName: user.lastName },
      bearerToken,
      tokenType: 'Bearer',
      expiresAt: Math.floor(session.expiresAt / 1000),
    };
  }

  /**
   * Ends the session of the cookie or bearer token (both stop working) and
   * deletes the cookie. Always 204, signed in or not; a cookie-authenticated
   * call needs the CSRF header like every other one.
   */
  @Post('logout')
  @HttpCode(HttpStatus.NO_CONTENT)
  @Header('Cache-Control', 'no-store')
  logout(@Req() request: SampleRequest, @Res({ passthrough: true }) response: unknown): void {
    const auth = authenticateRequest(request, this.sessions);
    if (auth?.via === 'cookie' && !hasCsrfHeader(request)) throw csrfHeaderError();
    if (auth) this.sessions.destroy(auth.session);
    this.adapterHost.httpAdapter.setHeader(response, 'Set-Cookie', clearedSessionCookie(this.config.secureCookie));
  }

  /**
   * The signed-in user's profile, or `204 No Content` when nobody is signed in
   * (the page calls it on every load: being signed out is not an error, so it
   * is not a 4xx the browser would log as one). A session whose account no
   * longer exists: 401. A cookie-authenticated call needs the CSRF header.
   */
  @Get('me')
  @Header('Cache-Control', 'no-store')
  me(@Req() request: SampleRequest, @Res({ passthrough: true }) response: unknown): ProfileResponse | undefined {
    const auth = authenticateRequest(request, this.sessions);
    if (!auth) {
      this.adapterHost.httpAdapter.status(response, HttpStatus.NO_CONTENT);
      return undefined;
    }
    if (auth.via === 'cookie' && !hasCsrfHeader(request)) throw csrfHeaderError();
    const user = this.users.findById(auth.session.userId);
    if (!user) throw new UnauthorizedException({ statusCode: 401, error: 'Unauthorized', message: 'This account no longer exists', code: 'SAMPLE_UNAUTHENTICATED' });
    return { username: user.username, firstName: user.firstName, lastName: user.lastName };
  }
}
