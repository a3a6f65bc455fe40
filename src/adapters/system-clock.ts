import type { Clock, TimerHandle } from '../ports/clock.js';

interface NodeTimer {
  unref?: () => unknown;
}

class SystemTimer implements TimerHandle {
  constructor(readonly raw: ReturnType<typeof setTimeout>) {}
  unref(): TimerHandle {
    (this.raw as NodeTimer).unref?.();
    return this;
  }
}

/**
 * The real clock: `Date.now()` and the platform's timers. The only place in the library that
 * touches global time.
 * @public
 */
export function createSystemClock(): Clock {
  const raw = (handle: TimerHandle | undefined) => (handle instanceof SystemTimer ? handle.raw : undefined);
  return {
    now: () => Date.now(),
    setTimeout: (callback, ms) => new SystemTimer(setTimeout(callback, Math.max(0, ms))),
    clearTimeout: (handle) => clearTimeout(raw(handle)),
    setInterval: (callback, ms) => new SystemTimer(setInterval(callback, Math.max(1, ms))),
    clearInterval: (handle) => clearInterval(raw(handle)),
  };
}
