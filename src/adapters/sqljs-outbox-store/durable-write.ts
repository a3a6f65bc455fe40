/**
 * An adaptive way for a group commit to reach the disk: a choice, commit by commit, between a
 * synchronous `fdatasync` on the main thread and one on the libuv threadpool. Not the store's
 * default (that is `hybridDurableWrite`, always the threadpool): `bench/outbox.ts` measures it
 * beside the others, and on the loaded development machine it did not reliably reach the issue-9
 * bar (sequential ≥ 0.85 × the write+fdatasync floor) and showed a 97.8 ms event-loop gap once
 * (see bench/README.md, "Adaptive durable write").
 *
 * Why: on a fast disk a write+fdatasync takes ~0.2 ms, and the threadpool round trip (queue the
 * work, wake a thread, post the completion back to the event loop) adds ~0.1 ms to each one. For
 * an enqueue that waits alone (one caller, one record, nothing queued behind it) that round trip is
 * a third of its cost, so a synchronous sync is cheaper. Under disk load a sync can take 7–75 ms;
 * blocking the event loop for that long is not acceptable, and while a sync is in flight on the
 * threadpool other callers' records gather for the next group commit. So the synchronous path is
 * taken only when it is known to be short.
 */
import * as fs from 'node:fs';
import type { Clock } from '../../ports/clock.js';
import { fdatasyncAsync, writeAllSync } from './files.js';

/**
 * How a group commit reaches the disk: resolves once `bytes` (appended at `fd`) are durable.
 * `lone` is true when the commit carries one caller's operation and nothing else is queued behind
 * it (a write that may run synchronously without keeping anyone else waiting).
 * @internal
 */
export type DurableWrite = (fd: number, bytes: Uint8Array, lone: boolean) => Promise<void>;

/** The two ways of making one commit durable that the adaptive policy chooses between. @internal */
export interface DurableWriteModes {
  /** Write and fdatasync on the main thread (blocks the event loop for one disk sync). */
  sync(fd: number, bytes: Uint8Array): void;
  /** Write on the main thread, fdatasync on the libuv threadpool. */
  threadpool(fd: number, bytes: Uint8Array): Promise<void>;
}

/** The real modes: `fs.writeSync` + `fs.fdatasyncSync`, or `fs.writeSync` + `fs.fdatasync`. @internal */
export const FS_MODES: DurableWriteModes = {
  sync(fd, bytes) {
    writeAllSync(fd, bytes);
    fs.fdatasyncSync(fd);
  },
  threadpool(fd, bytes) {
    writeAllSync(fd, bytes);
    return fdatasyncAsync(fd);
  },
};

/** Tuning of {@link createAdaptiveDurableWrite}; the defaults are the product's. @internal */
export interface AdaptivePolicy {
  /** Syncs averaged to judge the disk (default 32). */
  window: number;
  /**
   * A full window whose mean elapsed time is at most this (ms) allows synchronous syncs (default
   * 0.5: below 1, because a clock of whole milliseconds reads every sync under `slowMs` as 0 or 1,
   * and the mean of those readings estimates the true mean).
   */
  fastMeanMs: number;
  /** One sync taking at least this (ms) empties the window: threadpool until it is full again (default 2). */
  slowMs: number;
  /**
   * Main-thread syncs in a row stop once this long (ms) has passed since the first of them: the
   * next lone commit goes to the threadpool, which lets the event loop turn (default 4). Without
   * it, a caller awaiting appends one after another would never yield to timers or I/O: a
   * synchronous sync resolves its promise in the same macrotask.
   */
  streakMs: number;
}

/** The product's policy. @internal */
export const DEFAULT_ADAPTIVE_POLICY: AdaptivePolicy = { window: 32, fastMeanMs: 0.5, slowMs: 2, streakMs: 4 };

/** A {@link DurableWrite} that also says which mode its next lone commit would use (for tests). @internal */
export interface AdaptiveDurableWrite extends DurableWrite {
  /** True when a lone commit would sync on the main thread now. */
  readonly syncAllowed: () => boolean;
}

/**
 * The adaptive durable write (bench option; not the store's default, see the module comment).
 *
 * Policy: every sync's elapsed time is measured with the store's Clock (`clock.now()`, whole
 * milliseconds; the mean over a window resolves sub-millisecond syncs statistically, since a
 * 0.2 ms sync reads as 1 ms about one time in five and as 0 otherwise). A commit syncs on the main
 * thread only when (1) it is lone, (2) the last `window` syncs are all measured and (3) their
 * mean is at most `fastMeanMs`, and (4) fewer than `streakMs` have passed since the first of the
 * main-thread syncs in a row (every threadpool commit ends a streak: the event loop turns while
 * it waits). Any single sync of `slowMs` or more empties the window, so the
 * next `window` commits all go to the threadpool (and are measured there) before the main thread
 * is used again. A commit that is not lone (a burst, or records that queued behind a sync in
 * flight) always uses the threadpool. A store starts on the threadpool until its first window is
 * full.
 *
 * How long the event loop can be held: normally under `streakMs` + `slowMs` + 1 ms (the clock's
 * granularity) — 7 ms by default — counting the caller's own work between the commits of a
 * streak. The unbounded case is a disk that turns slow just as a main-thread sync starts: that
 * one sync lasts as long as the disk's fdatasync (7–75 ms was seen under heavy disk load on the
 * development machine), after which the next `window` commits go to the threadpool. A sync
 * started on the main thread cannot be cut short; the policy only makes that rare.
 * @internal
 */
export function createAdaptiveDurableWrite(
  clock: Clock,
  policy: AdaptivePolicy = DEFAULT_ADAPTIVE_POLICY,
  modes: DurableWriteModes = FS_MODES,
): AdaptiveDurableWrite {
  const samples = new Array<number>(policy.window).fill(0);
  let count = 0; // samples in the window (up to policy.window)
  let next = 0; // ring position of the next sample
  let sum = 0;

  const record = (elapsed: number) => {
    // A clock stepped backwards reads as 0; stepped forwards, as slow (the safe side).
    const ms = Math.max(0, elapsed);
    if (ms >= policy.slowMs) {
      count = 0;
      next = 0;
      sum = 0;
      return;
    }
    if (count === policy.window) sum -= samples[next]!;
    else count++;
    samples[next] = ms;
    sum += ms;
    next = (next + 1) % policy.window;
  };
  const syncAllowed = () => count === policy.window && sum <= policy.fastMeanMs * policy.window;
  let streakStart: number | undefined; // clock time of the first main-thread sync in a row

  const write = async (fd: number, bytes: Uint8Array, lone: boolean): Promise<void> => {
    const start = clock.now();
    if (lone && syncAllowed() && (streakStart === undefined || (start - streakStart < policy.streakMs && start >= streakStart))) {
      streakStart ??= start;
      modes.sync(fd, bytes);
    } else {
      streakStart = undefined;
      await modes.threadpool(fd, bytes);
    }
    record(clock.now() - start);
  };
  return Object.assign(write, { syncAllowed });
}
