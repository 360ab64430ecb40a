import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { IAdvizeUser } from '../token/identity.js';
import { ownValue } from '../token/own-property.js';

/**
 * Property of the request where `IAdvizeIdentityGuard` stores the resolved identity.
 * @public
 */
export const IADVIZE_IDENTITY_REQUEST_KEY = 'iadvizeIdentity';

/**
 * Parameter decorator: the identity `IAdvizeIdentityGuard` resolved for this
 * request. For apps that write their own controller around `TokenService`:
 *
 * ```ts
 * @UseGuards(AuthGuard('jwt'), IAdvizeIdentityGuard)
 * @Post('chat-token')
 * token(@IAdvizeIdentity() identity: IAdvizeUser) { return this.tokens.createToken(identity); }
 * ```
 * @public
 */
export const IAdvizeIdentity = createParamDecorator((_data: unknown, context: ExecutionContext): IAdvizeUser | undefined => {
  const request: unknown = context.switchToHttp().getRequest();
  // Own property only: an identity inherited from a polluted prototype is no identity.
  return request !== null && typeof request === 'object' ? (ownValue(request, IADVIZE_IDENTITY_REQUEST_KEY) as IAdvizeUser | undefined) : undefined;
});
