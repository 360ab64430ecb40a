/**
 * The store's up/down state, with hysteresis both ways, driven by a client
 * whose answers the test decides (a real server cannot be made to answer one
 * command late on purpose): one late answer is not an outage, a refusal is;
 * a down store comes back by itself through its probe, with no traffic; a
 * value of another type is not a failure. The real-server behaviour of the
 * same states is in redis-hostile.e2e.spec.ts.
 */
import { IAdvizeAuthEvents, type IAdvizeAuthEventMap } from '../../lib/index.js';
import { RedisLink, StoreDown, WrongType } from '../../lib/redis/redis-link.js';

/** Answers like Redis, or never (`hang`), or refuses writes (`readonly`), or holds a hash (`wrongtype`). */
class ScriptedClient {
  status = 'ready';
  mode: 'ok' | 'hang' | 'readonly' | 'wrongtype' = 'ok';
  private readonly values = new Map<string, string>();

  private answer<T>(write: boolean, fn: () => T): Promise<T> {
    if (this.mode === 'hang') return new Promise(() => undefined);
    if (this.mode === 'readonly' && write) return Promise.reject(new Error("READONLY You can't write against a read only replica."));
    if (this.mode === 'wrongtype') return Promise.reject(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'));
    return Promise.resolve(fn());
  }
  get(key: string) {
    return this.answer(false, () => this.values.get(key) ?? null);
  }
  set(key: string, value: string) {
    return this.answer(true, () => (this.values.set(key, value), 'OK'));
  }
  del(key: string) {
    return this.answer(true, () => Number(this.values.delete(key)));
  }
  eval(_script: string, _n: number, key: string, value: string) {
    return this.answer(true, () => (this.values.set(key, value), value));
  }
  quit() {
    return Promise.resolve('OK');
  }
  disconnect() {}
}

function linkWith(client: ScriptedClient) {
  const events = new IAdvizeAuthEvents();
  const seen: { [E in keyof IAdvizeAuthEventMap]?: IAdvizeAuthEventMap[E][] } = {};
  events.on('store.error', (e) => void (seen['store.error'] ??= []).push(e));
  events.on('store.recovered', (e) => void (seen['store.recovered'] ??= []).push(e));
  const link = new RedisLink({ client, commandTimeoutMs: 50, failurePolicy: 'open', probeKey: 'p:{app}:h:r1' }, events);
  return { link, seen };
}

const within = async (cond: () => boolean, ms: number) => {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
};

describe('the Redis store connection state', () => {
  const links: RedisLink[] = [];
  afterEach(async () => {
    for (const l of links.splice(0)) await l.close();
  });

  it('one late answer is not an outage; a second one in a row is', async () => {
    const client = new ScriptedClient();
    const { link, seen } = linkWith(client);
    links.push(link);
    await link.connect();
    client.mode = 'hang';
    await expect(link.command('get', (c) => c.get('k'), false)).rejects.toBeInstanceOf(StoreDown);
    expect(link.down).toBe(false);
    expect(seen['store.error']).toEqual([{ store: 'redis', operation: 'get', failurePolicy: 'open', down: false }]);
    await expect(link.command('get', (c) => c.get('k'), false)).rejects.toBeInstanceOf(StoreDown);
    expect(link.down).toBe(true);
    expect(seen['store.error']?.[1]).toMatchObject({ down: true });
  });

  it('an answer in between resets the count: late, answer, late is not an outage', async () => {
    const client = new ScriptedClient();
    const { link } = linkWith(client);
    links.push(link);
    await link.connect();
    client.mode = 'hang';
    await expect(link.command('get', (c) => c.get('k'), false)).rejects.toBeInstanceOf(StoreDown);
    client.mode = 'ok';
    await link.command('get', (c) => c.get('k'), false);
    client.mode = 'hang';
    await expect(link.command('get', (c) => c.get('k'), false)).rejects.toBeInstanceOf(StoreDown);
    expect(link.down).toBe(false);
  });

  it('a refused write is an outage at once, reads do not end it, and the probe ends it once writes work, with no traffic', async () => {
    const client = new ScriptedClient();
    const { link, seen } = linkWith(client);
    links.push(link);
    await link.connect();
    client.mode = 'readonly';
    await expect(link.command('lock', (c) => c.set('k', 'v'), true)).rejects.toBeInstanceOf(StoreDown);
    expect(link.down).toBe(true);
    await link.command('get', (c) => c.get('k'), false);
    expect(link.down).toBe(true);
    expect((await link.roundTrip('p:{app}:h:r1')).up).toBe(false);
    const errors = seen['store.error']?.length ?? 0;
    client.mode = 'ok';
    // No request at all from here: the probe (every second, after a quiet second) brings the state back.
    await within(() => !link.down, 10_000);
    expect(link.down).toBe(false);
    expect(seen['store.recovered']).toHaveLength(1);
    // The probe's own failures are not reported as request errors.
    expect(seen['store.error']?.length).toBe(errors);
  });

  it('a value of another type is Redis answering, not a failure', async () => {
    const client = new ScriptedClient();
    const { link, seen } = linkWith(client);
    links.push(link);
    await link.connect();
    client.mode = 'wrongtype';
    await expect(link.command('get', (c) => c.get('k'), false)).rejects.toBeInstanceOf(WrongType);
    expect(link.down).toBe(false);
    expect(seen['store.error']).toBeUndefined();
  });
});
