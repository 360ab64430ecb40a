import { IntervalLog } from '../common/interval-log.js';
import { STATUS_CODES } from 'node:http';
import { Catch, HttpException, HttpStatus, Injectable, Logger, Optional, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { IAdvizeAuthError, IAdvizeErrorCode, InvalidIdentityError, SignatureMismatchError, SigningUnavailableError } from '../errors.js';
import { IAdvizeAuthEvents } from '../events/iadvize-auth-events.service.js';
import { ownValue } from '../token/own-property.js';
import { boundRetryAfter } from './retry-after.js';
import { IAdvizeHttpException, REFUSAL_EMITTED, UNAUTHENTICATED_MESSAGE, type IAdvizeErrorBody } from './http-errors.js';

/** Fixed messages for errors raised in front of the endpoint: nothing the app or client wrote is echoed. */
const FOREIGN: Partial<Record<number, { code: string; message: string }>> = {
  [HttpStatus.UNAUTHORIZED]: { code: IAdvizeErrorCode.Unauthenticated, message: UNAUTHENTICATED_MESSAGE },
  [HttpStatus.FORBIDDEN]: { code: IAdvizeErrorCode.Forbidden, message: 'This user may not get an iAdvize token' },
  [HttpStatus.TOO_MANY_REQUESTS]: { code: IAdvizeErrorCode.RateLimited, message: 'Too many token requests; retry later' },
};

const UNAVAILABLE = 'Token signing is temporarily unavailable; retry later';
const NOT_SERVED = 'The iAdvize token could not be served';

/** Headers of every error reply: like a token, an error must not be cached. */
const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

/**
 * An error response of {@link IAdvizeExceptionFilter}: the body (its `statusCode` is the status) and extra headers.
 * @public
 */
export interface IAdvizeErrorReply {
  body: IAdvizeErrorBody;
  headers: Record<string, string>;
}

function reply(status: number, error: string, message: string, code: string, headers: Record<string, string> = {}): IAdvizeErrorReply {
  return { body: { statusCode: status, error, message, code }, headers: { ...NO_STORE, ...headers } };
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
 * | `SigningUnavailableError`, `SignatureMismatchError`, other library errors | 503 + `Retry-After` (1..60 s, see `MAX_RETRY_AFTER_SECONDS`) | `IADVIZE_SIGNING_UNAVAILABLE` / `IADVIZE_SIGNATURE_MISMATCH` |
 * | anything else (e.g. a `UserResolver` that threw) | 500 | `IADVIZE_INTERNAL_ERROR` |
 *
 * The built-in controller uses it. Put it on your own controller around
 * {@link TokenService} with `@UseFilters(IAdvizeExceptionFilter)` (the module
 * provides it). Headers set before the error (e.g. the throttler's
 * `Retry-After`) are kept, and so is an `HttpException` body your own guard
 * built with a string `code` and `message`.
 * @public
 */
@Catch()
@Injectable()
export class IAdvizeExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('IAdvizeTokenEndpoint');
  /** 503s repeat during exactly the overload or outage that causes them: one line per message per interval, with a count. */
  private readonly unavailableLog = new IntervalLog(this.logger, 10_000);

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Optional() private readonly events?: IAdvizeAuthEvents,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    // GraphQL, RPC, WebSockets: not ours to answer.
    if (host.getType() !== 'http') throw exception;
    const request: unknown = host.switchToHttp().getRequest();
    const { body, headers } = this.toReply(exception, request !== null && typeof request === 'object' && ownValue(request, REFUSAL_EMITTED) === true);
    const http = this.adapterHost.httpAdapter;
    const response: unknown = host.switchToHttp().getResponse();
    for (const [name, value] of Object.entries(headers)) http.setHeader(response, name, value);
    http.reply(response, body, body.statusCode);
  }

  /**
   * Maps an error to its reply and logs it. Override to change the mapping.
   * @param refusalEmitted a `token.refused` event was already emitted for this request
   */
  protected toReply(e: unknown, refusalEmitted = false): IAdvizeErrorReply {
    if (e instanceof IAdvizeHttpException) return { body: e.getResponse() as IAdvizeErrorBody, headers: { ...NO_STORE } };
    if (e instanceof InvalidIdentityError) {
      this.logger.warn(`${e.code}: the user resolver returned an identity iAdvize would refuse: ${e.problems.join('; ')}`);
      return reply(HttpStatus.UNPROCESSABLE_ENTITY, 'Unprocessable Entity', e.message, e.code);
    }
    if (e instanceof SigningUnavailableError || e instanceof SignatureMismatchError) {
      let retryAfter: unknown = 30;
      try {
        if (e instanceof SigningUnavailableError) retryAfter = e.retryAfterSeconds;
      } catch {
        retryAfter = 1; // a subclass whose getter throws
      }
      this.unavailableLog.note(`${e.code}: ${e.message}`, 'error', `${e.code}: ${e.message}`);
      // Bounded whatever the error carries (a custom provider's error, a backend's Retry-After): 1..MAX_RETRY_AFTER_SECONDS.
      return reply(HttpStatus.SERVICE_UNAVAILABLE, 'Service Unavailable', UNAVAILABLE, e.code, { 'Retry-After': String(boundRetryAfter(retryAfter)) });
    }
    if (e instanceof IAdvizeAuthError) {
      // e.g. InvalidKeyError at sign time (access revoked, key disabled): the message names the fix and holds no secret.
      this.unavailableLog.note(`${e.code}: ${e.message}`, 'error', `${e.code}: ${e.message}`);
      return reply(HttpStatus.SERVICE_UNAVAILABLE, 'Service Unavailable', UNAVAILABLE, IAdvizeErrorCode.SigningUnavailable, { 'Retry-After': '30' });
    }
    if (e instanceof HttpException) return this.foreign(e.getStatus(), e.getResponse(), refusalEmitted);
    this.logger.error(
      `${IAdvizeErrorCode.Internal}: unexpected ${errorName(e)} while serving an iAdvize token (thrown by a UserResolver, a guard or the token pipeline); its message and stack are logged at debug level`,
    );
    // For the operator only (never in the reply): the app's own error, as it was thrown.
    this.logger.debug(`${IAdvizeErrorCode.Internal}: ${e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : `thrown value of type ${e === null ? 'null' : typeof e}`}`);
    return reply(HttpStatus.INTERNAL_SERVER_ERROR, 'Internal Server Error', NOT_SERVED, IAdvizeErrorCode.Internal);
  }

  /**
   * An `HttpException` raised in front of the endpoint (your guards, a rate
   * limiter). A body that already has a string `code` and `message` is the
   * app's deliberate answer and is kept; any other body is replaced.
   */
  private foreign(status: number, response: unknown, refusalEmitted: boolean): IAdvizeErrorReply {
    // A status outside 400..599 cannot be an error reply (Express would throw on it).
    if (!Number.isInteger(status) || status < 400 || status > 599) status = HttpStatus.INTERNAL_SERVER_ERROR;
    if (status === HttpStatus.UNAUTHORIZED && !refusalEmitted && this.events?.listening('token.refused')) {
      this.events.emit('token.refused', { code: IAdvizeErrorCode.Unauthenticated });
    }
    // Own properties only: a `code` or `message` inherited from a polluted prototype is not the app's answer.
    const field = (name: string): unknown => {
      try {
        return response !== null && typeof response === 'object' ? ownValue(response, name) : undefined;
      } catch {
        return undefined; // a body whose getter throws is replaced like any other unusable body
      }
    };
    const [code, message, error] = [field('code'), field('message'), field('error')];
    if (typeof code === 'string' && typeof message === 'string') {
      return reply(status, typeof error === 'string' ? error : statusText(status), message, code);
    }
    const known = FOREIGN[status];
    if (known) return reply(status, statusText(status), known.message, known.code);
    if (status >= 500) {
      this.logger.error(`${IAdvizeErrorCode.Internal}: an HttpException with status ${status} while serving an iAdvize token`);
      return reply(status, statusText(status), NOT_SERVED, IAdvizeErrorCode.Internal);
    }
    return reply(status, statusText(status), 'The token request was refused', IAdvizeErrorCode.RequestRejected);
  }
}

function errorName(e: unknown): string {
  const name = (e as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && /^[A-Za-z_$][\w$]{0,60}$/.test(name) ? name : 'error';
}

/** "Unauthorized" for 401, "Too Many Requests" for 429, … (Node's reason phrases). */
function statusText(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}
