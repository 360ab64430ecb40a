import { Catch, HttpException, HttpStatus, Injectable, Logger, Optional, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { IAdvizeAuthError, IAdvizeErrorCode, InvalidIdentityError, SignatureMismatchError, SigningUnavailableError, UnauthenticatedError } from '../errors.js';
import { IAdvizeAuthEvents } from '../events/iadvize-auth-events.service.js';
import { IAdvizeHttpException, type IAdvizeErrorBody } from './http-errors.js';

/** Fixed messages for errors raised in front of the endpoint: nothing the app or client wrote is echoed. */
const FOREIGN: Partial<Record<number, { code: string; message: string }>> = {
  [HttpStatus.UNAUTHORIZED]: { code: IAdvizeErrorCode.Unauthenticated, message: 'Sign in to get an iAdvize token' },
  [HttpStatus.FORBIDDEN]: { code: IAdvizeErrorCode.Forbidden, message: 'This user may not get an iAdvize token' },
  [HttpStatus.TOO_MANY_REQUESTS]: { code: IAdvizeErrorCode.RateLimited, message: 'Too many token requests; retry later' },
};

const UNAVAILABLE = 'Token signing is temporarily unavailable; retry later';

/** An error response: status, body and extra headers. */
interface ErrorReply {
  body: IAdvizeErrorBody;
  headers: Record<string, string>;
}

function reply(status: HttpStatus, error: string, message: string, code: string, headers: Record<string, string> = {}): ErrorReply {
  return { body: { statusCode: status, error, message, code }, headers: { 'Cache-Control': 'no-store', ...headers } };
}

/**
 * Turns every error of a token endpoint into the JSON body
 * `{ statusCode, error, message, code }` with a stable `code`, and logs one
 * line per failure with that code (never a stack, a key or a token):
 *
 * | error | status | code |
 * |---|---|---|
 * | nobody signed in (the identity guard, or your guard's `UnauthorizedException`) | 401 | `IADVIZE_UNAUTHENTICATED` |
 * | your guard's `ForbiddenException` | 403 | `IADVIZE_FORBIDDEN` |
 * | a rate limiter (`@nestjs/throttler`) | 429 | `IADVIZE_RATE_LIMITED` |
 * | `InvalidIdentityError` (the resolver returned an identity iAdvize would refuse) | 422 | `IADVIZE_INVALID_IDENTITY` |
 * | `SigningUnavailableError`, `SignatureMismatchError`, other library errors | 503 + `Retry-After` | `IADVIZE_SIGNING_UNAVAILABLE` / `IADVIZE_SIGNATURE_MISMATCH` |
 * | anything else (e.g. a `UserResolver` that threw) | 500 | `IADVIZE_INTERNAL_ERROR` |
 *
 * The built-in controller uses it. Put it on your own controller around
 * {@link TokenService} with `@UseFilters(IAdvizeExceptionFilter)` (the module
 * provides it). Headers set before the error (e.g. the throttler's
 * `Retry-After`) are kept, and so is an `HttpException` body your own guard
 * built with a string `code` and `message`.
 */
@Catch()
@Injectable()
export class IAdvizeExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('IAdvizeTokenEndpoint');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Optional() private readonly events?: IAdvizeAuthEvents,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const { body, headers } = this.toReply(exception);
    const http = this.adapterHost.httpAdapter;
    const response: unknown = host.switchToHttp().getResponse();
    for (const [name, value] of Object.entries(headers)) http.setHeader(response, name, value);
    http.reply(response, body, body.statusCode);
  }

  /** Maps an error to its reply and logs it. Override to change the mapping. */
  protected toReply(e: unknown): ErrorReply {
    if (e instanceof IAdvizeHttpException) return { body: e.getResponse() as IAdvizeErrorBody, headers: { 'Cache-Control': 'no-store' } };
    if (e instanceof UnauthenticatedError) return this.foreign(HttpStatus.UNAUTHORIZED);
    if (e instanceof InvalidIdentityError) {
      this.logger.warn(`${e.code}: the user resolver returned an identity iAdvize would refuse: ${e.problems.join('; ')}`);
      return reply(HttpStatus.UNPROCESSABLE_ENTITY, 'Unprocessable Entity', e.message, e.code);
    }
    if (e instanceof SigningUnavailableError || e instanceof SignatureMismatchError) {
      const retryAfter = e instanceof SigningUnavailableError ? e.retryAfterSeconds : 30;
      this.logger.error(`${e.code}: ${e.message}`);
      return reply(HttpStatus.SERVICE_UNAVAILABLE, 'Service Unavailable', UNAVAILABLE, e.code, { 'Retry-After': String(Math.max(1, Math.ceil(retryAfter))) });
    }
    if (e instanceof IAdvizeAuthError) {
      // e.g. InvalidKeyError at sign time (access revoked, key disabled): the message names the fix and holds no secret.
      this.logger.error(`${e.code}: ${e.message}`);
      return reply(HttpStatus.SERVICE_UNAVAILABLE, 'Service Unavailable', UNAVAILABLE, IAdvizeErrorCode.SigningUnavailable, { 'Retry-After': '30' });
    }
    if (e instanceof HttpException) return this.foreign(e.getStatus(), e.getResponse());
    this.logger.error(`${IAdvizeErrorCode.Internal}: unexpected ${errorName(e)} while serving an iAdvize token (a UserResolver or guard that threw?)`);
    return reply(HttpStatus.INTERNAL_SERVER_ERROR, 'Internal Server Error', 'The iAdvize token could not be served', IAdvizeErrorCode.Internal);
  }

  /**
   * An `HttpException` raised in front of the endpoint (your guards, a rate
   * limiter). A body that already has a string `code` and `message` is the
   * app's deliberate answer and is kept; any other body is replaced.
   */
  private foreign(status: number, response?: unknown): ErrorReply {
    if (status === HttpStatus.UNAUTHORIZED && this.events?.listening('token.refused')) {
      this.events.emit('token.refused', { code: IAdvizeErrorCode.Unauthenticated });
    }
    const own = response as Partial<IAdvizeErrorBody> | undefined;
    if (own && typeof own === 'object' && typeof own.code === 'string' && typeof own.message === 'string') {
      return reply(status, typeof own.error === 'string' ? own.error : statusText(status), own.message, own.code);
    }
    const known = FOREIGN[status];
    if (known) return reply(status, statusText(status), known.message, known.code);
    if (status >= 500) {
      this.logger.error(`${IAdvizeErrorCode.Internal}: an HttpException with status ${status} while serving an iAdvize token`);
      return reply(status, statusText(status), 'The iAdvize token could not be served', IAdvizeErrorCode.Internal);
    }
    return reply(status, statusText(status), 'The token request was refused', IAdvizeErrorCode.RequestRejected);
  }
}

function errorName(e: unknown): string {
  const name = (e as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && /^[A-Za-z_$][\w$]{0,60}$/.test(name) ? name : 'error';
}

/** "Unauthorized" for 401, "Too Many Requests" for 429, … */
function statusText(status: number): string {
  const name = HttpStatus[status] as string | undefined;
  if (!name) return 'Error';
  return name
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join(' ');
}
