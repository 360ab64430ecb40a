import type { KeyObject } from 'node:crypto';
import { IAdvizeAuthError, InvalidOptionsError } from '../errors.js';
import { IAdvizeAuthEvents } from '../events/iadvize-auth-events.service.js';
import type { OpenTokenStore } from '../token/token-store.js';
import { ENV_OPTIONS_PROBLEMS, IADVIZE_PRODUCTION_PUBLIC_KEY } from '../iadvize.constants.js';
import { loadPublicKey, samePublicKey, thumbprintOf } from '../keys/key-material.js';
import type { SigningKeySchedule } from '../keys/key-schedule.js';
import { loadPublicKeyInput, type PublicKeyInput } from '../keys/public-key-input.js';
import { isRecord } from '../options/key-source.rules.js';
import { checkPlainOptions } from '../options/option.rules.js';
import { checkedClock } from '../token/clock.js';
import { loadSigningKeys } from './load-signing-keys.js';
import type { ResolvedIAdvizeAuthConfig } from './resolved-config.js';

/** The library's own message of an error, or `fallback` (never an SDK's or the runtime's message, which may hold a value). */
function messageOf(e: unknown, fallback: string): string {
  if (e instanceof IAdvizeAuthError) return e.message;
  const code = (e as { code?: unknown })?.code;
  return `${fallback}${typeof code === 'string' ? ` (${code})` : ''}`;
}

/**
 * Validates raw options, loads every key, opens the token store (its events
 * go to `events`), runs the startup self-check and returns the resolved configuration. Throws one {@link InvalidOptionsError}
 * listing every problem (option, file or variable, and how to fix it); no
 * message contains key material.
 */
export async function resolveIAdvizeAuthOptions(raw: unknown, events: IAdvizeAuthEvents = new IAdvizeAuthEvents()): Promise<ResolvedIAdvizeAuthConfig> {
  if (!isRecord(raw)) throw new InvalidOptionsError(['options: must be an object with at least "issuer" and "signingKey"']);
  // Options read from the environment by iadvizeAuthConfig, which found problems: they are this module's.
  const envProblems = (raw as Record<symbol, unknown>)[ENV_OPTIONS_PROBLEMS];
  if (envProblems instanceof InvalidOptionsError) throw envProblems;
  const problems: string[] = [];
  const plain = checkPlainOptions(raw, problems);
  const { clock, signingTimeoutMs: timeout } = plain;

  // The signing key, or a schedule of keys (lib/keys/key-schedule.ts): every key in force now or later is loaded.
  const signing = await loadSigningKeys(raw.signingKey, {
    clock: typeof clock === 'function' ? (clock as () => number) : Date.now,
    messageOf,
  });
  problems.push(...signing.problems);
  const signingKeys = signing.schedule;
  const signingPublicKey: KeyObject | undefined = signingKeys?.currentKey().publicKey;

  let expectedPublicKey: KeyObject | undefined;
  if (raw.signingPublicKey !== undefined) {
    try {
      expectedPublicKey = loadPublicKeyInput(raw.signingPublicKey as PublicKeyInput, 'signingPublicKey');
    } catch (e) {
      problems.push(messageOf(e, 'signingPublicKey: could not be loaded'));
    }
  }

  let iadvizePublicKey: KeyObject | undefined;
  try {
    iadvizePublicKey = loadPublicKeyInput((raw.iadvizePublicKey as PublicKeyInput | undefined) ?? IADVIZE_PRODUCTION_PUBLIC_KEY, 'iadvizePublicKey');
  } catch (e) {
    problems.push(messageOf(e, 'iadvizePublicKey: could not be loaded'));
  }

  if (signingPublicKey && expectedPublicKey && !samePublicKey(signingPublicKey, expectedPublicKey)) {
    problems.push(
      `signingPublicKey: is not the public half of signingKey (thumbprints ${await thumbprintOf(expectedPublicKey)} vs ${await thumbprintOf(signingPublicKey)}); give iAdvize the public key of the key you sign with`,
    );
  }
  if (iadvizePublicKey && signingKeys?.loadedKeys().some((k) => samePublicKey(k.publicKey, iadvizePublicKey))) {
    problems.push('iadvizePublicKey: is the same key as signingKey; tokens must be encrypted to iAdvize\'s key, not to your own');
  }

  const iadvizeKeyThumbprint = iadvizePublicKey ? await thumbprintOf(iadvizePublicKey) : '';
  // Checked on every reading (the module's and the store's): a clock that later fails gives a 503, never NaN times.
  const moduleClock = typeof clock !== 'function' || clock === Date.now ? Date.now : checkedClock(clock as () => unknown);
  // The store is opened with the settings that give a token its meaning (its problems are listed with the others).
  let tokenStore: OpenTokenStore | undefined;
  if (plain.tokenStore && Number.isInteger(plain.tokenTtlSeconds)) {
    try {
      tokenStore = plain.tokenStore.open({
        tokenTtlSeconds: plain.tokenTtlSeconds,
        issuer: plain.issuer,
        iadvizeKeyThumbprint,
        signingTimeoutMs: timeout,
        clock: moduleClock,
        events,
      });
    } catch (e) {
      if (e instanceof InvalidOptionsError) problems.push(...e.problems.map((p) => `tokenStore: ${p}`));
      else problems.push(`tokenStore: ${messageOf(e, 'could not be opened')}`);
    }
  }

  if (problems.length === 0 && plain.selfCheck && signingKeys && iadvizePublicKey) {
    // Every scheduled key, not only the one in force: a bad future key fails now, not at its instant.
    problems.push(...(await signingKeys.selfCheck({ timeoutMs: timeout, iadvizePublicKey, messageOf })));
  }

  if (problems.length > 0) {
    await signing.close();
    throw new InvalidOptionsError(problems);
  }

  const keys = signingKeys as SigningKeySchedule; // set whenever no problem was found
  const iadvizePub = iadvizePublicKey as KeyObject;
  keys.checkReloadsWith({ timeoutMs: timeout, iadvizePublicKey: iadvizePub, messageOf });
  return {
    issuer: plain.issuer,
    tokenTtlSeconds: plain.tokenTtlSeconds,
    signingTimeoutMs: timeout,
    signingKeys: keys,
    get keyProvider() {
      return keys.currentKey().provider;
    },
    get signingPublicKey() {
      return keys.currentKey().publicKey;
    },
    get signingKeyThumbprint() {
      return keys.currentKey().thumbprint;
    },
    iadvizePublicKey: iadvizePub,
    iadvizeKeyThumbprint,
    usesProductionIAdvizeKey: samePublicKey(iadvizePub, loadPublicKey(IADVIZE_PRODUCTION_PUBLIC_KEY, 'production key')),
    clock: moduleClock,
    events,
    ...(tokenStore ? { tokenStore } : {}),
  };
}
