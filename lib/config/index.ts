/**
 * `nestjs-iadvize-auth/config`: configure the module from environment
 * variables with `@nestjs/config`.
 *
 * This entry imports `@nestjs/config` (an optional peer dependency) through
 * {@link iadvizeAuthConfig}, so loading it needs the peer installed. Apps
 * without `@nestjs/config` import the same env-reading pieces from
 * `nestjs-iadvize-auth/config/env`, which never reaches it. The main entry
 * never imports it either.
 * @packageDocumentation
 */
export * from './env.js';
export { iadvizeAuthConfig, IADVIZE_CONFIG_NAMESPACE } from './iadvize-auth.config.js';
