import type { INestApplication, LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { SampleAppModule } from './sample-app.module.js';
import type { SampleConfig } from './sample.config.js';

/** Options of {@link createSampleApp}. */
export interface CreateSampleAppOptions {
  /** Nest logger setting. Default: Nest's console logger. */
  logger?: LoggerService | LogLevel[] | false;
}

/**
 * Builds the sample app (not listening yet): the modules, the security
 * headers and the CSRF protection. `main.ts` and the tests share it.
 */
export async function createSampleApp(config: SampleConfig, options: CreateSampleAppOptions = {}): Promise<INestApplication> {
  const extraImports = [];
  if (config.mode === 'demo') {
    if (!config.fakeIAdvize) throw new Error('Demo mode needs the fake iAdvize of loadSampleConfig()');
    const { DemoIAdvizeModule } = await import('./demo/demo-iadvize.module.js');
    extraImports.push(DemoIAdvizeModule.forRoot(config.fakeIAdvize));
  }
  const app = await NestFactory.create(SampleAppModule.forRoot(config, extraImports), new ExpressAdapter(), {
    // Throw startup errors (e.g. an unreadable key file) to the caller instead of exiting.
    abortOnError: false,
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
  });

  // Security headers (helmet's defaults, built into Nest 12). The demo page
  // runs only same-origin scripts, so the default Content-Security-Policy fits
  // (minus upgrade-insecure-requests: the sample is served over plain HTTP on
  // localhost). The real iAdvize tag loads scripts, frames and sockets from
  // iAdvize's hosts: the sample sends no CSP in real mode; write yours from
  // iAdvize's integration guidance.
  app.useSecurityHeaders({
    contentSecurityPolicy: config.mode === 'demo' ? { directives: { upgradeInsecureRequests: null } } : false,
  });
  // CSRF, first layer: refuse state-changing requests the browser reports as
  // cross-origin (Sec-Fetch-Site / Origin). Second layer: SessionAuthGuard
  // requires X-Requested-With on cookie-authenticated calls. Third: the
  // session cookie is SameSite=Lax.
  app.enableCsrfProtection();
  return app;
}
