import {
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  Logger,
  Post,
  Res,
  UseGuards,
  type CanActivate,
  type Type,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { IAdvizeAuthError, InvalidIdentityError, SignatureMismatchError, SigningUnavailableError, IAdvizeErrorCode } from '../errors.js';
import { TokenService, type IAdvizeToken } from '../token/token.service.js';
import type { IAdvizeIdentity as Identity } from '../token/identity.js';
import { IAdvizeIdentity } from './identity.decorator.js';
import { IAdvizeIdentityGuard } from './identity.guard.js';
import { IAdvizeHttpException } from './http-errors.js';

/** Options of the built-in token endpoint. */
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

/** Default route of the token endpoint. */
export const DEFAULT_TOKEN_PATH = 'iadvize/token';

/**
 * Builds the token endpoint controller for a path and guard list.
 * Response: `200 {"token","expiresAt"}` with `Cache-Control: no-store`.
 * Errors: `401` anonymous, `422` invalid identity from the resolver,
 * `503` + `Retry-After` when the signer is unavailable, each with a stable `code`.
 */
export function createTokenController(options: IAdvizeControllerOptions = {}): Type<unknown> {
  const path = options.path ?? DEFAULT_TOKEN_PATH;
  const guards = [...(options.guards ?? []), IAdvizeIdentityGuard];

  @Controller(path)
  @UseGuards(...guards)
  class IAdvizeTokenController {
    private readonly logger = new Logger('IAdvizeTokenController');

    constructor(
      private readonly tokens: TokenService,
      private readonly adapterHost: HttpAdapterHost,
    ) {}

    /** `GET {path}`: mints a token for the signed-in user (mobile SDKs' JWE provider). */
    @Get()
    get(@IAdvizeIdentity() identity: Identity, @Res({ passthrough: true }) response: unknown): Promise<IAdvizeToken> {
      return this.issue(identity, response);
    }

    /** `POST {path}`: mints a token for the signed-in user (the web page). */
    @Post()
    @HttpCode(HttpStatus.OK)
    post(@IAdvizeIdentity() identity: Identity, @Res({ passthrough: true }) response: unknown): Promise<IAdvizeToken> {
      return this.issue(identity, response);
    }

    private async issue(identity: Identity, response: unknown): Promise<IAdvizeToken> {
      const http = this.adapterHost.httpAdapter;
      http.setHeader(response, 'Cache-Control', 'no-store');
      http.setHeader(response, 'Pragma', 'no-cache');
      try {
        return await this.tokens.createToken(identity);
      } catch (e) {
        if (e instanceof InvalidIdentityError) {
          this.logger.warn(`${e.code}: the user resolver returned an identity iAdvize would refuse: ${e.problems.join('; ')}`);
          throw new IAdvizeHttpException(HttpStatus.UNPROCESSABLE_ENTITY, 'Unprocessable Entity', e.message, e.code);
        }
        if (e instanceof SigningUnavailableError || e instanceof SignatureMismatchError) {
          const retryAfter = e instanceof SigningUnavailableError ? e.retryAfterSeconds : 30;
          this.logger.error(`${e.code}: ${e.message}`);
          http.setHeader(response, 'Retry-After', String(Math.max(1, Math.ceil(retryAfter))));
          throw new IAdvizeHttpException(HttpStatus.SERVICE_UNAVAILABLE, 'Service Unavailable', 'Token signing is temporarily unavailable; retry later', e.code);
        }
        if (e instanceof IAdvizeAuthError) {
          // e.g. InvalidKeyError at sign time (access revoked, key disabled): the message names the fix and holds no secret.
          this.logger.error(`${e.code}: ${e.message}`);
        } else {
          this.logger.error(`${IAdvizeErrorCode.SigningUnavailable}: unexpected ${(e as Error)?.name ?? 'error'} while minting a token`);
        }
        http.setHeader(response, 'Retry-After', e instanceof IAdvizeAuthError ? '30' : '1');
        throw new IAdvizeHttpException(HttpStatus.SERVICE_UNAVAILABLE, 'Service Unavailable', 'Token signing is temporarily unavailable; retry later', IAdvizeErrorCode.SigningUnavailable);
      }
    }
  }
  return IAdvizeTokenController;
}
