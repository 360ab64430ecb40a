import { Inject, Logger, Module, Optional, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { IADVIZE_AUTH_CONFIG, IADVIZE_PRODUCTION_KEY_THUMBPRINT } from './iadvize.constants.js';
import { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } from './iadvize-auth.module-definition.js';
import { resolveIAdvizeAuthOptions } from './startup/resolve-options.js';
import type { ResolvedIAdvizeAuthConfig } from './startup/resolved-config.js';
import { IAdvizeAuthEvents } from './events/iadvize-auth-events.service.js';
import { formatInstant } from './keys/key-schedule.js';
import { IAdvizeHealthService } from './health/iadvize-health.service.js';
import { IAdvizeIdentityGuard } from './http/identity.guard.js';
import { IAdvizeExceptionFilter } from './http/iadvize-exception.filter.js';
import { UserResolver } from './http/user.resolver.js';
import { TokenService } from './token/token.service.js';

/**
 * Makes the app the token provider of iAdvize Authenticated Messaging.
 *
 * ```ts
 * IAdvizeAuthModule.forRoot({
 *   issuer: 'https://www.example.com',
 *   signingKey: { file: process.env.IADVIZE_SIGNING_KEY_FILE! },
 *   controller: { guards: [AuthGuard('jwt')] },
 * })
 * ```
 *
 * Provides {@link TokenService}, the {@link UserResolver}, the token
 * endpoint (`POST|GET /iadvize/token`), {@link IAdvizeAuthEvents} (hooks for
 * metrics) and {@link IAdvizeHealthService} (readiness check). Options are validated and keys loaded
 * and self-checked once at startup: a bad configuration fails `app.init()`
 * with one error listing every problem.
 * @public
 */
@Module({
  providers: [
    {
      provide: IADVIZE_AUTH_CONFIG,
      inject: [MODULE_OPTIONS_TOKEN, IAdvizeAuthEvents],
      useFactory: async (options: unknown, events: IAdvizeAuthEvents): Promise<ResolvedIAdvizeAuthConfig> => {
        // The token store is opened here, with the module's events.
        const config = await resolveIAdvizeAuthOptions(options, events);
        const recipient = config.usesProductionIAdvizeKey
          ? `iAdvize production key (thumbprint ${IADVIZE_PRODUCTION_KEY_THUMBPRINT})`
          : `custom iAdvize key (thumbprint ${config.iadvizeKeyThumbprint})`;
        new Logger('IAdvizeAuthModule').log(
          `Signing with ${config.keyProvider.kind} key (thumbprint ${config.signingKeyThumbprint}); encrypting to ${recipient}; token lifetime ${config.tokenTtlSeconds}s; ` +
            (config.tokenStore ? `token store: ${config.tokenStore.description ?? config.tokenStore.kind}` : 'no token store (a fresh token per request)'),
        );
        for (const line of config.signingKeys.isDynamic ? config.signingKeys.describe() : []) {
          if (line.state === 'scheduled' || line.watched) {
            new Logger('IAdvizeAuthModule').log(
              `Key schedule: ${line.source} (thumbprint ${line.thumbprint ?? 'not loaded'})${line.state === 'scheduled' ? ` takes over at ${formatInstant(line.from)}` : ' is in force'}${line.watched ? '; its file is watched for changes' : ''}`,
            );
          }
        }
        return config;
      },
    },
    IAdvizeAuthEvents,
    TokenService,
    IAdvizeHealthService,
    IAdvizeIdentityGuard,
    IAdvizeExceptionFilter,
  ],
  exports: [TokenService, UserResolver, IAdvizeIdentityGuard, IAdvizeExceptionFilter, IAdvizeAuthEvents, IAdvizeHealthService],
})
export class IAdvizeAuthModule extends ConfigurableModuleClass implements OnModuleInit, OnModuleDestroy {
  /** Built by Nest's injector from the module's resolved configuration. @internal */
  constructor(
    @Inject(IADVIZE_AUTH_CONFIG) private readonly config: ResolvedIAdvizeAuthConfig,
    @Optional() private readonly events?: IAdvizeAuthEvents,
  ) {
    super();
  }

  /** Starts the key schedule: key switches are emitted as events; watched key files are polled. */
  onModuleInit(): void {
    const { signingKeys } = this.config;
    signingKeys.attach(this.events);
    signingKeys.start();
  }

  /** Stops the key schedule, releases the key providers (KMS clients, HSM sessions) and the token store's own connections on shutdown. */
  async onModuleDestroy(): Promise<void> {
    await this.config.tokenStore?.close?.();
    await this.config.signingKeys.close();
  }
}
