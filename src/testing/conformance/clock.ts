import * as assert from 'node:assert/strict';
import type { Clock } from '../../ports/clock.js';

/**
 * The two functions of a test framework a conformance suite needs (vitest, jest, mocha and
 * `node:test` all provide them).
 * @public
 */
export interface ConformanceTestApi {
  /** Group tests under a name. */
  describe(name: string, body: () => void): void;
  /** Declare one test; it may return a promise. */
  it(name: string, body: () => Promise<void> | void): void;
}

/**
 * What a {@link runClockConformance} factory returns: the clock under test and a way to let time pass.
 * @public
 */
export interface ClockHarness {
  /** The clock under test. */
  clock: Clock;
  /**
   * Let at least `ms` of the clock's time pass and its due timers fire: `advance(ms)` on a fake
   * clock, a real sleep of `ms` (plus a little) on the system clock.
   */
  tick(ms: number): Promise<void>;
  /** Release anything the harness holds. */
  dispose?(): Promise<void> | void;
}

/**
 * Conformance suite for {@link Clock}: timeouts fire in deadline order, clearing works, intervals
 * repeat until cleared, `now()` moves with time.
 * @remarks Written without timed assertions so it passes on the system clock with real delays:
 * it only waits (through `tick`) until something happened, bounded by a generous number of ticks.
 * @public
 */
export function runClockConformance(name: string, factory: () => ClockHarness | Promise<ClockHarness>, api: ConformanceTestApi): void {
  const { describe, it } = api;

  const withClock = (body: (h: ClockHarness) => Promise<void>) => async () => {
    const harness = await factory();
    try {
      await body(harness);
    } finally {
      await harness.dispose?.();
    }
  };

  /** Tick in small steps until `done()` holds; fail after `maxTicks` steps. */
  const tickUntil = async (h: ClockHarness, done: () => boolean, what: string, step = 10, maxTicks = 300) => {
    for (let i = 0; i < maxTicks && !done(); i++) await h.tick(step);
    assert.ok(done(), `timed out waiting for ${what}`);
  };

  describe(`Clock conformance: ${name}`, () => {
    it('now() returns epoch milliseconds that move forward with time', withClock(async (h) => {
      const start = h.clock.now();
      assert.ok(Number.isFinite(start) && start > 0, 'now() is a positive epoch time');
      await h.tick(20);
      const later = h.clock.now();
      // Platform timers may fire a millisecond early relative to the wall clock, hence the slack.
      assert.ok(later - start >= 18, `now() advanced by ${later - start}ms after a 20ms tick`);
    }));

    it('fires timeouts in deadline order, not creation order', withClock(async (h) => {
      const fired: number[] = [];
      h.clock.setTimeout(() => fired.push(60), 60);
      h.clock.setTimeout(() => fired.push(20), 20);
      h.clock.setTimeout(() => fired.push(40), 40);
      h.clock.setTimeout(() => fired.push(0), 0);
      await tickUntil(h, () => fired.length === 4, 'four timeouts');
      assert.deepEqual(fired, [0, 20, 40, 60]);
    }));

    it('fires a timeout once only', withClock(async (h) => {
      let count = 0;
      h.clock.setTimeout(() => count++, 5);
      const marker = { done: false };
      h.clock.setTimeout(() => (marker.done = true), 50);
      await tickUntil(h, () => marker.done, 'the later marker timeout');
      assert.equal(count, 1);
    }));

    it('clearTimeout cancels a pending timeout; clearing unknown or fired handles is harmless', withClock(async (h) => {
      const fired: string[] = [];
      const cancelled = h.clock.setTimeout(() => fired.push('cancelled'), 10);
      const kept = h.clock.setTimeout(() => fired.push('kept'), 30);
      h.clock.clearTimeout(cancelled);
      h.clock.clearTimeout(undefined);
      await tickUntil(h, () => fired.includes('kept'), 'the kept timeout');
      assert.deepEqual(fired, ['kept']);
      h.clock.clearTimeout(kept);
      h.clock.clearTimeout(cancelled);
    }));

    it('a timeout set from inside a callback fires later', withClock(async (h) => {
      const fired: string[] = [];
      h.clock.setTimeout(() => {
        fired.push('outer');
        h.clock.setTimeout(() => fired.push('inner'), 10);
      }, 10);
      await tickUntil(h, () => fired.length === 2, 'the nested timeout');
      assert.deepEqual(fired, ['outer', 'inner']);
    }));

    it('setInterval repeats until clearInterval', withClock(async (h) => {
      let count = 0;
      const handle = h.clock.setInterval(() => count++, 10);
      await tickUntil(h, () => count >= 3, 'three interval runs');
      h.clock.clearInterval(handle);
      const atClear = count;
      await h.tick(50);
      assert.equal(count, atClear, 'no run after clearInterval');
    }));

    it('unref() returns the handle and the timer still fires', withClock(async (h) => {
      let fired = false;
      const handle = h.clock.setTimeout(() => (fired = true), 10);
      assert.equal(handle.unref(), handle);
      // Keep the process alive on real clocks while waiting for the unref'd timer.
      await tickUntil(h, () => fired, 'the unref-ed timeout');
    }));
  });
}
