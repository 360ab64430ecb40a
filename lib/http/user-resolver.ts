import { Injectable, type ExecutionContext } from '@nestjs/common';
import type { IAdvizeIdentity } from '../token/identity.js';

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
 */
export abstract class UserResolver {
  /** Returns the identity of the authenticated user, or `null`/`undefined` when there is none. */
  abstract resolve(context: ExecutionContext): IAdvizeIdentity | null | undefined | Promise<IAdvizeIdentity | null | undefined>;
}

/**
 * The default resolver: reads `request.user` (set by passport and most auth
 * guards) and takes its `id`, else its `sub`, as the user id. Whole numbers
 * are converted to strings. No `request.user`, or one with neither `id` nor
 * `sub`, is anonymous (401); an id iAdvize would refuse (an empty string, a
 * float, an object) is a 422 that names the rule. Nothing else is mapped;
 * write your own resolver to send visitor data.
 */
@Injectable()
export class RequestUserResolver extends UserResolver {
  resolve(context: ExecutionContext): IAdvizeIdentity | null {
    const request = context.switchToHttp().getRequest<{ user?: unknown }>();
    const user = request?.user;
    if (user === null || typeof user !== 'object') return null;
    const { id, sub } = user as { id?: unknown; sub?: unknown };
    // `sub` only when there is no `id` at all: an empty `id` is refused (422), never
    // replaced by `sub`, which may live in another namespace (an IdP subject).
    const raw = id ?? sub;
    if (raw === undefined || raw === null) return null;
    if ((typeof raw === 'number' && Number.isSafeInteger(raw)) || typeof raw === 'bigint') return { userId: String(raw) };
    // Anything else, valid or not, goes to validation: a signed-in user with an
    // unusable id (empty, a float, an object) gets a 422 naming the rule, not a silent 401.
    return { userId: raw } as unknown as IAdvizeIdentity;
  }
}
