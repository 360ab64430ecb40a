import { Global, Module, type DynamicModule } from '@nestjs/common';
import { IAdvizeAuthModule } from 'nestjs-iadvize-auth';
import { AuthModule } from './auth/auth.module.js';
import { SessionAuthGuard } from './auth/session-auth.guard.js';
import { SampleUserResolver } from './iadvize/sample-user.resolver.js';
import { PageController } from './page/page.controller.js';
import { SAMPLE_CONFIG, type SampleConfig } from './sample.config.js';

/** Makes the {@link SampleConfig} injectable everywhere (`@Inject(SAMPLE_CONFIG)`). */
@Global()
@Module({})
export class SampleConfigModule {
  /** Provides this run's configuration. */
  static forRoot(config: SampleConfig): DynamicModule {
    return { module: SampleConfigModule, providers: [{ provide: SAMPLE_CONFIG, useValue: config }], exports: [SAMPLE_CONFIG] };
  }
}

/**
 * The sample app: its own sign-in (`AuthModule`), the web page, and the
 * library's module wired to both:
 *
 * - `controller.guards: [SessionAuthGuard]` puts the token endpoint
 *   (`POST|GET /iadvize/token`) behind the app's authentication;
 * - `imports: [AuthModule]` gives the library's module what that guard and the
 *   resolver inject (`SessionStore`, `UserStore`): guard classes are
 *   instantiated inside the library's module;
 * - `userResolver: SampleUserResolver` maps the signed-in user to
 *   `{ userId, visitorData }`.
 */
@Module({})
export class SampleAppModule {
  /** The app for one configuration; `extraImports` adds the demo iAdvize stand-in in demo mode. */
  static forRoot(config: SampleConfig, extraImports: DynamicModule[] = []): DynamicModule {
    return {
      module: SampleAppModule,
      imports: [
        SampleConfigModule.forRoot(config),
        AuthModule,
        IAdvizeAuthModule.forRoot({
          // issuer, signingKey, iadvizePublicKey… from iadvizeAuthOptionsFromEnv() (see sample.config.ts).
          // Demo mode: tokens go to the fake iAdvize's key; real mode: iAdvize's production key by default.
          ...config.iadvizeOptions,
          isGlobal: true, // TokenService and the resolved config are injectable app-wide
          imports: [AuthModule],
          controller: { guards: [SessionAuthGuard] },
          userResolver: SampleUserResolver,
        }),
        ...extraImports,
      ],
      controllers: [PageController],
    };
  }
}
