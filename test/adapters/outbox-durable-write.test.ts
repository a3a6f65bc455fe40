import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createAdaptiveDurableWrite, type DurableWriteModes } from '../../src/adapters/sqljs-outbox-store/durable-write.js';
import { JournalWriter } from '../../src/adapters/sqljs-outbox-store/journal.js';
import { createFakeClock, type FakeClock } from '../../src/testing/fake-clock.js';

/**
 * A scripted durable-write seam: each sync "takes" the next scripted number of ms on the fake
 * clock (0 when the script is spent), and every call records which mode the policy chose.
 */
function scripted(clock: FakeClock) {
  const script: number[] = [];
  const used: Array<'sync' | 'threadpool'> = [];
  const modes: DurableWriteModes = {
    sync() {
      used.push('sync');
      clock.advance(script.shift() ?? 0);
    },
    async threadpool() {
      used.push('threadpool');
      await Promise.resolve();
      clock.advance(script.shift() ?? 0);
    },
  };
  return { script, used, modes };
}

const bytes = new Uint8Array([1]);

describe('adaptive durable write (policy)', () => {
  it('uses the threadpool until a full window of fast syncs is measured, then syncs lone commits on the main thread', async () => {
    const clock = createFakeClock();
    const s = scripted(clock);
    const write = createAdaptiveDurableWrite(clock, { window: 4, fastMeanMs: 0.5, slowMs: 2, streakMs: 1000 }, s.modes);
    for (let i = 0; i < 4; i++) await write(3, bytes, true);
    expect(s.used).toEqual(['threadpool', 'threadpool', 'threadpool', 'threadpool']);
    expect(write.syncAllowed()).toBe(true);
    await write(3, bytes, true);
    expect(s.used.at(-1)).toBe('sync');
  });

  it('never syncs a commit that is not lone on the main thread, however fast the disk', async () => {
    const clock = createFakeClock();
    const s = scripted(clock);
    const write = createAdaptiveDurableWrite(clock, { window: 2, fastMeanMs: 0.5, slowMs: 2, streakMs: 1000 }, s.modes);
    for (let i = 0; i < 2; i++) await write(3, bytes, true);
    expect(write.syncAllowed()).toBe(true);
    await write(3, bytes, false);
    await write(3, bytes, false);
    expect(s.used.slice(2)).toEqual(['threadpool', 'threadpool']);
  });

  it('switches to the threadpool at once after one slow sync, for a whole window, then back', async () => {
    const clock = createFakeClock();
    const s = scripted(clock);
    const write = createAdaptiveDurableWrite(clock, { window: 4, fastMeanMs: 0.5, slowMs: 2, streakMs: 1000 }, s.modes);
    for (let i = 0; i < 4; i++) await write(3, bytes, true);
    s.used.length = 0;
    s.script.push(0, 2); // a fast main-thread sync, then one of 2 ms
    await write(3, bytes, true);
    await write(3, bytes, true);
    expect(s.used).toEqual(['sync', 'sync']);
    expect(write.syncAllowed()).toBe(false);
    for (let i = 0; i < 4; i++) await write(3, bytes, true);
    expect(s.used.slice(2)).toEqual(['threadpool', 'threadpool', 'threadpool', 'threadpool']);
    await write(3, bytes, true);
    expect(s.used.at(-1)).toBe('sync');
  });

  it('a slow sync on the threadpool restarts the window too', async () => {
    const clock = createFakeClock();
    const s = scripted(clock);
    const write = createAdaptiveDurableWrite(clock, { window: 4, fastMeanMs: 0.5, slowMs: 2, streakMs: 1000 }, s.modes);
    s.script.push(0, 0, 0, 75); // the 4th would have filled the window
    for (let i = 0; i < 4; i++) await write(3, bytes, true);
    expect(write.syncAllowed()).toBe(false);
    for (let i = 0; i < 4; i++) await write(3, bytes, true);
    expect(s.used.every((m) => m === 'threadpool')).toBe(true);
    expect(write.syncAllowed()).toBe(true);
  });

  it('judges sub-millisecond syncs by the mean of whole-ms readings over the window', async () => {
    const clock = createFakeClock();
    const s = scripted(clock);
    const write = createAdaptiveDurableWrite(clock, { window: 8, fastMeanMs: 0.5, slowMs: 2, streakMs: 1000 }, s.modes);
    // Five of eight syncs read 1 ms (mean 0.625 ms): too slow on average, though none is slow alone.
    s.script.push(1, 1, 1, 1, 1, 0, 0, 0);
    for (let i = 0; i < 8; i++) await write(3, bytes, true);
    expect(write.syncAllowed()).toBe(false);
    await write(3, bytes, true);
    expect(s.used.at(-1)).toBe('threadpool');
    // That 0 replaced the oldest 1: four of eight now (mean 0.5): fast enough.
    expect(write.syncAllowed()).toBe(true);
    await write(3, bytes, true);
    expect(s.used.at(-1)).toBe('sync');
  });

  it('reads a clock stepped backwards as 0 ms and one stepped forwards as slow', async () => {
    // A wall clock that can step either way (the fake clock only moves forwards).
    let t = 1_000_000;
    const steps: number[] = [];
    const clock = { ...createFakeClock(), now: () => t };
    const step = () => void (t += steps.shift() ?? 0);
    const write = createAdaptiveDurableWrite(clock, { window: 2, fastMeanMs: 0.5, slowMs: 2, streakMs: 1000 }, { sync: step, threadpool: async () => step() });
    steps.push(-5000, 0);
    await write(3, bytes, true);
    await write(3, bytes, true);
    expect(write.syncAllowed()).toBe(true);
    steps.push(60_000);
    await write(3, bytes, true);
    expect(write.syncAllowed()).toBe(false);
  });

  it('ends a run of main-thread syncs after streakMs with one threadpool commit, so the event loop turns', async () => {
    const clock = createFakeClock();
    const s = scripted(clock);
    const write = createAdaptiveDurableWrite(clock, { window: 2, fastMeanMs: 0.5, slowMs: 2, streakMs: 4 }, s.modes);
    await write(3, bytes, true);
    await write(3, bytes, true);
    s.used.length = 0;
    // The caller works 1 ms between commits: syncs at t+0..3 are in the streak, t+4 is not.
    for (let i = 0; i < 6; i++) {
      await write(3, bytes, true);
      clock.advance(1);
    }
    expect(s.used).toEqual(['sync', 'sync', 'sync', 'sync', 'threadpool', 'sync']);
  });

  it('a failed sync rejects the commit', async () => {
    const clock = createFakeClock();
    const write = createAdaptiveDurableWrite(clock, { window: 1, fastMeanMs: 0.5, slowMs: 2, streakMs: 1000 }, {
      sync() {
        throw new Error('EIO');
      },
      threadpool: async () => undefined,
    });
    await write(3, bytes, true);
    await expect(write(3, bytes, true)).rejects.toThrow('EIO');
  });
});

describe('journal writer: which commits are lone', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('one awaited append at a time is lone; a same-tick burst, and records queued behind a write in flight, are not', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'durable-write-'));
    const calls: boolean[] = [];
    let hold = false;
    let pending: (() => void) | undefined;
    const journal = new JournalWriter(
      path.join(dir, 'j'),
      { failure: () => undefined, writeFailed: () => undefined, committed: () => true },
      (_fd, _bytes, lone) => {
        calls.push(lone);
        return hold ? new Promise<void>((resolve) => (pending = resolve)) : Promise.resolve();
      },
    );
    journal.open(dir);
    try {
      await journal.append({ r: [1] });
      await journal.append({ r: [2] });
      expect(calls).toEqual([true, true]);

      await Promise.all([journal.append({ r: [3] }), journal.append({ r: [4] })]);
      expect(calls.slice(2)).toEqual([false]);

      // Hold the next write in flight until a second append has queued behind it.
      calls.length = 0;
      hold = true;
      const a = journal.append({ r: [5] });
      for (let i = 0; i < 20 && !pending; i++) await Promise.resolve();
      expect(pending).toBeDefined();
      hold = false;
      const b = journal.append({ r: [6] });
      pending!();
      await Promise.all([a, b]);
      expect(calls).toEqual([true, false]);
      await journal.append({ r: [7] });
      expect(calls).toEqual([true, false, true]);
    } finally {
      await journal.idle();
      journal.close();
    }
  });
});
