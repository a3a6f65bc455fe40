/**
 * A timer returned by {@link Clock}. Opaque to the caller apart from `unref()`.
 * @public
 */
export interface TimerHandle {
  /** Let the process exit while this timer is pending (no-op on clocks without a process). Returns itself. */
  unref(): TimerHandle;
}

/**
 * The only source of time in the core: wall-clock reads and timers.
 * @remarks Nothing outside the system-clock adapter may call `Date.now()`, `setTimeout` or
 * `setInterval`; tests swap in `createFakeClock()` and advance time by hand.
 * @public
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Run `callback` once after `ms` milliseconds. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancel a timeout; unknown or already-fired handles are ignored. */
  clearTimeout(handle: TimerHandle | undefined): void;
  /** Run `callback` every `ms` milliseconds until cleared. */
  setInterval(callback: () => void, ms: number): TimerHandle;
  /** Cancel an interval; unknown handles are ignored. */
  clearInterval(handle: TimerHandle | undefined): void;
}
