import { Injectable, type ExecutionContext } from '@nestjs/common';
import { UserResolver, type IAdvizeUser } from 'nestjs-iadvize-auth';
import type { SampleRequest } from '../auth/session-auth.guard.js';
import { UserStore } from '../users/user-store.service.js';

/**
 * Tells the library who the token is for. It runs after `SessionAuthGuard`,
 * which put the **server-side** session's user on `request.user`; the user id
 * never comes from the body, query string or headers the client controls.
 *
 * `visitorData` is what the iAdvize agent sees about the visitor: only send
 * what your privacy policy allows.
 */
@Injectable()
export class SampleUserResolver extends UserResolver {
  constructor(private readonly users: UserStore) {
    super();
  }

  resolve(context: ExecutionContext): IAdvizeUser | null {
    const request = context.switchToHttp().getRequest<SampleRequest>();
    // Own property only: a `user` inherited from a polluted Object.prototype is nobody.
    const principal = Object.hasOwn(request, 'user') ? request.user : undefined;
    if (!principal) return null; // → 401
    const user = this.users.findById(principal.id);
    if (!user) return null; // deleted since sign-in → 401
    return {
      userId: user.id, // stable and unique: never the username or e-mail, which can change
      visitorData: { firstName: user.firstName, lastName: user.lastName, email: user.email },
    };
  }
}
