import {
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  Post,
  Res,
  UseFilters,
  UseGuards,
  type CanActivate,
  type Type,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { InvalidOptionsError } from '../errors.js';
import { mayEcho, quoteValue } from '../redaction.js';
import { TokenService, type IAdvizeToken } from '../token/token.service.js';
import type { IAdvizeUser } from '../token/identity.js';
import { IAdvizeIdentity } from './identity.decorator.js';
import { IAdvizeIdentityGuard } from './identity.guard.js';
import { IAdvizeExceptionFilter } from './iadvize-exception.filter.js';

/**
 * Options of the built-in token endpoint.
 * @public
 */
export interface IAdvizeControllerOptions {
  /** Route of the endpoint, served for GET and POST. Default: `'iadvize/token'`. */
  path?: string;
  /**
   * Your authentication guards, run in this order before the identity guard,
   * e.g. `[AuthGuard('jwt')]` or `[SessionGuard]`. Guard classes are
   * instantiated in the module: provide their dependencies through `imports`
   * or `extraProviders`. Default: none (global `APP_GUARD`s still run first).
   */
  guards?: Array<Type<CanActivate> | CanActivate>;
}

/**
 * Default route of the token endpoint.
 * @public
 */
export const DEFAULT_TOKEN_PATH = 'iadvize/token';

/**
 * Builds the token endpoint controller for a path and guard list.
 * Response: `200 {"token","expiresAt"}` with `Cache-Control: no-store`.
 * Errors go through {@link IAdvizeExceptionFilter}: `401` anonymous, `422`
 * invalid identity from the resolver, `503` + `Retry-After` when the signer
 * is unavailable, each with a stable `code`.
 */
export function createTokenController(options: IAdvizeControllerOptions = {}): Type<unknown> {
  const path = options.path ?? DEFAULT_TOKEN_PATH;
  // Nest logs every route it maps: the path must be one the redaction rule lets through.
  if (typeof path !== 'string' || !mayEcho(path) || !/^[A-Za-z0-9/_.~:-]*$/.test(path)) {
    throw new InvalidOptionsError([`controller.path: ${quoteValue(path)} is not a route path; give one such as "${DEFAULT_TOKEN_PATH}"`]);
  }
  const guards = [...(options.guards ?? []), IAdvizeIdentityGuard];

  @Controller(path)
  @UseGuards(...guards)
  @UseFilters(IAdvizeExceptionFilter)
  class IAdvizeTokenController {
    constructor(
      private readonly tokens: TokenService,
      private readonly adapterHost: HttpAdapterHost,
    ) {}

    /** `GET {path}`: mints a token for the signed-in user (mobile SDKs' JWE provider). */
    @Get()
    get(@IAdvizeIdentity() identity: IAdvizeUser, @Res({ passthrough: true }) response: unknown): Promise<IAdvizeToken> {
      return this.issue(identity, response);
    }

    /** `POST {path}`: mints a token for the signed-in user (the web page). */
    @Post()
    @HttpCode(HttpStatus.OK)
    post(@IAdvizeIdentity() identity: IAdvizeUser, @Res({ passthrough: true }) response: unknown): Promise<IAdvizeToken> {
      return this.issue(identity, response);
    }

    private issue(identity: IAdvizeUser, response: unknown): Promise<IAdvizeToken> {
      const http = this.adapterHost.httpAdapter;
      http.setHeader(response, 'Cache-Control', 'no-store');
      http.setHeader(response, 'Pragma', 'no-cache');
      return this.tokens.createToken(identity);
    }
  }
  return IAdvizeTokenController;
}
