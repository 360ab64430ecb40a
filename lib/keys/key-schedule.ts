import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { IAdvizeAuthEvents } from '../events/iadvize-auth-events.service.js';
import type { SigningKeyOption } from '../iadvize-auth.options.js';
import { b64url, compactEncrypt, jwsSigningInput } from '../token/compact.js';
import { DEFAULT_KEY_FILE_WATCH_INTERVAL_MS, KeyFileSnapshotProvider, pollKeyFile } from './key-file-watch.js';
import { isKeyProvider, type KeyProvider } from './key-provider.js';
import { loadPublicKey, samePublicKey, thumbprintOf } from './key-material.js';
import { quoteName, safeName } from '../redaction.js';
import { signWithDeadline } from './sign-with-deadline.js';

/**
 * One entry of a {@link SigningKeyScheduleOption}.
 * @public
 */
export interface SigningKeyScheduleEntry {
  /** The key: any {@link SigningKeyOption} (a file, an env var, inline, a KMS/HSM provider), except another schedule. */
  key: SigningKeyOption;
  /**
   * The instant this key takes over: an ISO 8601 date-time with a time zone
   * (`'2027-01-15T09:00:00Z'`, `'2027-01-15T10:00:00+01:00'`) or a `Date`.
   * Required on every entry but the first (which, without it, is in force
   * from the start). Every replica switches at this instant by its own clock.
   */
  from?: string | Date;
}

/**
 * A planned key rotation: the keys in the order they take over, each with
 * the instant it does. iAdvize accepts one brand key at a time and tokens
 * carry no `kid`, so a rotation is a switch at an instant agreed with iAdvize:
 *
 * ```ts
 * signingKey: {
 *   schedule: [
 *     { key: { file: '/secrets/brand-2026.pem' } },
 *     { key: { file: '/secrets/brand-2027.pem' }, from: '2027-01-15T09:00:00Z' },
 *   ],
 * }
 * ```
 *
 * At startup every key still to come is loaded and self-checked; entries
 * already superseded are validated but not loaded (their key may be gone).
 * At the instant every replica switches by its own clock (the module's
 * `clock`), logs it once and emits `signing.key.switched`; tokens signed
 * with the old key are never served from the token cache afterwards.
 * @public
 */
export interface SigningKeyScheduleOption {
  /** The keys in the order they take over (instants strictly increasing); at least one must be in force at startup. */
  schedule: SigningKeyScheduleEntry[];
}

/** A loaded signing key: its provider, its public half and its RFC 7638 thumbprint. */
export interface SigningKeyInForce {
  /** Signs with the key. */
  readonly provider: KeyProvider;
  /** The key's public half (what iAdvize verifies with). */
  readonly publicKey: KeyObject;
  /** RFC 7638 thumbprint of the public half; caches key tokens by it. */
  readonly thumbprint: string;
}

/** One entry of {@link SigningKeySchedule.describe}: what `doctor` shows. Never key material. */
export interface SigningKeyScheduleLine {
  /** The option holding the key, e.g. `signingKey.schedule[1].key`. */
  source: string;
  /** The instant it takes over (ms since the epoch), or `undefined` for "from the start". */
  from: number | undefined;
  /** `'retired'`: superseded before startup (not loaded); `'in force'`; `'scheduled'`: takes over later. */
  state: 'retired' | 'in force' | 'scheduled';
  /** The provider's description, e.g. `file "keys/b.pem"` (its `kind` when it has none). */
  description?: string;
  /** Thumbprint of the key, when loaded. */
  thumbprint?: string;
  /** `true` when the key file is watched for changes. */
  watched: boolean;
}

/** Outcome of one check of a watched key file (see {@link SigningKeySchedule.checkNow}). */
export type KeyFileCheckOutcome = 'unchanged' | 'reloaded' | 'refused';

interface FileWatch {
  file: string;
  passphrase: string | undefined;
  intervalMs: number;
  description: string;
  stamp: string;
  hash: string;
  /** Stamp of the last refused state, so a bad file is reported once, not on every poll. */
  refusedStamp?: string;
  running?: Promise<KeyFileCheckOutcome>;
}

interface Slot {
  readonly source: string;
  /** Takes over at (ms); `-Infinity` for "from the start". */
  readonly from: number;
  current: SigningKeyInForce;
  readonly watch?: FileWatch;
}

interface ParsedEntry {
  source: string;
  from: number;
  provider: KeyProvider;
}

/** What {@link loadSigningKeys} needs from the options module. */
export interface SigningKeyLoadContext {
  /** The module clock. */
  clock: () => number;
  /** Builds the provider a single-key option names, or returns a problem (`keyProviderFromOption`). */
  buildProvider: (option: unknown, path: string) => KeyProvider | string;
  /** The library's message of an error, or `fallback` (never an SDK's message). */
  messageOf: (e: unknown, fallback: string) => string;
}

/** What a self-check needs: the deadline and the key tokens are encrypted to. */
export interface SigningKeyCheckContext {
  /** `signingTimeoutMs`. */
  timeoutMs: number;
  /** The iAdvize key; probes are encrypted to it. */
  iadvizePublicKey: KeyObject;
  /** The library's message of an error, or `fallback`. */
  messageOf: (e: unknown, fallback: string) => string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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

/** An instant for messages and logs (ISO 8601, UTC). */
export function formatInstant(ms: number | undefined): string {
  return ms === undefined || !Number.isFinite(ms) ? 'the start' : safeName(new Date(ms).toISOString());
}

/** Validates a schedule (or wraps a single key as a one-entry schedule) and builds every provider. */
function parseSigningKeys(option: unknown, ctx: SigningKeyLoadContext, problems: string[]): ParsedEntry[] {
  if (!isSigningKeySchedule(option)) {
    const built = ctx.buildProvider(option, 'signingKey');
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
  const entries: ParsedEntry[] = [];
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
    const built = ctx.buildProvider(rawKey, `${path}.key`);
    if (typeof built === 'string') {
      problems.push(built);
      ok = false;
    } else if (from !== undefined) {
      entries.push({ source: `${path}.key`, from, provider: built });
    }
  });
  if (ok && entries.length > 0 && entries[0].from > ctx.clock()) {
    problems.push(
      `signingKey.schedule: no key is in force now (the first entry takes over at ${formatInstant(entries[0].from)}); let the first entry omit "from" (in force from the start) or give an instant in the past`,
    );
  }
  return entries;
}

/** What a provider built with `watch: true` (`FileKeyProvider`, the env-configured file key) says to poll. */
function watchTargetOf(provider: KeyProvider): { file: string; passphrase?: string; intervalMs?: number } | undefined {
  const fn = (provider as { watchTarget?: unknown }).watchTarget;
  return typeof fn === 'function' ? (fn.call(provider) as ReturnType<typeof watchTargetOf>) : undefined;
}

/**
 * Which key is in force never throws: a clock that fails or reads NaN is
 * replaced by the system clock here (the token service still refuses to mint
 * with it, answering 503).
 */
function safeClock(clock: () => number): () => number {
  return () => {
    try {
      const now = clock();
      return typeof now === 'number' && Number.isFinite(now) ? now : Date.now();
    } catch {
      return Date.now();
    }
  };
}

/** Index of the entry in force at `now`: the last whose instant has passed (or the first). */
function indexAt(entries: readonly { from: number }[], now: number): number {
  let index = 0;
  for (let i = 1; i < entries.length; i++) {
    if (entries[i].from <= now) index = i;
    else break;
  }
  return index;
}

/** Loads one key: init, public half, thumbprint; a problem names `source`. */
async function loadKey(provider: KeyProvider, source: string, messageOf: SigningKeyLoadContext['messageOf']): Promise<SigningKeyInForce | string> {
  try {
    await provider.init?.();
    const publicKey = loadPublicKey((await provider.getPublicKey()).export({ format: 'jwk' }), `${source} (public half)`);
    return { provider, publicKey, thumbprint: await thumbprintOf(publicKey) };
  } catch (e) {
    return `${source}: ${messageOf(e, `the ${safeName(provider.kind ?? 'key')} provider could not load its key`)}`;
  }
}

/**
 * The startup self-check of one key: signs a probe, verifies it with the
 * key's public half, and encrypts the signed probe to the iAdvize key.
 * Returns the problem, or `undefined` when the key works.
 */
export async function selfCheckSigningKey(key: SigningKeyInForce, source: string, ctx: SigningKeyCheckContext): Promise<string | undefined> {
  const probe = new TextEncoder().encode(jwsSigningInput({ iss: 'nestjs-iadvize-auth self-check', iat: 0 }));
  try {
    const signature = await signWithDeadline(key.provider, probe, ctx.timeoutMs, `the signer did not answer within signingTimeoutMs (${String(ctx.timeoutMs)} ms)`);
    if (!cryptoVerify('sha256', probe, key.publicKey, signature)) {
      return `${source}: self-check failed: the provider's signature does not verify with its public key (is it RSASSA-PKCS1-v1_5 SHA-256, on the right key version?)`;
    }
    try {
      // The whole pipeline once: the signed probe encrypted to the configured iAdvize key.
      compactEncrypt(`${new TextDecoder().decode(probe)}.${b64url(signature)}`, ctx.iadvizePublicKey);
    } catch {
      return 'iadvizePublicKey: self-check failed: a probe token could not be encrypted to it with RSA-OAEP-256';
    }
  } catch (e) {
    return `${source}: self-check failed: ${ctx.messageOf(e, 'the probe signature could not be made')}`;
  }
  return undefined;
}

/**
 * The signing key in force at any instant: one key, or a schedule of keys
 * each taking over at its instant, any of which may be a watched key file.
 *
 * {@link currentKey} is the one place the token service, the token caches
 * (which key tokens by the key's thumbprint), the health check and the
 * fleet store ask "which key signs now?". It notices a switch (an instant
 * passed, a watched file reloaded), logs it once and emits
 * `signing.key.switched`.
 */
export class SigningKeySchedule {
  private readonly logger = new Logger('IAdvizeAuthModule');
  private events?: IAdvizeAuthEvents;
  private inForce: { index: number; thumbprint: string };
  private readonly timers: NodeJS.Timeout[] = [];
  private instantTimer?: NodeJS.Timeout;
  private running = false;
  private checkContext?: SigningKeyCheckContext;

  private readonly clock: () => number;

  /** @internal built by {@link loadSigningKeys}. */
  constructor(
    private readonly slots: readonly Slot[],
    private readonly retired: readonly { source: string; from: number; description?: string }[],
    clock: () => number,
  ) {
    this.clock = safeClock(clock);
    const index = indexAt(slots, this.clock());
    this.inForce = { index, thumbprint: slots[index].current.thumbprint };
  }

  /**
   * The key that signs at `now` (default: the module clock). Cheap: call it
   * for every token. When `now` is the present, it notices a switch since
   * the previous call and reports it once (log + `signing.key.switched`);
   * asking about another instant has no side effect.
   */
  currentKey(now: number = this.clock()): SigningKeyInForce {
    const slots = this.slots;
    const index = slots.length === 1 ? 0 : indexAt(slots, now);
    const key = slots[index].current;
    const inForce = this.inForce;
    if (key.thumbprint !== inForce.thumbprint && (index > inForce.index ? now <= this.clock() : index === inForce.index)) {
      this.switched(index, key, now);
    }
    return key;
  }

  /** Every key loaded at startup (or by a reload), in schedule order. */
  loadedKeys(): SigningKeyInForce[] {
    return this.slots.map((s) => s.current);
  }

  /**
   * Runs the self-check ({@link selfCheckSigningKey}) on every loaded key,
   * the one in force and every one still to come.
   * @returns the problems, each naming its option; empty when every key works
   */
  async selfCheck(ctx: SigningKeyCheckContext): Promise<string[]> {
    const problems: string[] = [];
    for (const slot of this.slots) {
      const problem = await selfCheckSigningKey(slot.current, slot.source, ctx);
      if (problem !== undefined && !problems.includes(problem)) problems.push(problem);
    }
    return problems;
  }

  /** `true` when the configuration has more than one key or watches a key file. */
  get isDynamic(): boolean {
    return this.slots.length + this.retired.length > 1 || this.slots.some((s) => s.watch !== undefined);
  }

  /** The schedule for `doctor` and logs: instants, sources, thumbprints; never key material. */
  describe(now: number = this.clock()): SigningKeyScheduleLine[] {
    const current = indexAt(this.slots, now);
    return [
      ...this.retired.map((r) => ({
        source: r.source,
        from: Number.isFinite(r.from) ? r.from : undefined,
        state: 'retired' as const,
        ...(r.description === undefined ? {} : { description: r.description }),
        watched: false,
      })),
      ...this.slots.map((s, i) => ({
        source: s.source,
        from: Number.isFinite(s.from) ? s.from : undefined,
        state: i === current ? ('in force' as const) : i < current ? ('retired' as const) : ('scheduled' as const),
        description: s.current.provider.describe?.() ?? s.current.provider.kind,
        thumbprint: s.current.thumbprint,
        watched: s.watch !== undefined,
      })),
    ];
  }

  /**
   * How a reloaded key file is checked before it is used: the self-check
   * deadline and the iAdvize key the probe is encrypted to.
   * @internal called by `resolveIAdvizeAuthOptions`.
   */
  checkReloadsWith(check: SigningKeyCheckContext): void {
    this.checkContext = check;
  }

  /**
   * Wires the schedule to the module: switches and refused reloads are
   * emitted on `events`.
   * @internal called by `IAdvizeAuthModule`.
   */
  attach(events: IAdvizeAuthEvents | undefined): void {
    this.events = events;
  }

  /**
   * Starts the timers: one poll per watched key file (every
   * `watchIntervalMs`) and one at the next scheduled instant (so the switch
   * is logged on time even when no token is requested). Timers are unref'd.
   * @internal called by `IAdvizeAuthModule` at startup.
   */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const slot of this.slots) {
      const watch = slot.watch;
      if (watch === undefined) continue;
      const timer = setInterval(() => {
        void this.checkSlot(slot).catch(() => undefined);
      }, watch.intervalMs);
      timer.unref();
      this.timers.push(timer);
    }
    this.armInstantTimer();
  }

  /** Stops every timer (on module destroy). Idempotent. */
  stop(): void {
    this.running = false;
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    if (this.instantTimer) clearTimeout(this.instantTimer);
    this.instantTimer = undefined;
  }

  /** Stops the timers and closes every provider (KMS clients, HSM sessions). */
  async close(): Promise<void> {
    this.stop();
    for (const slot of this.slots) await Promise.resolve(slot.current.provider.close?.()).catch(() => undefined);
  }

  /**
   * Checks every watched key file now (what the timer does every
   * `watchIntervalMs`) and reloads the changed ones. Never throws: a bad
   * file is refused, reported, and the current key stays.
   * @returns one outcome per watched file, in schedule order
   */
  async checkNow(): Promise<KeyFileCheckOutcome[]> {
    const outcomes: KeyFileCheckOutcome[] = [];
    for (const slot of this.slots) if (slot.watch) outcomes.push(await this.checkSlot(slot));
    return outcomes;
  }

  private checkSlot(slot: Slot): Promise<KeyFileCheckOutcome> {
    const watch = slot.watch as FileWatch;
    if (watch.running === undefined) {
      watch.running = this.reloadSlot(slot, watch).finally(() => {
        watch.running = undefined;
      });
    }
    return watch.running;
  }

  private async reloadSlot(slot: Slot, watch: FileWatch): Promise<KeyFileCheckOutcome> {
    const state = await pollKeyFile(watch.file, watch.description);
    if (state.stamp === watch.stamp) return 'unchanged';
    if (state.stamp === watch.refusedStamp) return 'refused';
    if (!state.ok) return this.refuse(slot, watch, state.stamp, state.reason);
    const check = this.checkContext;
    if (check === undefined) return this.refuse(slot, watch, state.stamp, `${slot.source}: the key file changed, but reloads are not set up (build the configuration with resolveIAdvizeAuthOptions)`);
    let candidate: SigningKeyInForce;
    let hash: string;
    try {
      const read = await state.read();
      hash = read.hash;
      if (hash === watch.hash) {
        watch.stamp = state.stamp;
        return 'unchanged';
      }
      const provider = new KeyFileSnapshotProvider(watch.description, read.bytes, watch.passphrase);
      const loaded = await loadKey(provider, slot.source, check.messageOf);
      if (typeof loaded === 'string') return this.refuse(slot, watch, state.stamp, loaded);
      candidate = loaded;
    } catch (e) {
      return this.refuse(slot, watch, state.stamp, check.messageOf(e, `${watch.description} could not be read`));
    }
    if (samePublicKey(candidate.publicKey, check.iadvizePublicKey)) {
      return this.refuse(slot, watch, state.stamp, `${slot.source}: the new key is iAdvize's key, not yours; tokens must be signed with the brand's key`);
    }
    const problem = await selfCheckSigningKey(candidate, slot.source, check);
    if (problem !== undefined) return this.refuse(slot, watch, state.stamp, problem);
    // Fully loaded and checked: swap it in at once.
    const previous = slot.current;
    slot.current = candidate;
    watch.stamp = state.stamp;
    watch.hash = hash;
    watch.refusedStamp = undefined;
    if (previous.thumbprint !== candidate.thumbprint) {
      if (this.slots[this.inForce.index] === slot) {
        this.currentKey();
      } else {
        this.logger.log(`Reloaded ${watch.description} for ${slot.source} (thumbprint ${candidate.thumbprint}); it takes over at ${formatInstant(slot.from)}`);
      }
    }
    await Promise.resolve(previous.provider.close?.()).catch(() => undefined);
    return 'reloaded';
  }

  private refuse(slot: Slot, watch: FileWatch, stamp: string, reason: string): KeyFileCheckOutcome {
    watch.refusedStamp = stamp;
    this.logger.warn(`Kept the current key for ${slot.source} (thumbprint ${slot.current.thumbprint}): the changed key file was refused: ${reason}`);
    if (this.events?.listening('signing.key.reload.failed')) {
      this.events.emit('signing.key.reload.failed', { source: slot.source, reason, thumbprint: slot.current.thumbprint });
    }
    return 'refused';
  }

  private switched(index: number, key: SigningKeyInForce, now: number): void {
    const previous = this.inForce;
    const slot = this.slots[index];
    this.inForce = { index, thumbprint: key.thumbprint };
    const reason = previous.index === index ? 'reload' : 'schedule';
    const why = reason === 'schedule' ? `${slot.source} took over at ${formatInstant(slot.from)}` : `${slot.current.provider.describe?.() ?? 'the key file'} was reloaded`;
    this.logger.log(
      `Signing key switched from thumbprint ${previous.thumbprint} to ${key.thumbprint} (${why}); tokens signed with the previous key are no longer served from the token cache`,
    );
    if (this.events?.listening('signing.key.switched')) {
      this.events.emit('signing.key.switched', {
        previousThumbprint: previous.thumbprint,
        thumbprint: key.thumbprint,
        reason,
        signerKind: key.provider.kind,
        source: slot.source,
        at: now,
      });
    }
    this.armInstantTimer();
  }

  /** A timer at the next instant still to come, so the switch is noticed (and logged) on time. */
  private armInstantTimer(): void {
    if (this.instantTimer) clearTimeout(this.instantTimer);
    this.instantTimer = undefined;
    if (!this.running) return;
    const now = this.clock();
    const next = this.slots.find((s) => s.from > now);
    if (next === undefined) return;
    const delay = Math.min(Math.max(next.from - now, 0) + 1, 2 ** 31 - 1);
    this.instantTimer = setTimeout(() => {
      this.instantTimer = undefined;
      this.currentKey();
      this.armInstantTimer();
    }, delay);
    this.instantTimer.unref();
  }
}

/**
 * Validates `signingKey` (one key or a schedule), loads every key in force
 * now or later, and (with `selfCheck`) self-checks each one. Returns a
 * schedule, or the problems found (each naming its option, e.g.
 * `signingKey.schedule[1].key`; never key material).
 * @internal used by `resolveIAdvizeAuthOptions`.
 */
export async function loadSigningKeys(option: unknown, ctx: SigningKeyLoadContext): Promise<{ schedule?: SigningKeySchedule; problems: string[]; close: () => Promise<void> }> {
  const problems: string[] = [];
  ctx = { ...ctx, clock: safeClock(ctx.clock) };
  const entries = parseSigningKeys(option, ctx, problems);
  const opened: KeyProvider[] = [];
  const close = async () => {
    for (const p of opened) await Promise.resolve(p.close?.()).catch(() => undefined);
  };
  if (problems.length > 0 || entries.length === 0) return { problems, close };
  const first = indexAt(entries, ctx.clock());
  const slots: Slot[] = [];
  for (const entry of entries.slice(first)) {
    let watch: FileWatch | undefined;
    const target = watchTargetOf(entry.provider);
    if (target !== undefined) {
      const interval = target.intervalMs ?? DEFAULT_KEY_FILE_WATCH_INTERVAL_MS;
      if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 100 || interval > 3_600_000) {
        problems.push(`${entry.source}.watchIntervalMs: must be a whole number of milliseconds from 100 to 3600000 (default ${DEFAULT_KEY_FILE_WATCH_INTERVAL_MS})`);
        continue;
      }
      const description = entry.provider.describe?.() ?? `file ${quoteName(target.file)}`;
      // Stamp and hash before the provider reads the file: a change in between is picked up by the first poll.
      const state = await pollKeyFile(target.file, description);
      const read = state.ok ? await state.read().catch(() => undefined) : undefined;
      watch = { file: target.file, passphrase: target.passphrase, intervalMs: interval, description, stamp: state.stamp, hash: read?.hash ?? '' };
    }
    opened.push(entry.provider);
    const loaded = await loadKey(entry.provider, entry.source, ctx.messageOf);
    if (typeof loaded === 'string') {
      problems.push(loaded);
      continue;
    }
    slots.push({ source: entry.source, from: entry.from, current: loaded, ...(watch ? { watch } : {}) });
  }
  for (let i = 1; i < slots.length; i++) {
    if (slots[i].current.thumbprint === slots[i - 1].current.thumbprint) {
      problems.push(`${slots[i].source}: is the same key as ${slots[i - 1].source} (thumbprint ${slots[i].current.thumbprint}); a schedule entry must bring a new key`);
    }
  }
  if (problems.length > 0) return { problems, close };
  const retired = entries.slice(0, first).map((e) => ({ source: e.source, from: e.from, description: e.provider.describe?.() }));
  return { schedule: new SigningKeySchedule(slots, retired, ctx.clock), problems, close };
}
