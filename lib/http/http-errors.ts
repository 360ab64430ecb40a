import { HttpException, HttpStatus } from '@nestjs/common';
import { IAdvizeErrorCode } from '../errors.js';

/**
 * JSON body of every error the token endpoint returns.
 * @public
 */
export interface IAdvizeErrorBody {
  statusCode: number;
  error: string;
  message: string;
  /** Stable machine-readable code, e.g. `IADVIZE_UNAUTHENTICATED`. */
  code: string;
}

/** Message of the 401 every token endpoint answers when nobody is signed in. */
export const UNAUTHENTICATED_MESSAGE = 'Sign in to get an iAdvize token';

/**
 * Request property set when a `token.refused` event was already emitted for
 * this request (by the identity guard), so the exception filter does not
 * count the same refusal twice.
 * @internal
 */
export const REFUSAL_EMITTED = Symbol.for('nestjs-iadvize-auth.refusal-emitted');

/** An `HttpException` whose body is an {@link IAdvizeErrorBody}. */
export class IAdvizeHttpException extends HttpException {
  constructor(status: HttpStatus, error: string, message: string, code: string) {
    const body: IAdvizeErrorBody = { statusCode: status, error, message, code };
    super(body, status);
  }

  /** 401: nobody is signed in. */
  static unauthenticated(): IAdvizeHttpException {
    return new IAdvizeHttpException(HttpStatus.UNAUTHORIZED, 'Unauthorized', UNAUTHENTICATED_MESSAGE, IAdvizeErrorCode.Unauthenticated);
  }
}
