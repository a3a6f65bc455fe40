/**
 * End to end, issue 10 item 1: the real, pinned Codex CLI (`codex app-server`) driven by a real
 * runner, against the reference relay and a fake OpenAI server. A Codex killed mid-turn gets the
 * message again after the restart, marked as a retry; it is answered exactly once, its task stays
 * `in_progress` across the restart, and the message is marked read only once answered.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/rig.js';
import { ensureCodex, startCodexRig, type CodexRig } from './codex-helpers.js';
import type { FakeOpenAICall, FakeOpenAIResponse } from '../../src/testing/fake-openai-server.js';

let rig: CodexRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

beforeAll(() => {
  expect(ensureCodex()).toMatch(/codex .*0\.169\./);
}, 600_000);

const RETRY_MARK = 'your previous attempt at this message was interrupted';

/**
 * The first attempt at the message hangs (the test kills Codex meanwhile); the retry is answered
 * with the relay's `reply` tool, as the turn text asks (a final text alone does not answer a message
 * that expects a reply: the runner would remind the agent in a follow-up turn).
 */
function script(call: FakeOpenAICall): FakeOpenAIResponse {
  const text = call.lastUserText;
  const lastLine = text.trim().split('\n').at(-1) ?? '';
  const retry = text.includes(RETRY_MARK);
  if (call.afterToolOutput) return { output: [{ type: 'text', text: 'answered' }] };
  if (retry) {
    const id = /\[relay message (\S+) /.exec(text)?.[1] ?? 'unknown';
    return { output: [{ type: 'function_call', namespace: 'mcp__relay', name: 'reply', arguments: { message_id: id, body: `Retried: ${lastLine}` } }] };
  }
  return {
    holdMs: text.includes('take your time') ? 120_000 : 0,
    output: [{ type: 'text', text: `Codex says: ${lastLine}` }],
    usage: { inputTokens: 1500, outputTokens: 40 },
  };
}

/** The agent's answers to `messageId` at the relay. */
const answers = (r: CodexRig, messageId: string) => r.relay.listMessages().filter((m) => m.kind === 'message' && m.replyTo === messageId);

describe('Codex: a message survives the agent (issue 10, item 1)', () => {
  it('codex killed mid-turn gets the message again, marked as a retry, and answers it exactly once', async () => {
    rig = await startCodexRig(script, { runner: { exitPolicy: { baseDelayMs: 200 } } });
    const r = rig;
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const sent = r.relay.sendToAgent(agentId, { from: 'alice', body: 'take your time', expectsReply: true, taskId: 'task-7' });
    await waitFor(() => r.deliveries.find((d) => d.messageId === sent.id && d.state === 'consumed'), 'consumed', 60_000);
    await waitFor(() => r.model.responseRequests().some((q) => JSON.stringify(q.body).includes('take your time')), 'the model asked', 60_000);
    await waitFor(() => r.relay.tasks().find((t) => t.taskId === 'task-7')?.status === 'in_progress', 'the task claimed', 30_000);
    expect(r.relay.unread(agentId).map((m) => m.id)).toEqual([sent.id]);
    const pid = r.timeline.find((t) => t.event === 'provider.started')!.data!.pid as number;
    process.kill(pid, 'SIGKILL');

    await waitFor(() => r.timeline.filter((t) => t.event === 'provider.started').length >= 2, 'codex restarted', 60_000);
    expect(r.relay.tasks().find((t) => t.taskId === 'task-7')?.status).toBe('in_progress');
    const reply = await waitFor(() => answers(r, sent.id)[0], 'the answer to the retry', 90_000);
    expect(reply.body).toBe('Retried: take your time');
    expect(r.model.responseRequests().some((q) => JSON.stringify(q.body).includes(RETRY_MARK))).toBe(true);
    await waitFor(() => r.relay.unread(agentId).length === 0, 'the message marked read', 30_000);
    await waitFor(() => r.relay.tasks().find((t) => t.taskId === 'task-7')?.status === 'completed', 'the task completed', 30_000);
    await waitFor(() => r.runner.status.state === 'idle', 'idle', 30_000);
    expect(answers(r, sent.id)).toHaveLength(1);
    // The agent answered itself: its final text is not mirrored as a second answer.
    expect(r.sessionMessages().filter((m) => m.entry === 'reply' && m.replyTo === sent.id)).toHaveLength(0);
  }, 180_000);
});
