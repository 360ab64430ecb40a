import type { JsonWebKey } from 'node:crypto';
import { isKeyProvider, type KeyProvider } from '../keys/key-provider.js';
import { formatInstant } from '../keys/key-schedule.js';
import {
  EnvKeyProvider,
  FileKeyProvider,
  PemKeyProvider,
  type EnvKeyProviderOptions,
  type FileKeyProviderOptions,
} from '../keys/local-key.provider.js';
import { quoteName, redactionVerdict } from '../redaction.js';
import type { SigningKeyScheduleOption } from './iadvize-auth.options.js';
import { isRecord, keySourceOf } from './key-source.rules.js';

/** Options allowed beside each source of a private key. */
const PRIVATE_KEY_EXTRAS = {
  file: ['passphrase', 'watch', 'watchIntervalMs', 'signingThreads'],
  env: ['passphrase', 'passphraseEnv', 'signingThreads'],
  pem: ['passphrase', 'signingThreads'],
  jwk: ['signingThreads'],
} as const;

/** Builds the built-in provider a shorthand names, or returns a problem. */
export function keyProviderFromOption(option: unknown, path = 'signingKey'): KeyProvider | string {
  if (option === undefined || option === null) {
    return `${path}: is required; give { file: 'path/to/key.pem' }, { env: 'VAR_NAME' }, { pem }, { jwk } or a KeyProvider`;
  }
  if (isKeyProvider(option)) {
    if (option.alg !== 'RS256') return `${path}: the key provider's alg is ${quoteName(option.alg)}; iAdvize accepts only RS256`;
    if (redactionVerdict(option.kind) !== undefined) return `${path}: the key provider's kind is ${quoteName(option.kind)}; give it a short name such as "my-kms" (it appears in logs and metrics)`;
    return option;
  }
  if (!isRecord(option)) return `${path}: must be an object ({ file }, { env }, { pem }, { jwk }) or a KeyProvider`;
  const source = keySourceOf(option, path, PRIVATE_KEY_EXTRAS, 'or a KeyProvider');
  if (source !== 'file' && source !== 'env' && source !== 'pem' && source !== 'jwk') return source;
  if (option.passphrase !== undefined && typeof option.passphrase !== 'string') return `${path}.passphrase: must be a string`;
  switch (source) {
    case 'file':
      if (option.watch !== undefined && typeof option.watch !== 'boolean') return `${path}.watch: must be true or false`;
      return new FileKeyProvider(option as unknown as FileKeyProviderOptions);
    case 'env':
      return new EnvKeyProvider(option as unknown as EnvKeyProviderOptions);
    case 'pem':
      return new PemKeyProvider({ pem: option.pem as string, passphrase: option.passphrase as string | undefined, signingThreads: option.signingThreads as number | undefined });
    default:
      return new PemKeyProvider({ jwk: option.jwk as JsonWebKey, signingThreads: option.signingThreads as number | undefined });
  }
}

/** One validated key of a `signingKey` option, its provider built (not loaded). */
export interface ParsedSigningKey {
  /** The option holding the key, e.g. `signingKey.schedule[1].key`. */
  source: string;
  /** The instant it takes over (ms); `-Infinity` for "from the start". */
  from: number;
  /** The provider, built but not initialised. */
  provider: KeyProvider;
}

/** True when a `signingKey` option is a schedule (`{ schedule: [...] }`) rather than one key. */
export function isSigningKeySchedule(option: unknown): option is SigningKeyScheduleOption {
  return isRecord(option) && !isKeyProvider(option) && Object.hasOwn(option, 'schedule');
}

const ZONED_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

function instantOf(value: unknown): number | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  if (typeof value === 'string' && ZONED_ISO.test(value.trim())) {
    const ms = Date.parse(value.trim());
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/** Validates a schedule (or wraps a single key as a one-entry schedule) and builds every provider. */
export function parseSigningKeyOption(option: unknown, clock: () => number, problems: string[]): ParsedSigningKey[] {
  if (!isSigningKeySchedule(option)) {
    const built = keyProviderFromOption(option, 'signingKey');
    if (typeof built === 'string') {
      problems.push(built);
      return [];
    }
    return [{ source: 'signingKey', from: -Infinity, provider: built }];
  }
  const extra = Object.keys(option).filter((k) => k !== 'schedule');
  if (extra.length > 0) problems.push(`signingKey: unknown option${extra.length > 1 ? 's' : ''} ${extra.map(quoteName).join(', ')} next to "schedule"`);
  const list: unknown = option.schedule;
  if (!Array.isArray(list) || list.length === 0) {
    problems.push('signingKey.schedule: must be a non-empty array of { key, from } entries, in the order the keys take over');
    return [];
  }
  const entries: ParsedSigningKey[] = [];
  let previous: { from: number; path: string } | undefined;
  let ok = true;
  list.forEach((entry: unknown, i) => {
    const path = `signingKey.schedule[${i}]`;
    if (!isRecord(entry)) {
      problems.push(`${path}: must be an object { key, from }`);
      ok = false;
      return;
    }
    const unknown = Object.keys(entry).filter((k) => k !== 'key' && k !== 'from');
    if (unknown.length > 0) problems.push(`${path}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map(quoteName).join(', ')} (an entry has "key" and "from")`);
    // Own properties only: a polluted Object.prototype cannot add an instant or a key.
    const rawFrom = Object.hasOwn(entry, 'from') ? entry.from : undefined;
    const rawKey = Object.hasOwn(entry, 'key') ? entry.key : undefined;
    let from: number | undefined;
    if (rawFrom === undefined) {
      if (i === 0) from = -Infinity;
      else problems.push(`${path}.from: is required (only the first entry may omit it); give the instant this key takes over, e.g. "2027-01-15T09:00:00Z"`);
    } else {
      from = instantOf(rawFrom);
      if (from === undefined) {
        problems.push(`${path}.from: must be an ISO 8601 date-time with a time zone, e.g. "2027-01-15T09:00:00Z", or a valid Date (without a zone, replicas in other zones would switch at other instants)`);
      }
    }
    if (from !== undefined && previous !== undefined) {
      if (from === previous.from) problems.push(`${path}.from: is the same instant as ${previous.path}.from; each key needs its own instant`);
      else if (from < previous.from) problems.push(`${path}.from: is earlier than ${previous.path}.from; list the entries in the order they take over`);
    }
    if (from !== undefined) previous = { from, path };
    else ok = false;
    if (isSigningKeySchedule(rawKey)) {
      problems.push(`${path}.key: a schedule cannot be nested in a schedule`);
      ok = false;
      return;
    }
    const built = keyProviderFromOption(rawKey, `${path}.key`);
    if (typeof built === 'string') {
      problems.push(built);
      ok = false;
    } else if (from !== undefined) {
      entries.push({ source: `${path}.key`, from, provider: built });
    }
  });
  if (ok && entries.length > 0 && entries[0].from > clock()) {
    problems.push(
      `signingKey.schedule: no key is in force now (the first entry takes over at ${formatInstant(entries[0].from)}); let the first entry omit "from" (in force from the start) or give an instant in the past`,
    );
  }
  return entries;
}

