import type { KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Inject, Injectable, Optional, type OnModuleInit } from '@nestjs/common';
import { IAdvizeErrorCode } from '../errors.js';
import { IAdvizeAuthEvents, type SignerFailureCode } from '../events/iadvize-auth-events.service.js';
import { IADVIZE_AUTH_CONFIG, IADVIZE_USER_ID_CLAIM, IADVIZE_VISITOR_DATA_CLAIM } from '../iadvize.constants.js';
import type { ResolvedIAdvizeAuthConfig } from '../startup/resolved-config.js';
import { b64url, compactEncrypt, jwsSigningInput } from './compact.js';
import { validateIdentity, type IAdvizeUser } from './identity.js';
import { ownValue } from './own-property.js';
import type { IAdvizeClaims, IAdvizeToken } from './iadvize-token.js';
import type { OpenTokenStore } from './token-store.js';
import type { SigningKeyInForce } from '../keys/signing-key-check.js';
import { signerFailureCodeOf, signVerified } from '../keys/sign-with-deadline.js';

export type { IAdvizeClaims, IAdvizeToken } from './iadvize-token.js';

/**
 * The signing key in force, as {@link TokenService.currentSigningKey} shows it:
 * public information only.
 * @public
 */
export interface SigningKeyInfo {
  /** The public half of the key (the key to register with iAdvize). */
  readonly publicKey: KeyObject;
  /** Its RFC 7638 thumbprint. */
  readonly thumbprint: string;
}

/**
 * Mints iAdvize Authenticated Messaging tokens: an RS256 JWT signed by the
 * configured key provider, nested in an RSA-OAEP-256/A256GCM JWE encrypted to
 * iAdvize's public key. Every call mints a fresh token.
 *
 * Inject it to write your own endpoint, or use the module's built-in one.
 * Every call emits one event on {@link IAdvizeAuthEvents}: `token.issued`,
 * `token.refused` (invalid identity) or `signer.failure`.
 * @public
 */
@Injectable()
export class TokenService implements OnModuleInit {
  private readonly textEncoder = new TextEncoder();
  private readonly store?: OpenTokenStore;
  /** Where the service reports issued tokens and failures (the module's instance; a private one when built by hand). */
  readonly events: IAdvizeAuthEvents;

  /** Built by Nest's injector from the module's resolved configuration. @internal */
  constructor(
    @Inject(IADVIZE_AUTH_CONFIG) private readonly config: ResolvedIAdvizeAuthConfig,
    @Optional() events?: IAdvizeAuthEvents,
  ) {
    // The module's instance, which the store was opened with (config.events is the same one).
    this.events = events ?? config.events ?? new IAdvizeAuthEvents();
    this.store = config.tokenStore;
  }

  /** Connects the token store, if it connects (bounded: a store that cannot connect follows its failure policy). */
  async onModuleInit(): Promise<void> {
    await this.store?.connect?.();
  }

  /**
   * Mints a token for `identity` (or, with a token store — `tokenCache` or
   * `tokenStore` — returns one minted for the same identity, within its rules).
   *
   * @throws InvalidIdentityError when the identity breaks iAdvize's rules
   * @throws SigningUnavailableError when the signing backend fails or times out
   * @throws SignatureMismatchError when a remote signer's signature does not verify
   */
  async createToken(identity: IAdvizeUser): Promise<IAdvizeToken> {
    const started = performance.now();
    let valid: IAdvizeUser;
    try {
      valid = validateIdentity(identity);
    } catch (e) {
      if (this.events.listening('token.refused')) this.emitRefused(identity);
      throw e;
    }
    // One look at the key in force per token: it signs, and it keys the cache.
    const now = this.config.clock();
    const key = this.keyInForce(now);
    if (this.store) {
      let ownMintFailed = false;
      try {
        // The store keys entries by the thumbprint in force when the request came; a mint after a wait
        // signs with the key in force then (after a switch, the new key: never an old-key token).
        const mintNow = () => {
          const at = this.config.clock();
          return this.mint(valid, started, this.keyInForce(at), at).catch((e: unknown) => {
            ownMintFailed = true; // mint() already emitted signer.failure
            throw e;
          });
        };
        const { token, cached } = await this.store.issue(valid, mintNow, key.thumbprint);
        if (cached && this.events.listening('token.issued')) this.emitCachedIssue(valid.userId, started, key.provider.kind);
        return token;
      } catch (e) {
        // Budget spent, store down and failing closed, or another request's signature failed: one event per request.
        if (!ownMintFailed && this.events.listening('signer.failure')) this.emitSignerFailure(e, started, valid.userId, key.provider.kind);
        throw e;
      }
    }
    return this.mint(valid, started, key, now);
  }

  /**
   * The signing key in force at `now` (default: the module clock): its
   * public half and RFC 7638 thumbprint. It changes at a scheduled instant
   * (`signingKey.schedule`) or when a watched key file is reloaded; anything
   * that caches tokens must key them by its `thumbprint`.
   */
  currentSigningKey(now: number = this.config.clock()): SigningKeyInfo {
    const { publicKey, thumbprint } = this.keyInForce(now);
    return { publicKey, thumbprint };
  }

  /** The `iss` claim of every token: the `issuer` option. */
  get issuer(): string {
    return this.config.issuer;
  }

  private keyInForce(now: number): SigningKeyInForce {
    return this.config.signingKeys.currentKey(now);
  }

  private async mint(valid: IAdvizeUser, started: number, key: SigningKeyInForce, now: number): Promise<IAdvizeToken> {
    const userId = valid.userId;
    const visitorData = ownVisitorData(valid);
    const iat = Math.floor(now / 1000);
    const exp = iat + this.config.tokenTtlSeconds;
    const claims: IAdvizeClaims = { [IADVIZE_USER_ID_CLAIM]: userId, iss: this.config.issuer, iat, exp } as IAdvizeClaims;
    if (visitorData) claims[IADVIZE_VISITOR_DATA_CLAIM] = visitorData as Record<string, string>;
    const signingInput = jwsSigningInput(claims);
    let token: string;
    try {
      const signature = await this.sign(signingInput, key);
      const jws = `${signingInput}.${b64url(signature)}`;
      token = compactEncrypt(jws, this.config.iadvizePublicKey);
    } catch (e) {
      if (this.events.listening('signer.failure')) this.emitSignerFailure(e, started, userId, key.provider.kind);
      throw e;
    }
    if (this.events.listening('token.issued')) {
      this.events.emit('token.issued', {
        durationMs: performance.now() - started,
        signerKind: key.provider.kind,
        userIdHash: this.events.hashUserId(userId),
      });
    }
    return { token, expiresAt: exp };
  }

  /** The RFC 7638 thumbprint of the signing key in force now (for logs; never the key). */
  get signingKeyThumbprint(): string {
    return this.currentSigningKey().thumbprint;
  }

  /** The RFC 7638 thumbprint of the iAdvize key tokens are encrypted to. */
  get iadvizeKeyThumbprint(): string {
    return this.config.iadvizeKeyThumbprint;
  }

  private emitCachedIssue(userId: string, started: number, signerKind: string): void {
    this.events.emit('token.issued', {
      durationMs: performance.now() - started,
      signerKind,
      userIdHash: this.events.hashUserId(userId),
      cached: true,
    });
  }

  private emitRefused(identity: unknown): void {
    let userId: unknown;
    try {
      userId = identity !== null && typeof identity === 'object' ? ownValue(identity, 'userId') : undefined;
    } catch {
      userId = undefined; // a hostile getter: the refusal is reported without a hash
    }
    this.events.emit('token.refused', {
      code: IAdvizeErrorCode.InvalidIdentity,
      userIdHash: typeof userId === 'string' ? this.events.hashUserId(userId) : undefined,
    });
  }

  private emitSignerFailure(e: unknown, started: number, userId: string, signerKind: string): void {
    const code: SignerFailureCode = signerFailureCodeOf(e);
    this.events.emit('signer.failure', {
      code,
      signerKind,
      durationMs: performance.now() - started,
      userIdHash: this.events.hashUserId(userId),
    });
  }

  /** Signs by the one verified-signing path (a local provider of the library's own is trusted here only). */
  private sign(signingInput: string, key: SigningKeyInForce): Promise<Uint8Array> {
    const input = this.textEncoder.encode(signingInput);
    return signVerified(key.provider, key.publicKey, input, { timeoutMs: this.config.signingTimeoutMs, purpose: 'token' });
  }
}

/** The clean identity's visitor data, read as an own property (never one inherited from a polluted prototype). */
function ownVisitorData(valid: IAdvizeUser): IAdvizeUser['visitorData'] {
  return Object.hasOwn(valid, 'visitorData') ? valid.visitorData : undefined;
}
