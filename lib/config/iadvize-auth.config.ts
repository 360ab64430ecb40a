import { registerAs } from '@nestjs/config';
import type { IAdvizeAuthOptions } from '../options/iadvize-auth.options.js';
import { iadvizeAuthOptionsFromEnv } from './iadvize-env.options.js';

/**
 * Namespace of {@link iadvizeAuthConfig} in `ConfigService` (`configService.get('iadvize')`).
 * @public
 */
export const IADVIZE_CONFIG_NAMESPACE = 'iadvize';

/**
 * `@nestjs/config` namespace holding the module options read from the
 * environment by {@link iadvizeAuthOptionsFromEnv}. The factory runs when the
 * Nest container is built, after `ConfigModule.forRoot()` has loaded `.env`
 * files, so a bad variable fails `.compile()` / `NestFactory.create()` with
 * one error naming every bad variable.
 *
 * The ready recipe:
 * ```ts
 * IAdvizeAuthModule.forRootAsync({
 *   imports: [ConfigModule.forFeature(iadvizeAuthConfig)],
 *   inject: [iadvizeAuthConfig.KEY],
 *   useFactory: (options: IAdvizeAuthOptions) => options,
 * })
 * // or, the same in one line:
 * IAdvizeAuthModule.forRootAsync(iadvizeAuthConfig.asProvider())
 * ```
 * @public
 */
export const iadvizeAuthConfig = registerAs(IADVIZE_CONFIG_NAMESPACE, (): IAdvizeAuthOptions => iadvizeAuthOptionsFromEnv());
