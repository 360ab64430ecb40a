import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { ApplicationConfig } from '@nestjs/core';

/**
 * Registered only when the token endpoint is on and `controller.guards` is
 * empty: at startup, if the app has no global guard either (`APP_GUARD`,
 * `app.useGlobalGuards()`), warns once that nothing authenticates the
 * endpoint, so every request will get `401`. Safe but silent otherwise.
 */
@Injectable()
export class UnguardedEndpointWarning implements OnApplicationBootstrap {
  constructor(private readonly appConfig: ApplicationConfig) {}

  /** Checks the app's global guards once everything is registered. */
  onApplicationBootstrap(): void {
    const globalGuards = this.appConfig.getGlobalGuards().length + this.appConfig.getGlobalRequestGuards().length;
    if (globalGuards > 0) return;
    new Logger('IAdvizeAuthModule').warn(
      'The iAdvize token endpoint has no authentication guard in front of it: nothing sets request.user, so every request gets 401 ' +
        '"Sign in to get an iAdvize token". Set `controller.guards` in IAdvizeAuthModule.forRoot()/forRootAsync(), ' +
        "e.g. `controller: { guards: [AuthGuard('jwt')] }`, or register your authentication guard as a global APP_GUARD. " +
        'Use `controller: false` if you serve tokens from your own controller.',
    );
  }
}
