import { performance } from 'node:perf_hooks';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { IAdvizeAuthError, IAdvizeErrorCode } from '../errors.js';
import { IAdvizeAuthEvents, type SignerFailureCode } from '../events/iadvize-auth-events.service.js';
import { IADVIZE_AUTH_CONFIG, JWS_ALGORITHM } from '../iadvize.constants.js';
import { b64url, jwsSigningInput } from '../token/compact.js';
import type { ResolvedIAdvizeAuthConfig } from '../startup/resolved-config.js';
import type { SigningKeyInForce } from '../keys/signing-key-check.js';
import { signerFailureCodeOf, signVerified } from '../keys/sign-with-deadline.js';
import type { TokenStoreStatus } from '../token/token-store.js';

/**
 * Default of {@link IAdvizeHealthCheckOptions.maxAgeSeconds}.
 * @public
 */
export const DEFAULT_HEALTH_MAX_AGE_SECONDS = 10;

/**
 * Options of {@link IAdvizeHealthService.check}.
 * @public
 */
export interface IAdvizeHealthCheckOptions {
  /**
   * Reuse the last result while it is younger than this, in seconds, so a
   * KMS is not hit on every probe. `0` always runs a fresh check (concurrent
   * callers still share one). Default: 10.
   */
  maxAgeSeconds?: number;
}

/**
 * Result of a signer self-check. Carries no key material.
 * @public
 */
export interface IAdvizeHealthResult {
  /** `true` when a probe was signed and verified with the signing key's public half. */
  healthy: boolean;
  /** The key provider's `kind`, e.g. `'file'`, `'aws-kms'`. */
  signerKind: string;
  /** RFC 7638 thumbprint of the signing key's public half. */
  signingKeyThumbprint: string;
  /** When the check ran (milliseconds since the epoch, module `clock`). */
  checkedAt: number;
  /** How long the check took, in milliseconds. */
  durationMs: number;
  /** `true` when this result comes from the cache rather than a new check. */
  cached: boolean;
  /** When unhealthy: `IADVIZE_SIGNING_UNAVAILABLE` or `IADVIZE_SIGNATURE_MISMATCH`. */
  code?: SignerFailureCode;
  /** When unhealthy: what went wrong, without secrets (the library's own message, never the backend's). */
  message?: string;
  /**
   * `true` when the shared `tokenStore` is down or refuses writes (checked
   * afresh on every call with a write-and-read round trip): with
   * `failurePolicy: 'open'` the replica still serves (in-process cache and a
   * share of the signing budget) but no longer as part of the fleet, and stays
   * `healthy`; with `'closed'` it is also not `healthy`. Absent without a `tokenStore`.
   */
  degraded?: boolean;
  /** The shared `tokenStore`'s status (checked afresh on every call), when one is configured. */
  tokenStore?: TokenStoreStatus;
}

/**
 * Readiness check of the token issuer: signs a probe with the configured key
 * provider (with the `signingTimeoutMs` deadline) and verifies it with the
 * public key cached at startup, which catches an unreachable, throttled or
 * misconfigured KMS/HSM before users do.
 *
 * Results are cached for {@link IAdvizeHealthCheckOptions.maxAgeSeconds}
 * (default 10 s) and concurrent callers share one in-flight check, so
 * frequent probes cost at most one signature per period. Each fresh failure
 * is logged once (`Logger` context `IAdvizeHealthService`) with its code.
 *
 * ```ts
 * @Get('ready')
 * async ready() {
 *   const r = await this.health.check();
 *   if (!r.healthy) throw new ServiceUnavailableException(r.code);
 *   return { status: 'ok' };
 * }
 * ```
 *
 * For `@nestjs/terminus`, use `IAdvizeHealthIndicator` from `nestjs-iadvize-auth/terminus`.
 * @public
 */
@Injectable()
export class IAdvizeHealthService {
  private readonly logger = new Logger('IAdvizeHealthService');
  private last: IAdvizeHealthResult | undefined;
  private inFlight: Promise<IAdvizeHealthResult> | undefined;
  private readonly events: IAdvizeAuthEvents;

  /** Built by Nest's injector from the module's resolved configuration. @internal */
  constructor(
    @Inject(IADVIZE_AUTH_CONFIG) private readonly config: ResolvedIAdvizeAuthConfig,
    @Optional() events?: IAdvizeAuthEvents,
  ) {
    this.events = events ?? new IAdvizeAuthEvents();
  }

  /**
   * The signer's health: the cached result when younger than `maxAgeSeconds`,
   * else the result of a fresh self-check (shared with concurrent callers).
   * Never throws for an unhealthy signer; it returns `healthy: false`.
   */
  async check(options: IAdvizeHealthCheckOptions = {}): Promise<IAdvizeHealthResult> {
    const maxAgeSeconds = options.maxAgeSeconds ?? DEFAULT_HEALTH_MAX_AGE_SECONDS;
    if (typeof maxAgeSeconds !== 'number' || !(maxAgeSeconds >= 0)) {
      throw new TypeError(`IAdvizeHealthService.check: maxAgeSeconds must be a number >= 0 (got ${String(maxAgeSeconds)})`);
    }
    const store = this.config.tokenStore;
    const [signer, storeStatus] = await Promise.all([this.signerCheck(maxAgeSeconds), store?.status?.()]);
    if (storeStatus === undefined) return signer;
    if (!storeStatus.up && storeStatus.failurePolicy === 'closed' && signer.healthy) {
      // Failing closed, a store that cannot take writes means no new token: not ready.
      return { ...signer, healthy: false, code: IAdvizeErrorCode.SigningUnavailable, message: `token store "${storeStatus.kind}" (failurePolicy "closed"): ${storeStatus.message ?? 'down'}`, degraded: true, tokenStore: storeStatus };
    }
    return { ...signer, degraded: !storeStatus.up, tokenStore: storeStatus };
  }

  private signerCheck(maxAgeSeconds: number): Promise<IAdvizeHealthResult> {
    const last = this.last;
    // A result about another key (before a key switch) is not reused.
    if (last !== undefined && last.signingKeyThumbprint === this.keyInForce(this.now()).thumbprint) {
      const age = this.now() - last.checkedAt;
      if (age >= 0 && age < maxAgeSeconds * 1000) return Promise.resolve({ ...last, cached: true });
    }
    if (this.inFlight === undefined) {
      this.inFlight = this.runCheck().finally(() => {
        this.inFlight = undefined;
      });
    }
    return this.inFlight;
  }

  /** The module clock; the system clock when the module's one fails (tokens fail then, but the check still reports the signer). */
  private now(): number {
    try {
      return this.config.clock();
    } catch {
      return Date.now();
    }
  }

  /** The signing key in force at `now` (it changes at a scheduled instant or a key file reload). */
  private keyInForce(now: number): SigningKeyInForce {
    return this.config.signingKeys.currentKey(now);
  }

  private async runCheck(): Promise<IAdvizeHealthResult> {
    const { signingTimeoutMs } = this.config;
    const checkedAt = this.now();
    // The key in force now, read once (it changes at a scheduled instant or a key file reload).
    const { provider: keyProvider, publicKey: signingPublicKey, thumbprint } = this.keyInForce(checkedAt);
    const started = performance.now();
    let failure: IAdvizeAuthError | undefined;
    const probe = healthProbe(checkedAt);
    try {
      await signVerified(keyProvider, signingPublicKey, probe, { timeoutMs: signingTimeoutMs, purpose: 'health' });
    } catch (e) {
      // signVerified throws only the library's own errors (anything else arrives wrapped).
      failure = e as IAdvizeAuthError;
    }
    const durationMs = performance.now() - started;
    const code: SignerFailureCode | undefined =
      failure === undefined ? undefined : signerFailureCodeOf(failure);
    const result: IAdvizeHealthResult = {
      healthy: failure === undefined,
      signerKind: keyProvider.kind,
      signingKeyThumbprint: thumbprint,
      checkedAt,
      durationMs,
      cached: false,
      ...(failure === undefined ? {} : { code, message: failure.message }),
    };
    if (failure !== undefined) this.logger.warn(`${code}: signer health check failed: ${failure.message}`);
    this.last = result;
    if (this.events.listening('health.checked')) {
      this.events.emit('health.checked', { healthy: result.healthy, signerKind: result.signerKind, durationMs, ...(code ? { code } : {}) });
    }
    return { ...result };
  }
}

/** The bytes signed by a health check: a JWS signing input no iAdvize token could be mistaken for. */
function healthProbe(nowMs: number): Uint8Array {
  return new TextEncoder().encode(jwsSigningInput({ iss: 'nestjs-iadvize-auth health check', iat: Math.floor(nowMs / 1000) }, HEALTH_PROBE_HEADER_B64));
}

/** The probe's JWS header: its own `typ`, so a probe signature is never an iAdvize token's. */
const HEALTH_PROBE_HEADER_B64 = b64url(JSON.stringify({ alg: JWS_ALGORITHM, typ: 'nestjs-iadvize-auth-health-probe' }));
