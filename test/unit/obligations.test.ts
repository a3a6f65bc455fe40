import { describe, it, expect } from 'vitest';
import { createObligationCache } from '../../src/core/obligations.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';

interface Owed {
  messageId: string;
  from: string;
}

function setup() {
  const clock = createFakeClock();
  const logger = createMemoryLogger();
  logger.setLevel('debug');
  let server: Owed[] = [];
  let fail = false;
  let hang = false;
  let fetches = 0;
  const pending: Array<() => void> = [];
  const cache = createObligationCache<Owed>({
    clock,
    logger,
    key: (o) => o.messageId,
    fetch: async () => {
      fetches++;
      const snapshot = server.map((o) => ({ ...o }));
      if (hang) await new Promise<void>((resolve) => pending.push(resolve));
      if (fail) throw new Error('relay down');
      return snapshot;
    },
  });
  return {
    clock,
    logger,
    cache,
    setServer: (list: Owed[]) => (server = list),
    setFail: (v: boolean) => (fail = v),
    setHang: (v: boolean) => (hang = v),
    releaseHung: () => pending.splice(0).forEach((r) => r()),
    fetches: () => fetches,
  };
}

describe('obligation snapshot cache', () => {
  it('answers synchronously with an empty snapshot before the first fetch', () => {
    const { cache, fetches } = setup();
    expect(cache.get()).toEqual({ items: [], fetchedAt: undefined, stale: false });
    expect(fetches()).toBe(0);
  });

  it('get() returns a copy: mutating it does not change the cache', async () => {
    const t = setup();
    t.setServer([{ messageId: 'm1', from: 'alice' }]);
    await t.cache.refresh();
    const snap = t.cache.get();
    snap.items[0]!.from = 'mallory';
    snap.items.push({ messageId: 'x', from: 'y' });
    expect(t.cache.get().items).toEqual([{ messageId: 'm1', from: 'alice' }]);
  });

  it('keeps serving the last snapshot when a refresh fails, marked stale, logged at debug', async () => {
    const t = setup();
    t.setServer([{ messageId: 'm1', from: 'alice' }]);
    await t.cache.refresh();
    t.setFail(true);
    await t.cache.refresh();
    expect(t.cache.get()).toMatchObject({ items: [{ messageId: 'm1' }], stale: true });
    expect(t.logger.lines().some((l) => /DEBUG \[obligations\] refresh failed, serving last snapshot: relay down/.test(l))).toBe(true);
  });

  it('shares one request between concurrent refreshes, and get() answers while it hangs', async () => {
    const t = setup();
    t.setHang(true);
    const a = t.cache.refresh();
    const b = t.cache.refresh();
    expect(a).toBe(b);
    expect(t.fetches()).toBe(1);
    expect(t.cache.get().items).toEqual([]);
    t.releaseHung();
    await a;
  });

  it('refreshes in the background every interval and debounces markDirty bursts', async () => {
    const t = setup();
    t.cache.start();
    await t.clock.advanceAsync(0);
    expect(t.fetches()).toBe(1);
    await t.clock.advanceAsync(10_000);
    expect(t.fetches()).toBe(2);
    t.cache.markDirty();
    await t.clock.advanceAsync(100);
    t.cache.markDirty();
    await t.clock.advanceAsync(100);
    t.cache.markDirty();
    expect(t.fetches()).toBe(2);
    t.setServer([{ messageId: 'm2', from: 'bob' }]);
    await t.clock.advanceAsync(400);
    expect(t.fetches()).toBe(3);
    expect(t.cache.get().items).toEqual([{ messageId: 'm2', from: 'bob' }]);
    t.cache.stop();
    await t.clock.advanceAsync(60_000);
    expect(t.fetches()).toBe(3);
    expect(t.clock.pendingTimers()).toBe(0);
  });

  it('hides a locally resolved obligation until a later fetch confirms it is gone', async () => {
    const t = setup();
    t.setServer([{ messageId: 'm1', from: 'alice' }, { messageId: 'm2', from: 'bob' }]);
    await t.cache.refresh();
    t.cache.resolveLocally('m1');
    expect(t.cache.get().items.map((o) => o.messageId)).toEqual(['m2']);
    // The relay has not processed the reply yet: still lists m1; it stays hidden.
    await t.cache.refresh();
    expect(t.cache.get().items.map((o) => o.messageId)).toEqual(['m2']);
    t.setServer([{ messageId: 'm2', from: 'bob' }]);
    t.clock.advance(1);
    await t.cache.refresh();
    // If the same id were ever owed again, it would show: the local mark is gone.
    t.setServer([{ messageId: 'm1', from: 'alice' }]);
    t.clock.advance(1);
    await t.cache.refresh();
    expect(t.cache.get().items.map((o) => o.messageId)).toEqual(['m1']);
  });

  it('shows an obligation expected locally at once, until a fetch that began after it answers', async () => {
    const t = setup();
    // A message expecting a reply was just accepted; the relay's list does not have it yet.
    t.setHang(true);
    const early = t.cache.refresh(); // began before the message arrived: it cannot know it
    t.cache.expectLocally({ messageId: 'm1', from: 'alice' });
    expect(t.cache.get().items.map((o) => o.messageId)).toEqual(['m1']);
    t.setHang(false);
    t.releaseHung();
    await early;
    expect(t.cache.get().items.map((o) => o.messageId)).toEqual(['m1']);
    // A fetch that began later governs: listed, it shows once; answered elsewhere, it goes.
    t.setServer([{ messageId: 'm1', from: 'alice' }]);
    await t.cache.refresh();
    expect(t.cache.get().items.map((o) => o.messageId)).toEqual(['m1']);
    t.setServer([]);
    await t.cache.refresh();
    expect(t.cache.get().items).toEqual([]);
    // A local resolution still hides an expected obligation.
    t.cache.expectLocally({ messageId: 'm2', from: 'bob' });
    t.cache.resolveLocally('m2');
    expect(t.cache.get().items).toEqual([]);
  });
});
