import { describe, it, expect } from 'vitest';
import { SessionMirror, type MirrorEvent } from '../../src/core/session-mirror.js';
import { initialPromptId } from '../../src/core/turns.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import type { AgentFeatures } from '../../src/ports/relay-http.js';

function setup(features: AgentFeatures | undefined = { relayContext: true, insights: true, sessionMirror: true }) {
  const queued: Array<{ kind: string; payload: Record<string, unknown> }> = [];
  const mirrored: MirrorEvent[] = [];
  const mirror = new SessionMirror({
    features: () => features,
    enqueue: async (kind, payload) => {
      queued.push({ kind, payload });
    },
    onMirror: (event) => mirrored.push(event),
  });
  return { mirror, queued, mirrored, kinds: () => queued.map((q) => (q.kind === 'session' ? `session:${String(q.payload.entry)}` : q.kind)) };
}

const message = (id: string, extra: object = {}) => ({ id, from: 'alice', body: `question ${id}`, expectsReply: true, ...extra });

describe('session mirror and insights', () => {
  it('mirrors the prompt, reasoning, tool steps and final reply of a relay message, with replyTo', () => {
    const t = setup();
    t.mirror.turnStarted(message('m1'), undefined);
    expect(t.mirror.turnOpen).toBe(true);
    t.mirror.reasoning('thinking');
    t.mirror.tool('Read', 'started', 'a.ts');
    t.mirror.assistant('draft');
    t.mirror.assistant('the answer');
    t.mirror.turnEnded(undefined, false);
    expect(t.mirror.turnOpen).toBe(false);
    expect(t.mirrored).toEqual([
      { entry: 'prompt', body: 'question m1', replyTo: 'm1' },
      { entry: 'reasoning', body: 'thinking', replyTo: 'm1' },
      { entry: 'tool', body: 'Read started: a.ts', replyTo: 'm1' },
      { entry: 'reply', body: 'the answer', replyTo: 'm1' },
    ]);
    expect(t.queued[0]).toEqual({ kind: 'session', payload: { kind: 'session', entry: 'prompt', body: 'question m1', to: '', replyTo: 'm1' } });
  });

  it('never posts a reply the agent already sent itself', () => {
    const t = setup();
    t.mirror.turnStarted(message('m1'), undefined);
    t.mirror.replied('m1');
    t.mirror.turnEnded('final text', false);
    expect(t.mirrored.map((m) => m.entry)).toEqual(['prompt']);
  });

  it('posts no reply for an interrupted turn, and marks its task failed', () => {
    const t = setup();
    t.mirror.turnStarted(message('m1', { taskId: 'task-9' }), undefined);
    t.mirror.turnEnded('partial', true);
    expect(t.kinds()).toEqual(['session:prompt', 'task_status', 'task_status']);
    expect(t.queued.filter((q) => q.kind === 'task_status').map((q) => q.payload)).toEqual([
      { taskId: 'task-9', status: 'in_progress', messageId: 'm1' },
      { taskId: 'task-9', status: 'failed', messageId: 'm1' },
    ]);
  });

  it('a completed task turn marks the task completed', () => {
    const t = setup();
    t.mirror.turnStarted(message('m1', { taskId: 'task-9' }), undefined);
    t.mirror.turnEnded('done', false);
    expect(t.queued.at(-1)?.payload).toEqual({ taskId: 'task-9', status: 'completed', messageId: 'm1' });
  });

  it('the initial prompt is not mirrored as a prompt and its reply has no replyTo; a typed prompt is mirrored', () => {
    const t = setup();
    const id = initialPromptId(createFakeClock().now());
    t.mirror.turnStarted({ id, from: 'runner', body: 'start', expectsReply: false }, undefined);
    t.mirror.turnEnded('hello', false);
    t.mirror.turnStarted(undefined, 'typed by a human');
    t.mirror.turnEnded('ok', false);
    expect(t.mirrored).toEqual([
      { entry: 'reply', body: 'hello' },
      { entry: 'prompt', body: 'typed by a human' },
      { entry: 'reply', body: 'ok' },
    ]);
  });

  it('mirrors nothing when the relay turned the session mirror off', () => {
    const t = setup({ relayContext: true, insights: true, sessionMirror: false });
    t.mirror.turnStarted(message('m1'), undefined);
    t.mirror.turnEnded('answer', false);
    expect(t.mirrored).toEqual([]);
    expect(t.queued).toEqual([]);
  });

  it('turns tool use into one context_ratio insight per session end', async () => {
    const t = setup();
    t.mirror.turnStarted(message('m1'), undefined);
    for (const tool of ['Read', 'Grep', 'Glob', 'Edit']) t.mirror.tool(tool, 'started', 'x');
    t.mirror.tool('Read', 'completed', 'x');
    await t.mirror.sessionEnded('sess-1');
    await t.mirror.sessionEnded('sess-1');
    expect(t.queued.filter((q) => q.kind === 'insight').map((q) => q.payload)).toEqual([
      { type: 'context_ratio', data: { gather: 3, act: 1, ratio: 0.75, sessionId: 'sess-1' } },
    ]);
    const off = setup({ relayContext: true, insights: false, sessionMirror: true });
    off.mirror.tool('Read', 'started', 'x');
    await off.mirror.sessionEnded(undefined);
    expect(off.queued.filter((q) => q.kind === 'insight')).toEqual([]);
  });
});
