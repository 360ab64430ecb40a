import { HttpException, HttpStatus } from '@nestjs/common';
import { IAdvizeErrorCode } from '../errors.js';

/** JSON body of every error the token endpoint returns. */
export interface IAdvizeErrorBody {
  statusCode: number;
  error: string;
  message: string;
  /** Stable machine-readable code, e.g. `IADVIZE_UNAUTHENTICATED`. */
  code: string;
}

/** An `HttpException` whose body is an {@link IAdvizeErrorBody}. */
export class IAdvizeHttpException extends HttpException {
  constructor(status: HttpStatus, error: string, message: string, code: string) {
    const body: IAdvizeErrorBody = { statusCode: status, error, message, code };
    super(body, status);
  }

  /** 401: nobody is signed in. */
  static unauthenticated(): IAdvizeHttpException {
    return new IAdvizeHttpException(HttpStatus.UNAUTHORIZED, 'Unauthorized', 'Sign in to get an iAdvize token', IAdvizeErrorCode.Unauthenticated);
  }
}
