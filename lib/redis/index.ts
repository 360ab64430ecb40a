/**
 * `nestjs-iadvize-auth/redis`: a token store shared by the replicas of a
 * fleet, on Redis (token reuse across replicas, cross-replica coalescing, a
 * fleet-wide signing budget). Only this subpath imports `ioredis` (an
 * optional peer dependency, `^5`), and only when the store connects.
 * @packageDocumentation
 */
export { RedisTokenStore } from './redis-token.store.js';
export { MIN_REDIS_KEY_SECRET_BYTES, type RedisTokenStoreOptions, type SigningBudgetOptions } from './redis-token-store.options.js';
export type { OpenTokenStore, TokenStore, TokenStoreContext } from '../token/token-store.js';
