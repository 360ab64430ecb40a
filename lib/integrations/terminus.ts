/**
 * `nestjs-iadvize-auth/terminus`: a `@nestjs/terminus` health indicator for
 * the token issuer. Only this subpath imports `@nestjs/terminus` (an optional
 * peer dependency, `^11 || ^12`); the main entry never does.
 * @packageDocumentation
 */
import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { IAdvizeHealthService, type IAdvizeHealthCheckOptions } from '../health/iadvize-health.service.js';

/**
 * Default key of the indicator in the health check response.
 * @public
 */
export const IADVIZE_HEALTH_INDICATOR_KEY = 'iadvize';

/**
 * Terminus health indicator running the signer self-check of
 * {@link IAdvizeHealthService} (cached for 10 s by default, so a KMS is not
 * signed against on every probe). `up` when a probe is signed and verifies;
 * `down` (the endpoint answers 503) with the error `code` otherwise.
 *
 * Register it in a module that imports `TerminusModule` and can inject
 * `IAdvizeHealthService` (the module importing `IAdvizeAuthModule`, or any
 * module when `isGlobal: true`):
 *
 * ```ts
 * @Controller('health')
 * class HealthController {
 *   constructor(private readonly health: HealthCheckService, private readonly iadvize: IAdvizeHealthIndicator) {}
 *   @Get() @HealthCheck()
 *   check() { return this.health.check([() => this.iadvize.isHealthy()]); }
 * }
 *
 * @Module({
 *   imports: [TerminusModule, IAdvizeAuthModule.forRoot({ ... })],
 *   controllers: [HealthController],
 *   providers: [IAdvizeHealthIndicator],
 * })
 * export class AppModule {}
 * ```
 * @public
 */
@Injectable()
export class IAdvizeHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly health: IAdvizeHealthService,
  ) {}

  /**
   * Checks the signer and reports it under `key`.
   * Data: `signer` (provider kind), `checkedAt` (ISO date), `durationMs`,
   * `cached`, and when down `code`. The failure's message is logged, not put
   * in the body: health endpoints are often public, and a message may name a
   * key ARN, a vault host or a permission.
   */
  async isHealthy<const Key extends string = typeof IADVIZE_HEALTH_INDICATOR_KEY>(
    key: Key = IADVIZE_HEALTH_INDICATOR_KEY as Key,
    options?: IAdvizeHealthCheckOptions,
  ): Promise<HealthIndicatorResult<Key>> {
    const indicator = this.indicators.check(key);
    const result = await this.health.check(options);
    const data = {
      signer: result.signerKind,
      checkedAt: new Date(result.checkedAt).toISOString(),
      durationMs: Math.round(result.durationMs * 1000) / 1000,
      cached: result.cached,
    };
    if (result.healthy) return indicator.up(data);
    return indicator.down({ ...data, code: result.code });
  }
}
