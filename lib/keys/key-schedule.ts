import { Logger } from '@nestjs/common';
import type { IAdvizeAuthEvents } from '../events/iadvize-auth-events.service.js';
import { pollKeyFile } from './key-file-watch.js';
import { KeyFileSnapshotProvider } from './local-key.provider.js';
import { samePublicKey } from './key-material.js';
import { safeName } from '../redaction.js';
import { loadKey, selfCheckSigningKey, type SigningKeyCheckContext, type SigningKeyInForce } from './signing-key-check.js';

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

/** @internal a watched key file. */
export interface FileWatch {
  file: string;
  passphrase: string | undefined;
  /** Signing threads of the watched provider: every key a reload swaps in keeps them. */
  signingThreads: number;
  intervalMs: number;
  description: string;
  stamp: string;
  hash: string;
  /** Stamp of the last refused state, so a bad file is reported once, not on every poll. */
  refusedStamp?: string;
  running?: Promise<KeyFileCheckOutcome>;
}

/** @internal one key of the schedule. */
export interface Slot {
  readonly source: string;
  /** Takes over at (ms); `-Infinity` for "from the start". */
  readonly from: number;
  current: SigningKeyInForce;
  readonly watch?: FileWatch;
}

/** An instant for messages and logs (ISO 8601, UTC). */
export function formatInstant(ms: number | undefined): string {
  return ms === undefined || !Number.isFinite(ms) ? 'the start' : safeName(new Date(ms).toISOString());
}

/**
 * Which key is in force never throws: a clock that fails or reads NaN is
 * replaced by the system clock here (the token service still refuses to mint
 * with it, answering 503).
 */
export function safeClock(clock: () => number): () => number {
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
export function indexAt(entries: readonly { from: number }[], now: number): number {
  let index = 0;
  for (let i = 1; i < entries.length; i++) {
    if (entries[i].from <= now) index = i;
    else break;
  }
  return index;
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
    /** Already made safe ({@link safeClock}) by the loader, which reads it first. */
    clock: () => number,
  ) {
    this.clock = clock;
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
    // A refused candidate is closed: its key leaves the signing threads it joined when it loaded.
    let provider: KeyFileSnapshotProvider | undefined;
    const refuseCandidate = async (reason: string): Promise<KeyFileCheckOutcome> => {
      await Promise.resolve(provider?.close()).catch(() => undefined);
      return this.refuse(slot, watch, state.stamp, reason);
    };
    try {
      const read = await state.read();
      hash = read.hash;
      if (hash === watch.hash) {
        watch.stamp = state.stamp;
        return 'unchanged';
      }
      provider = new KeyFileSnapshotProvider(watch.description, read.bytes, watch.passphrase, { signingThreads: watch.signingThreads });
      const loaded = await loadKey(provider, slot.source, check.messageOf);
      if (typeof loaded === 'string') return await refuseCandidate(loaded);
      candidate = loaded;
    } catch (e) {
      return await refuseCandidate(check.messageOf(e, `${watch.description} could not be read`));
    }
    if (samePublicKey(candidate.publicKey, check.iadvizePublicKey)) {
      return await refuseCandidate(`${slot.source}: the new key is iAdvize's key, not yours; tokens must be signed with the brand's key`);
    }
    const problem = await selfCheckSigningKey(candidate, slot.source, check);
    if (problem !== undefined) return await refuseCandidate(problem);
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

