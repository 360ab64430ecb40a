import { Injectable, Logger, Optional, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { IAdvizeErrorCode } from '../errors.js';
import { IAdvizeAuthEvents } from '../events/iadvize-auth-events.service.js';
import type { IAdvizeUser } from '../token/identity.js';
import { IADVIZE_IDENTITY_REQUEST_KEY } from './identity.decorator.js';
import { IAdvizeHttpException, REFUSAL_EMITTED } from './http-errors.js';
import { RequestUserResolver, UserResolver } from './user.resolver.js';

/**
 * Resolves the signed-in user's iAdvize identity with the {@link UserResolver}
 * and attaches it to the request (read it with `@IAdvizeIdentity()`).
 * Anonymous requests get `401` with code `IADVIZE_UNAUTHENTICATED` (and a
 * `token.refused` event on {@link IAdvizeAuthEvents}).
 *
 * Put your authentication guard (passport's `AuthGuard('jwt')`, a session
 * guard) in front of it. Subclass it and override the protected hooks for
 * other contexts (GraphQL, RPC).
 * @public
 */
@Injectable()
export class IAdvizeIdentityGuard implements CanActivate {
  private static readonly logger = new Logger('IAdvizeIdentityGuard');

  constructor(
    protected readonly userResolver: UserResolver,
    @Optional() protected readonly events?: IAdvizeAuthEvents,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const identity = await this.resolveIdentity(context);
    if (identity === null || identity === undefined) {
      if (this.events?.listening('token.refused')) this.events.emit('token.refused', { code: IAdvizeErrorCode.Unauthenticated });
      (this.getRequest(context) as Record<symbol, unknown>)[REFUSAL_EMITTED] = true;
      IAdvizeIdentityGuard.logger.debug(
        this.userResolver instanceof RequestUserResolver
          ? '401: request.user is empty. It is set by your authentication guard (passport\'s AuthGuard, a session guard) in `controller.guards` or as a global APP_GUARD; none set it for this request'
          : `401: the UserResolver (${this.userResolver.constructor.name}) returned no identity for this request`,
      );
      throw this.unauthenticated(context);
    }
    // Defined as an own property (read back as one by `@IAdvizeIdentity()`), whatever the request's prototypes hold.
    // The descriptor has no prototype, so a polluted `Object.prototype.get` cannot turn it into an accessor.
    const descriptor: PropertyDescriptor = Object.assign(Object.create(null) as PropertyDescriptor, { value: identity, writable: true, enumerable: true, configurable: true });
    Object.defineProperty(this.getRequest(context), IADVIZE_IDENTITY_REQUEST_KEY, descriptor);
    return true;
  }

  /** The request object the identity is attached to. Override for GraphQL (`GqlExecutionContext`). */
  protected getRequest(context: ExecutionContext): Record<string, unknown> {
    return context.switchToHttp().getRequest<Record<string, unknown>>();
  }

  /** Runs the resolver. Override to add checks (e.g. a feature flag). */
  protected async resolveIdentity(context: ExecutionContext): Promise<IAdvizeUser | null | undefined> {
    return this.userResolver.resolve(context);
  }

  /** The error thrown when nobody is signed in. */
  protected unauthenticated(_context: ExecutionContext): Error {
    return IAdvizeHttpException.unauthenticated();
  }
}
