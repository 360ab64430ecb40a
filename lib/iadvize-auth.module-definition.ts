import { ConfigurableModuleBuilder, type DynamicModule, type ModuleMetadata, type Provider, type Type } from '@nestjs/common';
import type { IAdvizeAuthOptions } from './options/iadvize-auth.options.js';
import { createTokenController, type IAdvizeControllerOptions } from './http/token.controller.js';
import { RequestUserResolver, UserResolver } from './http/user.resolver.js';
import { UnguardedEndpointWarning } from './http/unguarded-endpoint.warning.js';

/**
 * Options that shape the module itself (its providers and controller); they
 * are accepted by both `forRoot()` and `forRootAsync()` and are known before
 * the async options factory runs.
 * @public
 */
export interface IAdvizeAuthModuleExtras {
  /** Register the module globally. Default: `false`. */
  isGlobal?: boolean;
  /** Providers added to the module, e.g. what your `userResolver` or guards inject. Default: `[]`. */
  extraProviders?: Provider[];
  /**
   * Modules imported by the module: what your `userResolver` and `controller.guards` inject. With
   * `forRootAsync`, its `imports` serve both the options factory and your resolver and guards. Default: `[]`.
   */
  imports?: ModuleMetadata['imports'];
  /** The token endpoint: options, or `false` to register no controller. Default: `{ path: 'iadvize/token' }`. */
  controller?: IAdvizeControllerOptions | false;
  /** Your {@link UserResolver} class. Default: {@link RequestUserResolver} (reads `request.user.id` / `.sub`). */
  userResolver?: Type<UserResolver>;
}

const defaults: IAdvizeAuthModuleExtras = {
  isGlobal: false,
  extraProviders: [],
  imports: [],
  controller: {},
  userResolver: undefined,
};

export const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<IAdvizeAuthOptions>({ moduleName: 'IAdvizeAuth' })
    .setClassMethodName('forRoot')
    .setFactoryMethodName('createIAdvizeAuthOptions')
    .setExtras<IAdvizeAuthModuleExtras>(defaults, (definition: DynamicModule, extras: IAdvizeAuthModuleExtras): DynamicModule => {
      const imports = [...(definition.imports ?? [])];
      for (const m of extras.imports ?? []) if (!imports.includes(m)) imports.push(m);
      return {
        ...definition,
        global: extras.isGlobal,
        imports,
        providers: [
          ...(definition.providers ?? []),
          { provide: UserResolver, useClass: extras.userResolver ?? RequestUserResolver },
          ...(extras.extraProviders ?? []),
          // Nothing of the app's in front of the endpoint? Say so at startup (unless a global guard does the job).
          ...(extras.controller !== false && (extras.controller?.guards ?? []).length === 0 ? [UnguardedEndpointWarning] : []),
        ],
        controllers: extras.controller === false ? [] : [createTokenController(extras.controller ?? {})],
      };
    })
    .build();

/**
 * Injection token of the raw options given to `forRoot` / returned by the async factory.
 * @public
 */
export const IADVIZE_AUTH_MODULE_OPTIONS = MODULE_OPTIONS_TOKEN;
