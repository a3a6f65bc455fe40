import type { Clock, TimerHandle } from '../ports/clock.js';
import { InvalidArgumentError } from '../errors/index.js';

/**
 * A `Clock` whose time moves only when a test says so.
 * @public
 */
export interface FakeClock extends Clock {
  /** Move time forward by `ms`, firing every due timer in deadline order (ties in creation order). */
  advance(ms: number): void;
  /** Move time forward to `epochMs`; refuses to go back in time. */
  setTime(epochMs: number): void;
  /** Like `advance`, but lets promise callbacks run between timers; use when timers start async work. */
  advanceAsync(ms: number): Promise<void>;
  /** Fire timers until none are pending or `maxMs` has passed; returns the time advanced. */
  runAll(maxMs?: number): number;
  /** Number of timers waiting to fire. */
  pendingTimers(): number;
}

interface FakeTimer extends TimerHandle {
  id: number;
  due: number;
  interval: number | undefined;
  callback: () => void;
  cancelled: boolean;
}

/**
 * Create a fake clock starting at `startMs` (default 2026-01-01T00:00:00Z).
 * @remarks Timers set while firing fire in the same `advance` call if they fall due in its window.
 * @public
 */
export function createFakeClock(startMs = Date.UTC(2026, 0, 1)): FakeClock {
  let now = startMs;
  let nextId = 1;
  const timers = new Map<number, FakeTimer>();

  const add = (callback: () => void, ms: number, interval: number | undefined): TimerHandle => {
    const timer: FakeTimer = {
      id: nextId++,
      due: now + Math.max(0, ms),
      interval,
      callback,
      cancelled: false,
      unref() {
        return this;
      },
    };
    timers.set(timer.id, timer);
    return timer;
  };
  const cancel = (handle: TimerHandle | undefined) => {
    const timer = handle as FakeTimer | undefined;
    if (timer && typeof timer.id === 'number') {
      timer.cancelled = true;
      timers.delete(timer.id);
    }
  };
  const nextDue = (limit: number): FakeTimer | undefined => {
    let best: FakeTimer | undefined;
    for (const t of timers.values()) {
      if (t.due > limit) continue;
      if (!best || t.due < best.due || (t.due === best.due && t.id < best.id)) best = t;
    }
    return best;
  };
  const fire = (timer: FakeTimer) => {
    now = Math.max(now, timer.due);
    if (timer.interval === undefined) timers.delete(timer.id);
    else timer.due = now + Math.max(1, timer.interval);
    timer.callback();
  };
  const checkTarget = (target: number) => {
    if (!Number.isFinite(target) || target < now) {
      throw new InvalidArgumentError(`fake clock cannot go back in time (now ${now}, asked ${target})`);
    }
  };

  const clock: FakeClock = {
    now: () => now,
    setTimeout: (cb, ms) => add(cb, ms, undefined),
    clearTimeout: cancel,
    setInterval: (cb, ms) => add(cb, Math.max(1, ms), Math.max(1, ms)),
    clearInterval: cancel,
    advance(ms) {
      clock.setTime(now + ms);
    },
    setTime(target) {
      checkTarget(target);
      for (let t = nextDue(target); t; t = nextDue(target)) fire(t);
      now = target;
    },
    async advanceAsync(ms) {
      const target = now + ms;
      checkTarget(target);
      await flushMicrotasks();
      for (let t = nextDue(target); t; t = nextDue(target)) {
        fire(t);
        await flushMicrotasks();
      }
      now = target;
      await flushMicrotasks();
    },
    runAll(maxMs = 24 * 3600_000) {
      const start = now;
      const limit = now + maxMs;
      for (let t = nextDue(limit); t; t = nextDue(limit)) fire(t);
      return now - start;
    },
    pendingTimers: () => timers.size,
  };
  return clock;
}

/** Let queued promise callbacks run (several turns, so chained awaits settle too). */
async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}
