import type { KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SigningUnavailableError } from '../errors.js';

/** Most signing threads a local key provider accepts. */
export const MAX_SIGNING_THREADS = 16;

/**
 * Default number of signing threads: the number of cores, at most 4. One
 * thread per core reaches the raw signing rate (the main thread's per-token
 * work is small) and more only compete for the same cores; 4 is libuv's
 * default pool size, so bigger machines keep the signing capacity they had
 * when signing ran on that pool.
 */
export function defaultSigningThreads(): number {
  return Math.min(4, availableParallelism());
}

/**
 * Source of a signing thread, evaluated (no file to resolve, so it works the
 * same from ESM, CommonJS and bundled builds). It receives the private keys
 * as `KeyObject`s (cloned: `workerData.keys`, then `{ add: [id, key] }` /
 * `{ drop: id }` messages) and jobs as flat arrays `[jobId, keyId, input, …]`.
 * It answers `[jobId, signature, errorCode, …]` (signature or error code null):
 * it posts what it has signed once it has spent {@link ANSWER_EVERY_MS} signing
 * since its last answer, and the rest when its queue is drained
 * (`setImmediate`). Answering all of a long queue at once would leave the
 * main thread idle while the thread signs, then the thread idle while the
 * main thread encrypts the whole batch (the engine then used about 1.7 of 2
 * cores under load); answering each signature alone costs a message per
 * token. About a millisecond is two or three 2048-bit signatures, one at
 * 3072 bits or more.
 */
const WORKER_SOURCE = `'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { sign } = require('node:crypto');
const { performance } = require('node:perf_hooks');
const keys = new Map(workerData.keys);
const answerEveryMs = workerData.answerEveryMs;
let out = [];
let since = 0;
let scheduled = false;
const flush = () => {
  scheduled = false;
  if (out.length === 0) return;
  const batch = out;
  out = [];
  parentPort.postMessage(batch);
};
parentPort.on('message', (m) => {
  if (!Array.isArray(m)) {
    if (m.add) keys.set(m.add[0], m.add[1]);
    else keys.delete(m.drop);
    return;
  }
  if (!scheduled) { scheduled = true; since = performance.now(); setImmediate(flush); }
  for (let i = 0; i < m.length; i += 3) {
    const key = keys.get(m[i + 1]);
    if (!key) { out.push(m[i], null, 'ERR_KEY_REMOVED'); continue; }
    try {
      out.push(m[i], sign('sha256', m[i + 2], key), null);
    } catch (e) {
      out.push(m[i], null, String((e && e.code) || 'ERR_SIGN'));
    }
    const now = performance.now();
    if (now - since >= answerEveryMs) {
      const batch = out;
      out = [];
      since = now;
      parentPort.postMessage(batch);
    }
  }
});
`;

/**
 * A signing thread answers what it has signed at least this often while it
 * works through a queue (see the worker source above).
 */
const ANSWER_EVERY_MS = 1;

interface Pending {
  resolve(signature: Uint8Array): void;
  reject(error: Error): void;
  source: string;
}

/** One signing thread and the signatures it owes. */
interface Slot {
  worker?: Worker;
  /** Settles once the current worker runs (or has stopped). */
  started?: Promise<void>;
  /** Signatures asked of the current worker and not yet answered. */
  pending: Map<number, Pending>;
  /** Jobs (`jobId, keyId, input` triples) not yet posted: flushed once per microtask checkpoint. */
  queued: unknown[];
}

/**
 * A small pool of `worker_threads` that hold the private keys and sign
 * synchronously with `crypto.sign`, so RSA signing never waits behind the
 * app's own work on libuv's thread pool (`crypto.scrypt`, `fs`, `zlib`,
 * `dns.lookup`): a flood of password hashing cannot starve token signing.
 *
 * - One pool per size and process ({@link SigningPool.shared}), shared by
 *   every local key provider: the thread count stays bounded however many
 *   providers an app (or a test suite) builds. Each provider registers its
 *   key ({@link addKey}) and removes it on close ({@link removeKey}); the
 *   threads stop when the last key is removed.
 * - Only the signing input crosses to a thread and only the signature comes
 *   back; jobs go to the thread with the fewest outstanding, batched per
 *   microtask checkpoint in both directions.
 * - A thread that stops (crash, `terminate()`) fails the signatures it owed
 *   with {@link SigningUnavailableError} (a 503, never a 500); the next
 *   signature starts a new thread.
 * - Idle threads that have started are unreferenced, so a pool whose keys
 *   are never removed does not keep the process alive.
 *
 * @internal used by the local key providers (`signingThreads`).
 */
export class SigningPool {
  private static readonly pools = new Map<number, SigningPool>();

  /** The process's pool of `size` threads. */
  static shared(size: number): SigningPool {
    let pool = SigningPool.pools.get(size);
    if (!pool) {
      pool = new SigningPool(size);
      SigningPool.pools.set(size, pool);
    }
    return pool;
  }

  private readonly slots: Slot[];
  private readonly keys = new Map<number, KeyObject>();
  private nextKeyId = 1;
  private nextJobId = 1;
  private flushScheduled = false;
  private readonly flushQueued = (): void => this.flush();

  /** @param size number of threads, 1..{@link MAX_SIGNING_THREADS} */
  constructor(readonly size: number) {
    this.slots = Array.from({ length: size }, () => ({ pending: new Map(), queued: [] }));
  }

  /** Registers a private key (cloned into each thread) and starts the threads; returns the key's id. */
  addKey(key: KeyObject): number {
    const id = this.nextKeyId++;
    this.keys.set(id, key);
    for (const slot of this.slots) {
      if (slot.worker) slot.worker.postMessage({ add: [id, key] });
      else this.trySpawn(slot);
    }
    return id;
  }

  /**
   * Settles once every thread runs its code (or has stopped), so a first
   * signature does not pay for thread start-up (the startup self-check has a
   * deadline). Never rejects.
   */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((slot) => slot.started));
  }

  /**
   * Removes a key: its queued jobs are still signed; when it was the last key
   * the threads stop, rejecting what they still owe. Idempotent.
   */
  async removeKey(id: number): Promise<void> {
    if (!this.keys.delete(id)) return;
    this.flush();
    if (this.keys.size > 0) {
      for (const slot of this.slots) slot.worker?.postMessage({ drop: id });
      return;
    }
    await Promise.all(this.slots.map((slot) => slot.worker?.terminate()));
  }

  /**
   * RS256 signature (RSASSA-PKCS1-v1_5 SHA-256) of `input` with key `keyId`,
   * made on a signing thread. `source` describes the key for messages (no secrets).
   */
  sign(keyId: number, input: Uint8Array, source: string): Promise<Uint8Array> {
    if (!this.keys.has(keyId)) return Promise.reject(new SigningUnavailableError(`${source}: the key provider is closed`));
    let slot = this.slots[0];
    for (let i = 1; i < this.slots.length; i++) {
      const candidate = this.slots[i];
      if (candidate.pending.size < slot.pending.size) slot = candidate;
    }
    let worker = slot.worker;
    if (!worker) {
      try {
        worker = this.spawn(slot);
      } catch (e) {
        return Promise.reject(new SigningUnavailableError(`${source}: a signing thread could not be started`, { cause: e }));
      }
    }
    const jobId = this.nextJobId++;
    return new Promise<Uint8Array>((resolve, reject) => {
      if (slot.pending.size === 0) worker.ref();
      slot.pending.set(jobId, { resolve, reject, source });
      slot.queued.push(jobId, keyId, input);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(this.flushQueued);
      }
    });
  }

  /** Posts every slot's queued jobs, one message per thread. */
  private flush(): void {
    this.flushScheduled = false;
    for (const slot of this.slots) {
      if (slot.queued.length === 0) continue;
      const jobs = slot.queued;
      slot.queued = [];
      slot.worker?.postMessage(jobs);
    }
  }

  /** Starts a thread now (startup cost off the request path); a failure waits for the next signature. */
  private trySpawn(slot: Slot): void {
    try {
      this.spawn(slot);
    } catch {
      // sign() retries and reports it
    }
  }

  private spawn(slot: Slot): Worker {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { keys: [...this.keys], answerEveryMs: ANSWER_EVERY_MS },
      name: 'iadvize-signing',
      env: {},
      execArgv: [],
    });
    slot.worker = worker;
    // Referenced while starting (whoever awaits ready() keeps the process alive), then only while it owes signatures.
    slot.started = new Promise<void>((resolve) => {
      worker.once('online', () => {
        if (slot.pending.size === 0 && slot.worker === worker) worker.unref();
        resolve();
      });
      worker.once('exit', () => resolve());
    });
    let failure: unknown;
    worker.on('message', (batch: unknown[]) => {
      for (let i = 0; i < batch.length; i += 3) {
        const jobId = batch[i] as number;
        const waiter = slot.pending.get(jobId);
        if (!waiter) continue;
        slot.pending.delete(jobId);
        const signature = batch[i + 1] as Uint8Array | null;
        if (signature) waiter.resolve(signature);
        else waiter.reject(new SigningUnavailableError(`${waiter.source}: signing failed on a signing thread (${String(batch[i + 2])})`));
      }
      if (slot.pending.size === 0 && slot.worker === worker) worker.unref();
    });
    worker.on('error', (e) => {
      failure = e;
    });
    worker.on('exit', (code) => {
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      slot.queued = [];
      const owed = [...slot.pending.values()];
      slot.pending.clear();
      for (const waiter of owed) {
        waiter.reject(
          this.keys.size === 0
            ? new SigningUnavailableError(`${waiter.source}: the key provider is closed`)
            : new SigningUnavailableError(`${waiter.source}: a signing thread stopped (exit code ${code}); the next signature starts a new one`, {
                cause: failure,
              }),
        );
      }
    });
    return worker;
  }

  /** The live threads, for tests that stop one. @internal */
  workers(): Worker[] {
    return this.slots.flatMap((s) => (s.worker ? [s.worker] : []));
  }
}
