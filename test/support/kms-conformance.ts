/**
 * The conformance suite every KMS / HSM key provider passes. Call
 * {@link describeKeyProviderConformance} from a provider's spec with a harness
 * that builds providers against the real backend or its loopback stand-in.
 */
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import {
  InvalidOptionsError,
  SignatureMismatchError,
  SigningUnavailableError,
  TokenService,
  type KeyProvider,
} from '../../lib/index.js';
import { resolveIAdvizeAuthOptions } from '../../lib/startup/resolve-options.js';
import { FakeIAdvize } from '../../lib/testing/index.js';
import { MAX_SIGNING_TIMEOUT_MS } from '../../lib/options/option.defaults.js';
import { expectNoSecrets } from './keys.js';

const ISSUER = 'https://brand.example';

/** What a provider spec hands the conformance suite. */
export interface ConformanceHarness {
  /** A provider of a healthy backend (a new instance per call). */
  provider(): KeyProvider;
  /**
   * Providers whose backend signs with something other than the key it
   * publishes (another key, PSS…). `arm` puts the backend in that state and
   * `disarm` restores it.
   */
  mismatches: Array<{ label: string; provider: () => KeyProvider; arm?: () => void | Promise<void>; disarm?: () => void | Promise<void> }>;
  /** A provider configured with a credential / PIN the backend refuses. */
  refused(): KeyProvider;
  /** Secret values used in the configurations (tokens, PINs, keys) that must never appear in messages. */
  secrets: string[];
  /** The public key the backend holds, read independently of the provider. */
  backendPublicKey(): KeyObject;
}

function allText(e: unknown): string {
  const err = e as Error & { problems?: string[] };
  return [err?.message, err?.stack, ...(err?.problems ?? [])].filter(Boolean).join('\n');
}

function expectClean(text: string, secrets: string[]): void {
  expectNoSecrets(text);
  for (const s of secrets) if (s) expect(text).not.toContain(s);
}

/**
 * Registers the shared conformance tests for one provider. `setup` runs in a
 * `beforeAll` and returns the harness.
 */
export function describeKeyProviderConformance(name: string, setup: () => ConformanceHarness | Promise<ConformanceHarness>): void {
  describe(`${name}: KeyProvider conformance`, () => {
    let h: ConformanceHarness;
    let iadvize: FakeIAdvize;
    const open: KeyProvider[] = [];
    const track = (p: KeyProvider) => {
      open.push(p);
      return p;
    };

    beforeAll(async () => {
      h = await setup();
      iadvize = await FakeIAdvize.create();
    });

    afterAll(async () => {
      for (const p of open) await p.close?.().catch(() => undefined);
    });

    async function service(provider: KeyProvider, extra: Record<string, unknown> = {}) {
      const config = await resolveIAdvizeAuthOptions({ issuer: ISSUER, signingKey: provider, iadvizePublicKey: iadvize.publicKeyPem, ...extra });
      return { service: new TokenService(config), config };
    }

    it('is an RS256 remote provider whose public key is the backend\'s (RSA >= 2048 bits)', async () => {
      const p = track(h.provider());
      expect(p.alg).toBe('RS256');
      expect(p.inProcess).not.toBe(true);
      await p.init?.();
      const pub = await p.getPublicKey();
      expect(pub.type).toBe('public');
      expect(pub.asymmetricKeyType).toBe('rsa');
      expect(pub.asymmetricKeyDetails?.modulusLength).toBeGreaterThanOrEqual(2048);
      const expected = h.backendPublicKey().export({ format: 'jwk' });
      expect(pub.export({ format: 'jwk' })).toEqual(expected);
      expectClean(p.describe?.() ?? '', h.secrets);
    });

    it('mints tokens that FakeIAdvize opens to the right user', async () => {
      const p = track(h.provider());
      const { service: tokens, config } = await service(p);
      const brandPublicPem = config.signingPublicKey.export({ type: 'spki', format: 'pem' }).toString();
      for (const userId of ['customer-42', 'ünïcødé-user']) {
        const { token } = await tokens.createToken({ userId, visitorData: { firstName: 'Jane', email: 'jane@example.com' } });
        const opened = await iadvize.open(token, brandPublicPem, { issuer: ISSUER });
        expect(opened.userId).toBe(userId);
        expect(opened.visitorData).toEqual({ firstName: 'Jane', email: 'jane@example.com' });
        expect(opened.jwsHeader.alg).toBe('RS256');
      }
    });

    it('signs 64 concurrent tokens, all valid for their own user', async () => {
      const p = track(h.provider());
      // What is checked is correctness under concurrency, not speed: the longest
      // accepted deadline keeps a loaded machine from turning it into a timing test.
      const { service: tokens } = await service(p, { signingTimeoutMs: MAX_SIGNING_TIMEOUT_MS });
      const pub = (await p.getPublicKey()).export({ type: 'spki', format: 'pem' }).toString();
      const users = Array.from({ length: 64 }, (_, i) => `user-${i}`);
      const minted = await Promise.all(users.map((userId) => tokens.createToken({ userId })));
      expect(new Set(minted.map((m) => m.token)).size).toBe(64);
      const opened = await Promise.all(minted.map((m) => iadvize.open(m.token, pub)));
      expect(opened.map((o) => o.userId)).toEqual(users);
    }, 2 * MAX_SIGNING_TIMEOUT_MS);

    it('signs payloads over 4096 bytes (only the digest leaves the process)', async () => {
      const p = track(h.provider());
      await p.init?.();
      const big = Buffer.alloc(10_000, 'a');
      const sig = await p.sign(big);
      expect(cryptoVerify('sha256', big, await p.getPublicKey(), sig)).toBe(true);
      const { service: tokens } = await service(p);
      const long = 'x'.repeat(500);
      const visitorData = { firstName: long, lastName: long, email: long, phoneNumber: long, address: long, city: long, zipCode: long, country: long };
      const { token } = await tokens.createToken({ userId: 'big-user', visitorData });
      const opened = await iadvize.open(token, await p.getPublicKey());
      expect(opened.visitorData).toEqual(visitorData);
    });

    it('fails the startup self-check when the backend signs with a key that does not match', async () => {
      expect(h.mismatches.length).toBeGreaterThan(0);
      for (const m of h.mismatches) {
        await m.arm?.();
        try {
          const p = m.provider();
          const err = await resolveIAdvizeAuthOptions({ issuer: ISSUER, signingKey: p, iadvizePublicKey: iadvize.publicKeyPem }).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(InvalidOptionsError);
          expect((err as InvalidOptionsError).problems.join('\n')).toMatch(/self-check failed/);
          // With the self-check off, the per-token verification still refuses it.
          const q = track(m.provider());
          const { service: tokens } = await service(q, { selfCheck: false });
          await expect(tokens.createToken({ userId: 'u' })).rejects.toBeInstanceOf(SignatureMismatchError);
        } finally {
          await m.disarm?.();
        }
      }
    });

    it('reports a refused credential without any secret in the error', async () => {
      const p = h.refused();
      const err = await resolveIAdvizeAuthOptions({ issuer: ISSUER, signingKey: p, iadvizePublicKey: iadvize.publicKeyPem }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InvalidOptionsError);
      expectClean(allText(err), h.secrets);
      expectClean(p.describe?.() ?? '', h.secrets);
      await p.close?.();
    });

    it('gives up at once with SigningUnavailableError when the caller has already aborted', async () => {
      const p = track(h.provider());
      await p.init?.();
      const err = await p.sign(Buffer.from('x'), { signal: AbortSignal.abort() }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SigningUnavailableError);
      expectClean(allText(err), h.secrets);
    });

    it('refuses to sign after close()', async () => {
      const p = h.provider();
      await p.init?.();
      await p.close?.();
      await expect(p.sign(Buffer.from('x'))).rejects.toThrow(/closed/);
      await p.close?.(); // idempotent
    });
  });
}
