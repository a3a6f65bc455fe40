/**
 * The kit's turn queue and held events (src/providers/kit/turn-queue.ts), shared by the Codex and
 * OpenCode sessions: a fake process, a fake clock.
 */
import { describe, expect, it } from 'vitest';
import type { ProcessExit, SpawnedProcess } from '../../src/ports/process-spawner.js';
import type { ProviderEvent, ProviderTurn } from '../../src/ports/provider.js';
import { ProviderError } from '../../src/errors/index.js';
import { JsonLinesProcess } from '../../src/providers/kit/process-session.js';
import { HeldEvents, TurnQueue } from '../../src/providers/kit/turn-queue.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';

class FakeProcess implements SpawnedProcess {
  readonly pid = 77;
  #exit!: (exit: ProcessExit) => void;
  readonly exited = new Promise<ProcessExit>((resolve) => (this.#exit = resolve));
  readonly stdout = { onLine: () => () => {} };
  readonly stderr = { onLine: () => () => {} };
  async write(): Promise<void> {}
  endInput(): void {
    this.#exit({ code: 0, signal: null });
  }
  async kill(): Promise<ProcessExit> {
    this.#exit({ code: null, signal: 'SIGKILL' });
    return this.exited;
  }
}

async function setup() {
  const child = new FakeProcess();
  const clock = createFakeClock();
  const logger = createMemoryLogger({ level: 'debug' });
  const proc = new JsonLinesProcess(child, { spawner: { spawn: () => Promise.resolve(child) }, logger, clock }, { who: 'fake', bufferEvents: 100, stopGraceMs: 100, killGraceMs: 100 });
  proc.listen({ onMessage: () => undefined });
  const events: ProviderEvent[] = [];
  proc.events.subscribe((e) => events.push(e));
  // The fanout goes live after the (empty) backlog replay, a microtask away.
  await Promise.resolve();
  return { child, clock, logger, proc, events };
}

const turn = (deliveryId: string): ProviderTurn => ({ deliveryId, text: deliveryId, sender: { from: 'alice', messageId: deliveryId, expectsReply: true } });

describe('TurnQueue', () => {
  it('starts a turn at once when free; queues while busy or while others wait; starts them in order when told', async () => {
    const { proc, logger, events } = await setup();
    let busy = false;
    const started: string[] = [];
    const queue = new TurnQueue(proc, {
      who: 'fake',
      busy: () => busy,
      start: async (t) => {
        started.push(t.deliveryId);
        busy = true;
      },
      dispatch: (e) => proc.dispatch(e),
    });
    await queue.deliver(turn('d1'));
    expect(started).toEqual(['d1']);
    await queue.deliver(turn('d2'));
    await queue.deliver(turn('d3'));
    expect(started).toEqual(['d1']);
    expect(queue.length).toBe(2);
    expect(logger.lines().join('\n')).toContain('fake (pid 77): queued d2 behind the running turn');
    // Still busy: nothing starts.
    queue.startNext();
    expect(started).toEqual(['d1']);
    // Free, but a turn waits: a new delivery goes behind it, not ahead.
    busy = false;
    await queue.deliver(turn('d4'));
    expect(queue.length).toBe(3);
    queue.startNext();
    expect(started).toEqual(['d1', 'd2']);
    busy = false;
    queue.startNext();
    busy = false;
    queue.startNext();
    expect(started).toEqual(['d1', 'd2', 'd3', 'd4']);
    expect(queue.length).toBe(0);
    expect(events).toEqual([]);
  });

  it('a queued turn that cannot be started is logged and reported as a warning, and the next one starts', async () => {
    const { proc, logger, events } = await setup();
    let busy = true;
    const started: string[] = [];
    const queue = new TurnQueue(proc, {
      who: 'fake',
      busy: () => busy,
      start: (t) => {
        if (t.deliveryId === 'bad') return Promise.reject(new Error('pipe closed'));
        started.push(t.deliveryId);
        return Promise.resolve();
      },
      dispatch: (e) => proc.dispatch(e),
    });
    await queue.deliver(turn('bad'));
    await queue.deliver(turn('good'));
    busy = false;
    queue.startNext();
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    await Promise.resolve();
    expect(started).toEqual(['good']);
    expect(events).toEqual([{ type: 'warning', message: 'fake: queued bad could not be started: pipe closed' }]);
    expect(logger.entries.some((e) => e.level === 'error' && e.message.includes('queued bad could not be started'))).toBe(true);
  });

  it('refuses a delivery once the process is gone, and starts nothing queued then', async () => {
    const { proc, child } = await setup();
    const started: string[] = [];
    let busy = true;
    const queue = new TurnQueue(proc, { who: 'fake', busy: () => busy, start: async (t) => void started.push(t.deliveryId), dispatch: () => {} });
    await queue.deliver(turn('d1'));
    await child.kill();
    await proc.exited;
    busy = false;
    queue.startNext();
    expect(started).toEqual([]);
    const error = await queue.deliver(turn('d2')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as Error).message).toBe('cannot deliver d2: fake is not running');
  });
});

describe('HeldEvents', () => {
  it('passes events through until told to hold; then keeps them, in order, until released after a clock tick', async () => {
    const { proc, clock, events } = await setup();
    const held = new HeldEvents(proc);
    held.dispatch({ type: 'assistant', text: 'before' });
    expect(events).toHaveLength(1);
    held.hold();
    expect(held.holding).toBe(true);
    held.dispatch({ type: 'reasoning', text: 'a' });
    held.hold(); // holding again keeps what is held
    held.dispatch({ type: 'assistant', text: 'b' });
    held.afterTick(() => held.release({ type: 'turn.started', deliveryId: 'd1', turnId: 't1' }));
    expect(events).toHaveLength(1);
    clock.advance(0);
    expect(events.slice(1)).toEqual([
      { type: 'turn.started', deliveryId: 'd1', turnId: 't1' },
      { type: 'reasoning', text: 'a' },
      { type: 'assistant', text: 'b' },
    ]);
    expect(held.holding).toBe(false);
    held.dispatch({ type: 'assistant', text: 'after' });
    expect(events).toHaveLength(5);
  });

  it('drop() discards what was held (a write that failed) and stops holding', async () => {
    const { proc, events } = await setup();
    const held = new HeldEvents(proc);
    held.hold();
    held.dispatch({ type: 'assistant', text: 'lost' });
    held.drop();
    held.release();
    expect(events).toEqual([]);
    held.dispatch({ type: 'assistant', text: 'next' });
    expect(events).toEqual([{ type: 'assistant', text: 'next' }]);
  });
});
