import { Injectable, type CanActivate, type ExecutionContext, type Type } from '@nestjs/common';

type Req = { headers: Record<string, string | undefined>; user?: unknown };

/**
 * Test-only authentication standing in for a session: the `x-user` header
 * becomes `request.user = { id }`; without it the request goes on anonymous
 * (the library's identity guard then answers 401).
 */
@Injectable()
export class HeaderUserGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Req>();
    const id = req.headers['x-user'];
    if (id) req.user = { id };
    return true;
  }
}

/** A guard class that signs every request in as `request.user = { id }`. */
export function signedInGuard(id: string): Type<CanActivate> {
  @Injectable()
  class SignedInGuard implements CanActivate {
    canActivate(context: ExecutionContext): boolean {
      context.switchToHttp().getRequest<Req>().user = { id };
      return true;
    }
  }
  return SignedInGuard;
}
