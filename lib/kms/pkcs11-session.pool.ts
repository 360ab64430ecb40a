/**
 * The fixed pool of PKCS#11 sessions a provider signs on. Pure bookkeeping:
 * opening, closing and probing a session are the caller's functions, so the
 * pool is tested on its own (test/kms/pkcs11-session.pool.spec.ts).
 */

/**
 * A fixed set of sessions, all opened (and logged in) at startup by
 * {@link fill}, so that signing never opens one: `C_OpenSession` and `C_Login`
 * are synchronous native calls that block the event loop. A session returned
 * broken is closed; its replacement is opened lazily by the next
 * {@link acquire} that finds no idle session (so only after a failure does a
 * request open a session). A session goes back to the pool only once its
 * operation has ended.
 */
export class SessionPool<Session = Buffer> {
  private readonly idle: Session[] = [];
  private readonly open = new Set<Session>();
  /** Waiting callers, woken with a session or with `null` (a broken session left room for a new one). */
  private readonly waiters: Array<{ resolve: (s: Session | null) => void; reject: (e: unknown) => void }> = [];
  private busy = 0;
  private closed = false;
  private onDrained?: () => void;

  constructor(
    private readonly size: number,
    /** Opens a session; `reopen` is true for the lazy replacement of a broken one. */
    private readonly openSession: (reopen: boolean) => Session,
    private readonly closeSession: (s: Session) => void,
    /** Whether an idle session still exists on the token (`C_GetSessionInfo`); checked only after a session broke. */
    private readonly isAlive?: (s: Session) => boolean,
  ) {}

  /** Opens every session of the pool (at startup). Throws the first `C_OpenSession` / `C_Login` error. */
  fill(): void {
    while (!this.closed && this.open.size < this.size) {
      const s = this.openSession(false);
      this.open.add(s);
      this.idle.push(s);
    }
  }

  /** A session for the caller's exclusive use; give it back with {@link release}. Waiting ends when `signal` aborts. */
  async acquire(signal?: AbortSignal): Promise<Session> {
    for (;;) {
      if (this.closed) throw new Error('session pool closed');
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      const ready = this.idle.pop();
      if (ready) {
        this.busy++;
        return ready;
      }
      if (this.open.size < this.size) {
        // Only after a broken session was closed: reopen it lazily, here (a synchronous native call).
        let s: Session;
        try {
          s = this.openSession(true);
        } catch (e) {
          this.waiters.shift()?.resolve(null); // the free slot passes to the next waiter, which tries again
          throw e;
        }
        this.open.add(s);
        this.busy++;
        return s;
      }
      const handed = await new Promise<Session | null>((resolve, reject) => {
        const waiter = {
          resolve: (s: Session | null) => {
            signal?.removeEventListener('abort', onAbort);
            if (s) this.busy++;
            resolve(s);
          },
          reject: (e: unknown) => {
            signal?.removeEventListener('abort', onAbort);
            reject(e);
          },
        };
        const onAbort = () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal?.reason ?? new Error('aborted'));
        };
        this.waiters.push(waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      if (handed) return handed;
    }
  }

  /** Returns a session; a `broken` one is closed, and replaced by the next {@link acquire} that needs it. */
  release(session: Session, broken = false): void {
    this.busy--;
    if (this.closed && this.busy === 0) this.onDrained?.();
    if (broken || this.closed) {
      this.open.delete(session);
      try {
        this.closeSession(session);
      } catch {
        // already gone
      }
      if (!this.closed) {
        this.waiters.shift()?.resolve(null);
        this.sweep();
      }
      return;
    }
    const next = this.waiters.shift();
    if (next) next.resolve(session);
    else this.idle.push(session);
  }

  /**
   * After a session broke, drops the idle sessions that died with it (a token
   * reset or removal closes them all), so the retry opens a fresh one instead
   * of picking another dead handle.
   */
  private sweep(): void {
    if (!this.isAlive) return;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const s = this.idle[i];
      let alive = false;
      try {
        alive = this.isAlive(s);
      } catch {
        // a failing check is a dead session
      }
      if (alive) continue;
      this.idle.splice(i, 1);
      this.open.delete(s);
      try {
        this.closeSession(s);
      } catch {
        // already gone
      }
      this.waiters.shift()?.resolve(null);
    }
  }

  /** True once {@link close} was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Closes idle sessions now and busy ones when released; resolves once no
   * session is in use any more.
   */
  close(): Promise<void> {
    const drained = new Promise<void>((resolve) => {
      this.onDrained = resolve;
    });
    if (this.busy === 0) this.onDrained?.();
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new Error('session pool closed'));
    for (const s of this.idle.splice(0)) {
      this.open.delete(s);
      try {
        this.closeSession(s);
      } catch {
        // already gone
      }
    }
    return drained;
  }

  /** Sessions currently open (idle or busy). */
  get openCount(): number {
    return this.open.size;
  }
}
