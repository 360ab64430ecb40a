/**
 * `nestjs-iadvize-auth/config`: configure the module from environment
 * variables, with or without `@nestjs/config`.
 *
 * Only {@link iadvizeAuthConfig} needs `@nestjs/config` (an optional peer
 * dependency); the main entry never imports it.
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
export { iadvizeAuthConfig, IADVIZE_CONFIG_NAMESPACE } from './iadvize-auth.config.js';
