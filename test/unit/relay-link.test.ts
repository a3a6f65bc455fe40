import { describe, it, expect } from 'vitest';
import { RelayLink } from '../../src/core/relay-link.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { createOutbox, type Outbox } from '../../src/core/outbox.js';
import { createMemoryOutboxStore } from '../../src/adapters/memory-outbox-store.js';
import { classifyRelayStatus } from '../../src/adapters/relay-outbox-send.js';
import type { OutboxDelivery } from '../../src/ports/outbox-send.js';
import type { SentEvent } from '../../src/core/runner-types.js';
import { fakeBus, fakeTarget } from '../helpers/fake-bus.js';

describe('relay link', () => {
  function setup(makeOutbox?: (clock: ReturnType<typeof createFakeClock>, logger: ReturnType<typeof createMemoryLogger>) => Outbox) {
    const clock = createFakeClock();
    const logger = createMemoryLogger();
    const { bus, sent, log } = fakeBus();
    const enqueued: Array<{ kind: string; payload: unknown }> = [];
    let failEnqueue = false;
    const outbox = {
      start: () => void log.push('outbox start'),
      enqueue: async (event: { kind: string; payload: unknown }) => {
        if (failEnqueue) throw new Error('disk full');
        enqueued.push(event);
        return { seq: enqueued.length, idempotencyKey: `k${enqueued.length}` };
      },
      drain: async () => void log.push('drain'),
      close: async () => void log.push('outbox close'),
      on() {
        return this;
      },
      off() {
        return this;
      },
    } as unknown as Outbox;
    const timeline: string[] = [];
    const errors: Error[] = [];
    const sentEvents: SentEvent[] = [];
    let fetches = 0;
    const link = new RelayLink({
      clock,
      logger,
      http: { obligations: async () => (fetches++, [{ messageId: 'm1', from: 'alice', excerpt: 'hi', createdAt: 0 }]) },
      auth: { withAuth: (call) => call() },
      makeBus: (agentId, token) => (log.push(`bus ${agentId} ${token}`), bus),
      makeOutbox: (agentId) => (log.push(`outbox ${agentId}`), makeOutbox ? makeOutbox(clock, logger) : outbox),
      obligationRefreshMs: 10_000,
      currentStatus: () => ({ state: 'idle', lastActivityAt: 0, openSubagents: 0 }),
      onTimeline: (entry) => timeline.push(`${entry.event}@${entry.at}`),
      onError: (error) => errors.push(error),
      onSent: (event) => sentEvents.push(event),
    });
    return { clock, logger, link, bus, sent, sentEvents, log, enqueued, timeline, errors, fetches: () => fetches, failEnqueue: () => (failEnqueue = true) };
  }

  it('opens the outbox, the obligations and the bus in order, and closes them after one drain', async () => {
    const t = setup();
    t.link.open('agent-1', 'tok', fakeTarget().target);
    await t.clock.advanceAsync(0);
    expect(t.log).toEqual(['outbox agent-1', 'outbox start', 'bus agent-1 tok', 'connect']);
    expect(t.link.obligations().items.map((o) => o.messageId)).toEqual(['m1']);
    await t.clock.advanceAsync(10_000);
    expect(t.fetches()).toBe(2);
    await t.link.close();
    expect(t.log.slice(4)).toEqual(['drain', 'outbox close', 'close']);
    await t.clock.advanceAsync(60_000);
    expect(t.fetches()).toBe(2);
    expect(t.bus.listeners()).toBe(0);
  });

  it('queues events without undefined fields, and reports a queue failure instead of throwing', async () => {
    const t = setup();
    await t.link.enqueue('task_status', { taskId: 't', messageId: undefined });
    expect(t.enqueued).toEqual([]); // not open yet: nothing to queue into
    t.link.open('agent-1', 'tok', fakeTarget().target);
    await t.link.enqueue('task_status', { taskId: 't', messageId: undefined });
    expect(t.enqueued).toEqual([{ kind: 'task_status', payload: { taskId: 't' } }]);
    t.failEnqueue();
    await expect(t.link.enqueue('insight', {})).resolves.toBeUndefined();
    expect(t.errors.map((e) => e.message)).toEqual(['disk full']);
  });

  it('publishes timeline and status on the bus, and hands a renewed token to it', () => {
    const t = setup();
    t.link.open('agent-1', 'tok', fakeTarget().target);
    t.link.timeline('provider.started', { pid: 7, gone: undefined });
    t.link.status({ state: 'idle', lastActivityAt: 1, openSubagents: 2 });
    t.link.tokenRenewed('tok-2');
    expect(t.sent).toEqual([
      { type: 'timeline', event: 'provider.started', at: t.clock.now(), data: { pid: 7 } },
      { type: 'status', status: { state: 'idle', lastActivityAt: 1, openSubagents: 2, subagents: 2 } },
    ]);
    expect(t.timeline).toEqual([`provider.started@${t.clock.now()}`]);
    expect(t.log.slice(-2)).toEqual(['token tok-2', 'reconnect token renewed']);
  });

  it('the agent\'s own reply clears its obligation locally at once', async () => {
    const t = setup();
    await expect(t.link.sendMessage({ to: 'alice', body: 'x' })).rejects.toMatchObject({ code: 'CLOSED' });
    t.link.open('agent-1', 'tok', fakeTarget().target);
    await t.clock.advanceAsync(0);
    const sent = await t.link.sendMessage({ to: 'alice', body: 'answer', replyTo: 'm1', expectsReply: true });
    expect(sent).toEqual({ seq: 1, idempotencyKey: 'k1' });
    expect(t.enqueued).toEqual([{ kind: 'message', payload: { kind: 'message', to: 'alice', body: 'answer', replyTo: 'm1', expectsReply: true } }]);
    expect(t.link.obligations().items).toEqual([]);
  });

  it('reports each queued send (seq, recipient, the message it answers) for the monitor', async () => {
    const t = setup();
    t.link.open('agent-1', 'tok', fakeTarget().target);
    await t.link.sendMessage({ to: 'alice', body: 'answer', replyTo: 'm1' });
    await t.link.sendMessage({ to: 'bob', body: 'fyi' });
    expect(t.sentEvents).toEqual([
      { seq: 1, to: 'alice', replyTo: 'm1', at: t.clock.now() },
      { seq: 2, to: 'bob', at: t.clock.now() },
    ]);
  });

  it('a reply the relay refuses (4xx) is reported, logged at ERROR, and its obligation shows again', async () => {
    const batches: OutboxDelivery[][] = [];
    const t = setup((clock, logger) =>
      createOutbox({
        store: createMemoryOutboxStore(),
        clock,
        logger,
        agentId: 'agent-1',
        send: async (batch) => {
          batches.push([...batch]);
          return { perRow: batch.map((d) => classifyRelayStatus((d.payload as { body: string }).body === 'fine' ? 201 : 422, undefined, 'body refused')) };
        },
      }),
    );
    t.link.open('agent-1', 'tok', fakeTarget().target);
    await t.clock.advanceAsync(0);
    expect(t.link.obligations().items.map((o) => o.messageId)).toEqual(['m1']);
    await t.link.sendMessage({ to: 'bob', body: 'fine' });
    await t.link.sendMessage({ to: 'alice', body: 'refused', replyTo: 'm1' });
    expect(t.link.obligations().items).toEqual([]); // hidden while in flight
    await t.clock.advanceAsync(0);
    expect(batches.flat().map((d) => (d.payload as { body: string }).body)).toEqual(['fine', 'refused']);
    expect(t.errors).toHaveLength(1);
    expect(t.errors[0]).toMatchObject({ code: 'MESSAGE_REJECTED', data: { status: 422, to: 'alice', replyTo: 'm1' } });
    expect(t.logger.lines().some((l) => /ERROR \[outbox\] the relay refused the agent's reply to m1 \(for alice\) \(422: body refused\)/.test(l))).toBe(true);
    expect(t.link.obligations().items.map((o) => o.messageId)).toEqual(['m1']); // owed again: the Stop hook reminds the agent
    await t.link.close();
  });

  it('publishes what the byte budget shed as an outbox.shed timeline entry', async () => {
    const t = setup((clock, logger) =>
      createOutbox({ store: createMemoryOutboxStore(), clock, logger, agentId: 'agent-1', maxBytes: 1200, send: async (batch) => ({ perRow: batch.map(() => classifyRelayStatus(503)) }) }),
    );
    t.link.open('agent-1', 'tok', fakeTarget().target);
    for (let i = 0; i < 12; i++) await t.link.enqueue('session', { kind: 'session', entry: 'tool', body: `step ${i} ${'x'.repeat(40)}` });
    expect(t.timeline.filter((e) => e.startsWith('outbox.shed@'))).not.toHaveLength(0);
    expect(t.sent.some((f) => (f as { type?: string; event?: string }).event === 'outbox.shed')).toBe(true);
    expect(t.errors).toEqual([]);
    await t.link.close();
  });
});
