import { Injectable, type ExecutionContext } from '@nestjs/common';
import { InvalidIdentityError } from '../errors.js';
import type { IAdvizeUser } from '../token/identity.js';
import { hasOwnProperty, ownValue } from '../token/own-property.js';

/**
 * Maps the current request to the iAdvize identity of the signed-in user.
 * It is the DI token of the resolver: replace it through the module's
 * `userResolver` option or with an ordinary provider override.
 *
 * The user id must come from the server-side authenticated principal (a
 * session, a verified access token), never from the body, query or headers
 * the client controls: whoever can choose the user id can read that user's
 * conversations. Return `null` when nobody is signed in (→ 401).
 *
 * @example
 * ```ts
 * @Injectable()
 * export class MyResolver extends UserResolver {
 *   constructor(private readonly users: UsersService) { super(); }
 *   async resolve(ctx: ExecutionContext) {
 *     const session = ctx.switchToHttp().getRequest().session;
 *     const user = session?.userId ? await this.users.find(session.userId) : null;
 *     return user ? { userId: user.customerId, visitorData: { firstName: user.firstName } } : null;
 *   }
 * }
 * ```
 * @public
 */
export abstract class UserResolver {
  /** Returns the identity of the authenticated user, or `null`/`undefined` when there is none. */
  abstract resolve(context: ExecutionContext): IAdvizeUser | null | undefined | Promise<IAdvizeUser | null | undefined>;
}

/** Why the default resolver refuses a principal it cannot read. */
const UNREADABLE_USER = 'request.user: could not be read (a getter or proxy threw); set request.user to plain data or write a UserResolver';

/**
 * The default resolver: reads `request.user` (set by passport and most auth
 * guards) and takes its `id`, else its `sub`, as the user id. Whole numbers
 * are converted to strings. No `request.user`, or one with neither `id` nor
 * `sub`, is anonymous (401); an id iAdvize would refuse (an empty string, a
 * float, an object, `null`) is a 422 that names the rule. Nothing else is
 * mapped; write your own resolver to send visitor data.
 *
 * Only own properties are read (`request.user`, then its `id` / `sub`): a
 * value inherited from a prototype, e.g. a polluted `Object.prototype`, is
 * ignored. `sub` is used only when the principal has no `id` property at all:
 * an `id` that is present but `null`, `undefined` or empty is refused (422),
 * never replaced by `sub`. A `request.user` whose getter or Proxy throws is
 * refused the same way (422), never a 500.
 * @public
 */
@Injectable()
export class RequestUserResolver extends UserResolver {
  resolve(context: ExecutionContext): IAdvizeUser | null {
    const request: unknown = context.switchToHttp().getRequest();
    if (request === null || typeof request !== 'object') return null;
    let raw: unknown;
    try {
      const user = ownValue(request, 'user');
      if (user === null || typeof user !== 'object') return null;
      // `sub` only when there is no `id` at all: a present but empty/null `id` is refused (422),
      // never replaced by `sub`, which may live in another namespace (an IdP subject).
      if (hasOwnProperty(user, 'id')) raw = ownValue(user, 'id');
      else if (hasOwnProperty(user, 'sub')) raw = ownValue(user, 'sub');
      else return null;
    } catch {
      throw new InvalidIdentityError([UNREADABLE_USER]);
    }
    if ((typeof raw === 'number' && Number.isSafeInteger(raw)) || typeof raw === 'bigint') return { userId: String(raw) };
    // Anything else, valid or not, goes to validation: a signed-in user with an
    // unusable id (empty, null, a float, an object) gets a 422 naming the rule, not a silent 401.
    return { userId: raw } as unknown as IAdvizeUser;
  }
}
