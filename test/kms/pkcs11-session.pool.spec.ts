/**
 * The PKCS#11 session pool's bookkeeping, on its own: a small fake of the
 * session calls (open, close, "is it alive") stands in for `C_OpenSession` /
 * `C_CloseSession` / `C_GetSessionInfo`. The pool against a real token
 * (SoftHSM2) is covered by pkcs11.spec.ts.
 */
import { SessionPool } from '../../lib/kms/pkcs11-session.pool.js';

interface FakeSession {
  id: number;
  alive: boolean;
}

/** The token's side of the sessions: what was opened, reopened and closed. */
function fakeToken(options: { failReopen?: number } = {}) {
  let next = 1;
  let failReopen = options.failReopen ?? 0;
  const token = {
    opened: [] as FakeSession[],
    reopened: [] as FakeSession[],
    closed: [] as number[],
    open(reopen: boolean): FakeSession {
      if (reopen && failReopen > 0) {
        failReopen--;
        throw new Error('CKR_SESSION_COUNT');
      }
      const s = { id: next++, alive: true };
      (reopen ? token.reopened : token.opened).push(s);
      return s;
    },
    close(s: FakeSession): void {
      token.closed.push(s.id);
      s.alive = false;
    },
    isAlive: (s: FakeSession) => s.alive,
  };
  return token;
}

function poolOf(size: number, token = fakeToken()) {
  const pool = new SessionPool<FakeSession>(size, token.open, token.close, token.isAlive);
  return { pool, token };
}

/** Settles pending promise callbacks. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('PKCS#11 session pool', () => {
  it('opens every session at startup, and signing never opens one while sessions are healthy', async () => {
    const { pool, token } = poolOf(3);
    pool.fill();
    expect(token.opened).toHaveLength(3);
    expect(pool.openCount).toBe(3);
    const held = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    expect(new Set(held.map((s) => s.id)).size).toBe(3);
    for (const s of held) pool.release(s);
    await pool.acquire();
    expect(token.opened).toHaveLength(3);
    expect(token.reopened).toHaveLength(0);
  });

  it('makes callers beyond the pool size wait, and hands a released session to the first waiter', async () => {
    const { pool } = poolOf(1);
    pool.fill();
    const first = await pool.acquire();
    const order: string[] = [];
    const a = pool.acquire().then((s) => (order.push('a'), s));
    const b = pool.acquire().then((s) => (order.push('b'), s));
    await tick();
    expect(order).toEqual([]);
    pool.release(first);
    const got = await a;
    expect(got).toBe(first);
    expect(order).toEqual(['a']);
    pool.release(got);
    expect(await b).toBe(first);
  });

  it('closes a session released as broken and opens its replacement lazily, on the next acquire', async () => {
    const { pool, token } = poolOf(2);
    pool.fill();
    const s = await pool.acquire();
    pool.release(s, true);
    expect(token.closed).toEqual([s.id]);
    expect(pool.openCount).toBe(1);
    expect(token.reopened).toHaveLength(0);
    const [x, y] = [await pool.acquire(), await pool.acquire()];
    expect(token.reopened).toHaveLength(1);
    expect([x.id, y.id]).toContain(token.reopened[0].id);
    expect(pool.openCount).toBe(2);
  });

  it('after a broken session, drops the idle sessions that died with it (a token reset), so a retry never picks a dead one', async () => {
    const { pool, token } = poolOf(3);
    pool.fill();
    const s = await pool.acquire();
    for (const o of token.opened) o.alive = false; // the token closed every session
    pool.release(s, true);
    expect(pool.openCount).toBe(0);
    expect(token.closed.sort()).toEqual(token.opened.map((o) => o.id).sort());
    const fresh = await pool.acquire();
    expect(fresh.alive).toBe(true);
    expect(token.reopened).toEqual([fresh]);
  });

  it('a waiter whose signal aborts leaves the line with the signal\'s reason; the session goes back to the pool', async () => {
    const { pool } = poolOf(1);
    pool.fill();
    const held = await pool.acquire();
    const controller = new AbortController();
    const waiting = pool.acquire(controller.signal);
    controller.abort(new Error('deadline passed'));
    await expect(waiting).rejects.toThrow('deadline passed');
    pool.release(held);
    expect(await pool.acquire()).toBe(held);
    // An already aborted signal never takes a session.
    pool.release(held);
    await expect(pool.acquire(AbortSignal.abort(new Error('too late')))).rejects.toThrow('too late');
  });

  it('when reopening a broken session fails, the caller gets the error and the free slot passes to the next waiter', async () => {
    const token = fakeToken({ failReopen: 1 });
    const { pool } = poolOf(1, token);
    pool.fill();
    const s = await pool.acquire();
    const waiter = pool.acquire();
    pool.release(s, true); // wakes the waiter with a free slot: its reopen fails
    await expect(waiter).rejects.toThrow('CKR_SESSION_COUNT');
    const again = await pool.acquire(); // the slot is still free: this reopen works
    expect(token.reopened).toEqual([again]);
  });

  it('close() closes idle sessions now, rejects waiters, closes busy ones on release and resolves once none is in use', async () => {
    const { pool, token } = poolOf(3);
    pool.fill();
    const busy = await pool.acquire();
    const other = await pool.acquire();
    const third = await pool.acquire();
    const waiter = pool.acquire();
    pool.release(third);
    expect(await waiter).toBe(third); // handed over, not closed
    const blocked = pool.acquire();
    let drained = false;
    const closing = pool.close().then(() => {
      drained = true;
    });
    expect(pool.isClosed).toBe(true);
    await expect(blocked).rejects.toThrow('session pool closed');
    expect(token.closed).toEqual([]); // nothing was idle: all three are in use
    pool.release(third);
    pool.release(other);
    expect(token.closed).toEqual([third.id, other.id]);
    await tick();
    expect(drained).toBe(false);
    pool.release(busy);
    await closing;
    expect(token.closed).toEqual([third.id, other.id, busy.id]);
    expect(pool.openCount).toBe(0);
    await expect(pool.acquire()).rejects.toThrow('session pool closed');
  });

  it('close() closes the idle sessions at once and resolves when none was in use', async () => {
    const { pool, token } = poolOf(2);
    pool.fill();
    await pool.close();
    expect(token.closed.sort()).toEqual(token.opened.map((o) => o.id).sort());
    expect(pool.openCount).toBe(0);
  });
});
