/**
 * `nestjs-iadvize-auth/config/env`: read the module options from environment
 * variables without `@nestjs/config`. Nothing reachable from this entry
 * imports `@nestjs/config` (an optional peer dependency), so it loads in apps
 * that do not install it.
 *
 * `nestjs-iadvize-auth/config` re-exports all of this, plus
 * `iadvizeAuthConfig`, the `@nestjs/config` namespace, which needs the peer.
 * @packageDocumentation
 */
export {
  IAdvizeEnv,
  IADVIZE_ENV_VARIABLES,
  iadvizeAuthOptionsFromEnv,
  type EnvRecord,
  type IAdvizeEnvOptions,
  type IAdvizeEnvVariable,
  type IAdvizeEnvVariableInfo,
} from './iadvize-env.options.js';
export { EnvConfiguredKeyProvider, type EnvKeySource } from './env-key.provider.js';
