/**
 * `nestjs-iadvize-auth/prometheus`: Prometheus metrics for the token issuer,
 * fed by {@link IAdvizeAuthEvents}. Only this subpath imports `prom-client`
 * (an optional peer dependency, `^15`); the main entry never does.
 * @packageDocumentation
 */
import type { OnModuleDestroy, Provider } from '@nestjs/common';
import { Counter, Gauge, Histogram, register as globalRegistry, type Registry } from 'prom-client';
import { IAdvizeErrorCode } from '../errors.js';
import { IAdvizeAuthEvents } from '../events/iadvize-auth-events.service.js';

/**
 * Options of {@link IAdvizePrometheusMetrics}.
 * @public
 */
export interface IAdvizePrometheusOptions {
  /** Registry the metrics are registered in. Default: prom-client's global `register`. */
  registry?: Registry;
  /** Prefix of every metric name. Default: `'iadvize_'`. */
  prefix?: string;
  /** Buckets of the signing-duration histogram, in seconds. Default: {@link DEFAULT_SIGNING_DURATION_BUCKETS}. */
  buckets?: number[];
}

/**
 * Default buckets of `iadvize_signing_duration_seconds`: 1 ms (local key) to 10 s (a slow KMS).
 * @public
 */
export const DEFAULT_SIGNING_DURATION_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Metric names (without prefix change) and what they count:
 * - `iadvize_tokens_issued_total{signer}`: tokens minted;
 * - `iadvize_token_errors_total{outcome,code}`: requests that got no token;
 *   `outcome="refused"` (`IADVIZE_UNAUTHENTICATED`, `IADVIZE_INVALID_IDENTITY`) or
 *   `outcome="failed"` (`IADVIZE_SIGNING_UNAVAILABLE`, `IADVIZE_SIGNATURE_MISMATCH`);
 * - `iadvize_signing_duration_seconds{signer,outcome}`: histogram of the time to
 *   mint one token (claims, signature, encryption), `outcome="issued"|"failed"`;
 * - `iadvize_signer_up{signer}`: 1 or 0, the result of the last fresh health check
 *   (set only when the app runs health checks);
 * - with a shared `tokenStore` (`nestjs-iadvize-auth/redis`):
 *   `iadvize_token_store_hits_total{source,stale}` (tokens served without a
 *   signature, `source="local"|"shared"`, `stale="true"` past the reuse window
 *   because the budget was spent), `iadvize_token_store_coalesced_waits_total{outcome}`
 *   (`"shared"`, `"timeout"`), `iadvize_signing_budget_refusals_total{scope,served}`
 *   (`scope="fleet"|"replica"`, `served="cached"|"none"`),
 *   `iadvize_token_store_rejected_total{reason}` (values read from the store
 *   that were not used: `"unauthenticated"`, `"malformed"`, `"out-of-range"`,
 *   `"budget-state"`), `iadvize_token_store_errors_total{store,operation}` and
 *   `iadvize_token_store_up{store}` (0 once the store counts as down, 1 again on recovery);
 * - `iadvize_signing_key_switches_total{reason}`: signing key switches,
 *   `reason="schedule"` (a scheduled instant passed) or `reason="reload"` (a watched key file changed);
 * - `iadvize_signing_key_reload_failures_total`: changed key files that were refused (the current key stayed).
 * @public
 */
export const IADVIZE_METRIC_NAMES = {
  tokensIssued: 'tokens_issued_total',
  tokenErrors: 'token_errors_total',
  signingDuration: 'signing_duration_seconds',
  signerUp: 'signer_up',
  storeHits: 'token_store_hits_total',
  coalescedWaits: 'token_store_coalesced_waits_total',
  budgetRefusals: 'signing_budget_refusals_total',
  storeErrors: 'token_store_errors_total',
  storeRejected: 'token_store_rejected_total',
  storeUp: 'token_store_up',
  keySwitches: 'signing_key_switches_total',
  keyReloadFailures: 'signing_key_reload_failures_total',
} as const;

const REFUSED_CODES = [IAdvizeErrorCode.Unauthenticated, IAdvizeErrorCode.InvalidIdentity];
const FAILED_CODES = [IAdvizeErrorCode.SigningUnavailable, IAdvizeErrorCode.SignatureMismatch];

/**
 * Subscribes to {@link IAdvizeAuthEvents} and records Prometheus metrics
 * (names in {@link IADVIZE_METRIC_NAMES}). Labels never carry user data.
 * Register it with {@link provideIAdvizePrometheusMetrics}, or build it by hand
 * with the module's `IAdvizeAuthEvents` and call {@link dispose} when done.
 *
 * When a metric of the same name already exists in the registry (an app
 * re-created in tests), it is reused instead of failing.
 * @public
 */
export class IAdvizePrometheusMetrics implements OnModuleDestroy {
  /** `iadvize_tokens_issued_total{signer}`. */
  readonly tokensIssued: Counter<'signer'>;
  /** `iadvize_token_errors_total{outcome,code}`. */
  readonly tokenErrors: Counter<'outcome' | 'code'>;
  /** `iadvize_signing_duration_seconds{signer,outcome}`. */
  readonly signingDuration: Histogram<'signer' | 'outcome'>;
  /** `iadvize_signer_up{signer}`. */
  readonly signerUp: Gauge<'signer'>;
  /** `iadvize_token_store_hits_total{source,stale}`. */
  readonly storeHits: Counter<'source' | 'stale'>;
  /** `iadvize_token_store_coalesced_waits_total{outcome}`. */
  readonly coalescedWaits: Counter<'outcome'>;
  /** `iadvize_token_store_rejected_total{reason}`. */
  readonly storeRejected: Counter<'reason'>;
  /** `iadvize_signing_budget_refusals_total{scope,served}`. */
  readonly budgetRefusals: Counter<'scope' | 'served'>;
  /** `iadvize_token_store_errors_total{store,operation}`. */
  readonly storeErrors: Counter<'store' | 'operation'>;
  /** `iadvize_token_store_up{store}`. */
  readonly storeUp: Gauge<'store'>;
  /** `iadvize_signing_key_switches_total{reason}`. */
  readonly keySwitches: Counter<'reason'>;
  /** `iadvize_signing_key_reload_failures_total`. */
  readonly keyReloadFailures: Counter;
  private readonly unsubscribe: Array<() => void>;

  constructor(events: IAdvizeAuthEvents, options: IAdvizePrometheusOptions = {}) {
    const registry = options.registry ?? globalRegistry;
    const prefix = options.prefix ?? 'iadvize_';
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(prefix)) {
      throw new TypeError(`IAdvizePrometheusMetrics: prefix "${prefix}" is not a valid Prometheus metric name prefix (letters, digits, "_" and ":", not starting with a digit)`);
    }
    const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;
    const name = (key: keyof typeof IADVIZE_METRIC_NAMES) => `${prefix}${IADVIZE_METRIC_NAMES[key]}`;

    this.tokensIssued =
      existing<Counter<'signer'>>(name('tokensIssued')) ??
      new Counter({ name: name('tokensIssued'), help: 'iAdvize tokens issued, by signer kind', labelNames: ['signer'], registers: [registry] });
    this.tokenErrors =
      existing<Counter<'outcome' | 'code'>>(name('tokenErrors')) ??
      new Counter({
        name: name('tokenErrors'),
        help: 'iAdvize token requests that got no token, by outcome (refused, failed) and error code',
        labelNames: ['outcome', 'code'],
        registers: [registry],
      });
    this.signingDuration =
      existing<Histogram<'signer' | 'outcome'>>(name('signingDuration')) ??
      new Histogram({
        name: name('signingDuration'),
        help: 'Time to mint one iAdvize token (claims, RS256 signature, JWE encryption), in seconds, by signer kind and outcome',
        labelNames: ['signer', 'outcome'],
        buckets: [...(options.buckets ?? DEFAULT_SIGNING_DURATION_BUCKETS)],
        registers: [registry],
      });
    this.signerUp =
      existing<Gauge<'signer'>>(name('signerUp')) ??
      new Gauge({ name: name('signerUp'), help: 'Last signer health check: 1 healthy, 0 unhealthy', labelNames: ['signer'], registers: [registry] });

    const counter = <L extends string>(key: keyof typeof IADVIZE_METRIC_NAMES, help: string, labelNames: L[]): Counter<L> =>
      existing<Counter<L>>(name(key)) ?? new Counter({ name: name(key), help, labelNames, registers: [registry] });
    this.storeHits = counter('storeHits', 'iAdvize tokens served by the shared token store without a signature, by source (local, shared) and stale', ['source', 'stale']);
    this.coalescedWaits = counter('coalescedWaits', 'Token requests that waited for another request\'s signature of the same identity, by outcome (shared, timeout)', ['outcome']);
    this.budgetRefusals = counter('budgetRefusals', 'Signatures refused by the signing budget, by scope (fleet, replica) and what was served (cached, none)', ['scope', 'served']);
    this.storeRejected = counter('storeRejected', 'Values read from the shared token store that were not used (unauthenticated, malformed, out-of-range, budget-state)', ['reason']);
    this.storeErrors = counter('storeErrors', 'Failed or timed-out commands to the shared token store, by store and operation', ['store', 'operation']);
    this.storeUp =
      existing<Gauge<'store'>>(name('storeUp')) ??
      new Gauge({ name: name('storeUp'), help: 'Shared token store: 1 answering, 0 failing (set on the first error and on recovery)', labelNames: ['store'], registers: [registry] });
    this.keySwitches =
      existing<Counter<'reason'>>(name('keySwitches')) ??
      new Counter({ name: name('keySwitches'), help: 'Signing key switches, by reason (schedule, reload)', labelNames: ['reason'], registers: [registry] });
    this.keyReloadFailures =
      existing<Counter>(name('keyReloadFailures')) ??
      new Counter({ name: name('keyReloadFailures'), help: 'Changed key files refused (the current signing key stayed in force)', registers: [registry] });

    // Known series start at 0, so rate() and absent-series alerts work from the first scrape.
    for (const code of REFUSED_CODES) this.tokenErrors.inc({ outcome: 'refused', code }, 0);
    for (const code of FAILED_CODES) this.tokenErrors.inc({ outcome: 'failed', code }, 0);

    this.unsubscribe = [
      events.on('token.issued', (e) => {
        this.tokensIssued.inc({ signer: e.signerKind });
        this.signingDuration.observe({ signer: e.signerKind, outcome: 'issued' }, e.durationMs / 1000);
      }),
      events.on('token.refused', (e) => this.tokenErrors.inc({ outcome: 'refused', code: e.code })),
      events.on('signer.failure', (e) => {
        this.tokenErrors.inc({ outcome: 'failed', code: e.code });
        this.signingDuration.observe({ signer: e.signerKind, outcome: 'failed' }, e.durationMs / 1000);
      }),
      events.on('health.checked', (e) => this.signerUp.set({ signer: e.signerKind }, e.healthy ? 1 : 0)),
      events.on('store.hit', (e) => this.storeHits.inc({ source: e.source, stale: String(e.stale) })),
      events.on('store.coalesced', (e) => this.coalescedWaits.inc({ outcome: e.outcome })),
      events.on('budget.refused', (e) => this.budgetRefusals.inc({ scope: e.scope, served: e.served })),
      events.on('store.error', (e) => {
        this.storeErrors.inc({ store: e.store, operation: e.operation });
        if (e.down !== false) this.storeUp.set({ store: e.store }, 0);
      }),
      events.on('store.rejected', (e) => this.storeRejected.inc({ reason: e.reason })),
      events.on('store.recovered', (e) => this.storeUp.set({ store: e.store }, 1)),
      events.on('signing.key.switched', (e) => this.keySwitches.inc({ reason: e.reason })),
      events.on('signing.key.reload.failed', () => this.keyReloadFailures.inc()),
    ];
  }

  /** Stops recording (the metrics stay in the registry). */
  dispose(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  /** Calls {@link dispose} on application shutdown. */
  onModuleDestroy(): void {
    this.dispose();
  }
}

/**
 * A provider of {@link IAdvizePrometheusMetrics}, for `extraProviders` of
 * `IAdvizeAuthModule` (or any module that can inject `IAdvizeAuthEvents`):
 *
 * ```ts
 * IAdvizeAuthModule.forRoot({ ..., extraProviders: [provideIAdvizePrometheusMetrics({ registry })] })
 * ```
 * @public
 */
export function provideIAdvizePrometheusMetrics(options: IAdvizePrometheusOptions = {}): Provider {
  return {
    provide: IAdvizePrometheusMetrics,
    inject: [IAdvizeAuthEvents],
    useFactory: (events: IAdvizeAuthEvents) => new IAdvizePrometheusMetrics(events, options),
  };
}
