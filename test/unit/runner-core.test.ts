import { describe, it, expect } from 'vitest';
import { coreOnFakes } from '../helpers/core-fakes.js';

const setup = () => coreOnFakes();

describe('runner core (the coordinator, on fakes)', () => {
  it('routes a relay message through delivery, the provider and the mirror, and answers once', async () => {
    const t = setup();
    await t.core.start();
    expect({ agentId: t.core.agentId, token: t.core.token }).toEqual({ agentId: 'agent-1', token: 'tok-1' });
    t.bus.push('message.new', { type: 'message.new', message: t.message('m1') });
    await t.clock.advanceAsync(0);
    expect(t.turns).toHaveLength(1);
    t.session().emit({ type: 'session', sessionId: 'sess-1', source: 'startup' });
    t.session().emit({ type: 'turn.started', deliveryId: t.turns[0]!.deliveryId });
    expect(t.core.status.get()).toMatchObject({ state: 'busy', sessionId: 'sess-1' });
    t.session().emit({ type: 'assistant', text: 'four' });
    t.session().emit({ type: 'turn.completed' });
    await t.clock.advanceAsync(0);
    expect(t.mirrors).toEqual([
      { entry: 'prompt', body: 'question m1', replyTo: 'm1' },
      { entry: 'reply', body: 'four', replyTo: 'm1' },
    ]);
    expect(t.calls).toContain('read m1');
    expect(t.core.status.get().state).toBe('idle');
  });

  it('a reply the agent sent itself is not mirrored again', async () => {
    const t = setup();
    await t.core.start();
    t.bus.push('message.new', { type: 'message.new', message: t.message('m1') });
    await t.clock.advanceAsync(0);
    t.session().emit({ type: 'turn.started', deliveryId: t.turns[0]!.deliveryId });
    await t.core.send({ to: 'alice', body: 'four', replyTo: 'm1' });
    t.session().emit({ type: 'turn.completed', finalText: 'four' });
    expect(t.mirrors.map((m) => m.entry)).toEqual(['prompt']);
    expect(t.queued.filter((q) => q.kind === 'message')).toHaveLength(1);
  });

  it('a provider that dies mid-turn gets the turn again after the restart, in the resumed session', async () => {
    const t = setup();
    await t.core.start();
    t.bus.push('message.new', { type: 'message.new', message: t.message('m1') });
    await t.clock.advanceAsync(0);
    t.session().emit({ type: 'session', sessionId: 'sess-1', source: 'startup' });
    t.session().exit({ code: 1, signal: null });
    await t.clock.advanceAsync(500);
    expect(t.calls.filter((c) => c.startsWith('start'))).toEqual(['start', 'start resume sess-1']);
    expect(t.turns.map((turn) => turn.sender?.messageId)).toEqual(['m1', 'm1']);
  });

  it('answers bus commands and stops in order, leaving nothing running', async () => {
    const t = setup();
    await t.core.start();
    t.bus.push('command', { type: 'command', id: 'c1', name: 'stop', args: {} });
    await t.clock.advanceAsync(0);
    expect(t.sent).toContainEqual({ type: 'command.result', id: 'c1', ok: true, result: { stopping: true } });
    expect(t.core.status.get()).toMatchObject({ state: 'offline', detail: 'runner stopped' });
    expect(t.calls.at(-1)).toBe('outbox close');
    expect(t.clock.pendingTimers()).toBe(0);
    await expect(t.core.send({ to: 'alice', body: 'late' })).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(t.core.start()).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
