import { describe, it, expect } from 'vitest';
import { coreOnFakes, memoryJournal, relayMessage } from '../helpers/core-fakes.js';
import { RETRY_NOTICE } from '../../src/core/delivery.js';
import type { Obligation } from '../../src/ports/relay-http.js';

/** Issue 10, items 1 and 2, on the coordinator with fakes and the fake clock. */
describe('a message is finished when its turn ends (issue 10, item 1)', () => {
  it('is marked read when its turn ends, not when it starts', async () => {
    const t = coreOnFakes();
    await t.core.start();
    await t.push(t.message('m1'));
    t.consume('m1');
    await t.clock.advanceAsync(0);
    expect(t.reads()).toEqual([]);
    t.session().emit({ type: 'turn.completed', finalText: 'four' });
    await t.clock.advanceAsync(0);
    expect(t.reads()).toEqual(['read m1']);
    expect(t.deliveries.filter((d) => d.messageId === 'm1').map((d) => d.state)).toEqual(['queued', 'injected', 'consumed', 'finished']);
  });

  it('is marked read as soon as the agent sent its reply, even while the turn still runs', async () => {
    const t = coreOnFakes();
    await t.core.start();
    await t.push(t.message('m1'));
    t.consume('m1');
    await t.core.send({ to: 'alice', body: 'four', replyTo: 'm1' });
    await t.clock.advanceAsync(0);
    expect(t.reads()).toEqual(['read m1']);
  });

  it('comes back as a retry after the provider died mid-turn; its task stays in_progress until the retry ends', async () => {
    const t = coreOnFakes();
    await t.core.start();
    await t.push(t.message('m1', { taskId: 't1' }));
    t.session().emit({ type: 'session', sessionId: 'sess-1', source: 'startup' });
    t.consume('m1');
    t.session().exit({ code: 1, signal: 'SIGKILL' });
    await t.clock.advanceAsync(500);
    expect(t.calls.filter((c) => c.startsWith('start'))).toEqual(['start', 'start resume sess-1']);
    expect(t.turns.map((turn) => turn.sender?.messageId)).toEqual(['m1', 'm1']);
    const retry = t.turns[1]!;
    expect(retry.sender?.retry).toBe(true);
    expect(retry.text).toContain(RETRY_NOTICE);
    expect(t.turns[0]!.text).not.toContain(RETRY_NOTICE);
    expect(t.taskStatuses()).toEqual(['in_progress']);
    expect(t.reads()).toEqual([]);
    expect(t.mirrors.filter((m) => m.entry === 'reply')).toEqual([]);
    expect(t.logger.lines().some((l) => l.includes('WARN [delivery] message m1 was interrupted mid-turn (attempt 1); it will be delivered again as a retry'))).toBe(true);
    t.consume('m1');
    t.session().emit({ type: 'turn.completed', finalText: 'four' });
    await t.clock.advanceAsync(0);
    expect(t.taskStatuses()).toEqual(['in_progress', 'in_progress', 'completed']);
    expect(t.reads()).toEqual(['read m1']);
    expect(t.mirrors.filter((m) => m.entry === 'reply')).toEqual([{ entry: 'reply', body: 'four', replyTo: 'm1' }]);
  });

  it('is not delivered again when the agent had already answered it before the crash', async () => {
    const t = coreOnFakes();
    await t.core.start();
    await t.push(t.message('m1'));
    t.consume('m1');
    await t.core.send({ to: 'alice', body: 'four', replyTo: 'm1' });
    t.session().exit({ code: 1, signal: null });
    await t.clock.advanceAsync(500);
    expect(t.sessions).toHaveLength(2);
    expect(t.turns.map((turn) => turn.sender?.messageId)).toEqual(['m1']);
    expect(t.replies()).toHaveLength(1);
  });

  it('is never delivered twice while it is being worked on, whatever the unread poll says', async () => {
    const t = coreOnFakes({ http: { pollUnread: async () => [relayMessage('m1')] } });
    await t.core.start();
    t.consume('m1');
    t.bus.push('state', { connected: true, reason: 'welcome' }); // a reconnect: catch up again
    await t.push(relayMessage('m1'));
    await t.clock.advanceAsync(0);
    expect(t.turns.map((turn) => turn.sender?.messageId)).toEqual(['m1']);
  });

  it('gives up on a message whose turn kills the provider three times: a visible failure for the sender', async () => {
    const t = coreOnFakes();
    await t.core.start();
    await t.push(t.message('m1', { taskId: 't1' }));
    for (let attempt = 0; attempt < 3; attempt++) {
      t.consume('m1');
      t.session().exit({ code: 1, signal: null });
      await t.clock.advanceAsync(5_000);
    }
    expect(t.turns.map((turn) => turn.sender?.messageId)).toEqual(['m1', 'm1', 'm1']);
    expect(t.replies()).toHaveLength(1);
    expect(t.replies()[0]!.payload).toMatchObject({ to: 'alice', replyTo: 'm1' });
    expect(String(t.replies()[0]!.payload['body'])).toMatch(/could not answer this message: its turn was interrupted 3 times/);
    expect(t.taskStatuses().at(-1)).toBe('failed');
    expect(t.reads()).toEqual(['read m1']);
  });

  it('fails every unfinished message visibly when the provider is given up on', async () => {
    const t = coreOnFakes({ maxRapidExits: 0 }); // the first unexpected exit gives up
    await t.core.start();
    await t.push(t.message('m1'));
    await t.push(t.message('m2', { expectsReply: false }));
    t.consume('m1');
    t.session().exit({ code: 1, signal: null });
    await t.clock.advanceAsync(0);
    expect(t.core.status.get().state).toBe('error');
    expect(t.replies().map((r) => r.payload['replyTo'])).toEqual(['m1']);
    expect(String(t.replies()[0]!.payload['body'])).toMatch(/provider stopped for good/);
    expect(t.reads().sort()).toEqual(['read m1', 'read m2']);
  });
});

describe('a restart of the runner process itself (issue 10, item 1)', () => {
  it('redelivers the message the previous run was working on as a retry, and only marks read what was finished', async () => {
    const journal = memoryJournal();
    const unread = [relayMessage('m1'), relayMessage('m2')];
    const first = coreOnFakes({ journal, http: { pollUnread: async () => unread } });
    await first.core.start();
    first.consume('m1');
    await first.clock.advanceAsync(0);
    expect(journal.notes).toEqual({ m1: 'consumed' });
    // The process dies here: no stop(), nothing marked read.
    const second = coreOnFakes({ journal, http: { pollUnread: async () => unread } });
    await second.core.start();
    expect(second.turns.map((turn) => [turn.sender?.messageId, turn.sender?.retry === true])).toEqual([
      ['m1', true],
      ['m2', false],
    ]);
    second.consume('m1');
    second.session().emit({ type: 'turn.completed', finalText: 'done' });
    await second.clock.advanceAsync(0);
    expect(second.reads()).toEqual(['read m1']);
    // Kept as finished: a late duplicate of m1 is recognised, in this run and the next.
    expect(journal.notes).toEqual({ m1: 'finished' });
    await second.push(relayMessage('m1'));
    expect(second.turns.filter((turn) => turn.sender?.messageId === 'm1')).toHaveLength(1);
  });

  it('reads the journal before the bus can bring a message (a catch-up must know the notes)', async () => {
    let loaded!: () => void;
    const journal = memoryJournal({ m1: 'consumed' });
    const slow = { ...journal, load: () => new Promise<Record<string, 'consumed'>>((resolve) => (loaded = () => resolve({ m1: 'consumed' }))) };
    const t = coreOnFakes({ journal: slow, http: { pollUnread: async () => [relayMessage('m1')] } });
    const started = t.core.start();
    await t.clock.advanceAsync(0);
    expect(t.busAgents).toEqual([]);
    loaded();
    await started;
    t.bus.push('state', { connected: true, reason: 'welcome' });
    await t.clock.advanceAsync(0);
    expect(t.turns.map((turn) => [turn.sender?.messageId, turn.sender?.retry])).toEqual([['m1', true]]);
  });

  it('does not deliver again a message the previous run had answered but not yet marked read', async () => {
    const journal = memoryJournal();
    const unread = [relayMessage('m1')];
    const first = coreOnFakes({ journal, http: { pollUnread: async () => unread, markRead: async () => Promise.reject(new Error('relay away')) } });
    await first.core.start();
    first.consume('m1');
    await first.core.send({ to: 'alice', body: 'four', replyTo: 'm1' });
    await first.clock.advanceAsync(0);
    expect(journal.notes).toEqual({ m1: 'finished' });
    const second = coreOnFakes({ journal, http: { pollUnread: async () => unread } });
    await second.core.start();
    await second.clock.advanceAsync(0);
    expect(second.turns).toEqual([]);
    expect(second.reads()).toEqual(['read m1']);
    expect(journal.notes).toEqual({ m1: 'finished' });
    // A late duplicate frame of it, in this new run, is not delivered either.
    await second.push(relayMessage('m1'));
    expect(second.turns).toEqual([]);
  });
});

describe('the Stop decision demands only what the agent was shown (issue 10, item 2)', () => {
  it('does not demand replies to messages still queued in the runner, and the obligations view says which is which', async () => {
    let owed: Obligation[] = [];
    const t = coreOnFakes({ http: { obligations: async () => owed } });
    await t.core.start();
    for (const id of ['m1', 'm2', 'm3']) await t.push(t.message(id));
    t.consume('m1');
    owed = ['m1', 'm2', 'm3'].map((id) => ({ messageId: id, from: 'alice', excerpt: `question ${id}`, createdAt: 0 }));
    await t.clock.advanceAsync(1_000); // the debounced obligation refresh
    expect(t.core.obligations().items.map((o) => [o.messageId, o.shown])).toEqual([
      ['m1', true],
      ['m2', false],
      ['m3', false],
    ]);
    const verdict = t.core.stopDecision(false);
    expect(verdict).toMatchObject({ block: true, messageIds: ['m1'] });
    expect(verdict.reason).not.toContain('m2');
    // m1 answered: nothing is demanded while m2 and m3 wait for their own turns.
    await t.core.send({ to: 'alice', body: 'one', replyTo: 'm1' });
    expect(t.core.stopDecision(false)).toMatchObject({ block: false, messageIds: [] });
  });

  it('demands a reply to a message shown moments ago, before the relay lists it (a turn ending within the refresh debounce)', async () => {
    const t = coreOnFakes({ http: { obligations: async () => [] } });
    await t.core.start();
    await t.clock.advanceAsync(1_000); // the first refresh came back empty
    await t.push({ ...t.message('m1'), expectsReply: true });
    t.consume('m1');
    // No refresh has run since the message arrived: the local snapshot still knows it is owed.
    expect(t.core.stopDecision(false)).toMatchObject({ block: true, messageIds: ['m1'] });
    await t.core.send({ to: 'alice', body: 'one', replyTo: 'm1' });
    expect(t.core.stopDecision(false)).toMatchObject({ block: false, messageIds: [] });
  });

  it('does not demand a reply to a message queued again for a retry', async () => {
    const owed: Obligation[] = [{ messageId: 'm1', from: 'alice', excerpt: 'question m1', createdAt: 0 }];
    const t = coreOnFakes({ http: { obligations: async () => owed } });
    await t.core.start();
    await t.push(t.message('m1'));
    t.consume('m1');
    await t.clock.advanceAsync(1_000);
    expect(t.core.stopDecision(false).block).toBe(true);
    t.session().exit({ code: 1, signal: null });
    await t.clock.advanceAsync(0);
    expect(t.core.stopDecision(false).block).toBe(false);
  });
});
