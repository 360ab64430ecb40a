import { registerAs } from '@nestjs/config';
import { InvalidOptionsError } from '../errors.js';
import { ENV_OPTIONS_PROBLEMS } from '../iadvize.constants.js';
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
 * files. A bad or missing variable fails `.compile()` / `NestFactory.create()`
 * with one error naming every bad variable, raised where the module reads its
 * options: so a test that overrides `IADVIZE_AUTH_MODULE_OPTIONS` (e.g. with
 * `FakeIAdvizeSetup.moduleOptions`) needs no `IADVIZE_*` variable at all.
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
export const iadvizeAuthConfig = registerAs(IADVIZE_CONFIG_NAMESPACE, (): IAdvizeAuthOptions => {
  try {
    return iadvizeAuthOptionsFromEnv();
  } catch (e) {
    if (!(e instanceof InvalidOptionsError)) throw e;
    // Reported by the module when it resolves these options (not when the namespace is registered).
    return { [ENV_OPTIONS_PROBLEMS]: e } as unknown as IAdvizeAuthOptions;
  }
});
