import type { KeyProvider } from '../keys/key-provider.js';
import type { KeyFileWatchTarget } from '../keys/local-key.provider.js';
import { DEFAULT_KEY_FILE_WATCH_INTERVAL_MS, MAX_KEY_FILE_WATCH_INTERVAL_MS, MIN_KEY_FILE_WATCH_INTERVAL_MS, pollKeyFile } from '../keys/key-file-watch.js';
import { quoteName } from '../redaction.js';
import { indexAt, safeClock, SigningKeySchedule, type FileWatch, type Slot } from '../keys/key-schedule.js';
import { loadKey } from '../keys/signing-key-check.js';
import { parseSigningKeyOption } from '../options/signing-key.rules.js';

/** What {@link loadSigningKeys} needs from the options module. */
export interface SigningKeyLoadContext {
  /** The module clock. */
  clock: () => number;
  /** The library's message of an error, or `fallback` (never an SDK's message). */
  messageOf: (e: unknown, fallback: string) => string;
}

/** What a provider built with `watch: true` (`FileKeyProvider`, the env-configured file key) says to poll. */
function watchTargetOf(provider: KeyProvider): KeyFileWatchTarget | undefined {
  const fn = (provider as { watchTarget?: unknown }).watchTarget;
  return typeof fn === 'function' ? (fn.call(provider) as ReturnType<typeof watchTargetOf>) : undefined;
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
  const entries = parseSigningKeyOption(option, ctx.clock, problems);
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
      if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < MIN_KEY_FILE_WATCH_INTERVAL_MS || interval > MAX_KEY_FILE_WATCH_INTERVAL_MS) {
        problems.push(`${entry.source}.watchIntervalMs: must be a whole number of milliseconds from ${MIN_KEY_FILE_WATCH_INTERVAL_MS} to ${MAX_KEY_FILE_WATCH_INTERVAL_MS} (default ${DEFAULT_KEY_FILE_WATCH_INTERVAL_MS})`);
        continue;
      }
      const description = entry.provider.describe?.() ?? `file ${quoteName(target.file)}`;
      // Stamp and hash before the provider reads the file: a change in between is picked up by the first poll.
      const state = await pollKeyFile(target.file, description);
      const read = state.ok ? await state.read().catch(() => undefined) : undefined;
      watch = { file: target.file, passphrase: target.passphrase, signingThreads: target.signingThreads, intervalMs: interval, description, stamp: state.stamp, hash: read?.hash ?? '' };
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
