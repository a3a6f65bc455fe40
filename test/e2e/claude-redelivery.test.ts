/**
 * End to end, issue 10 items 1 and 2: the real, pinned Claude Code CLI driven by a real runner,
 * against the reference relay and a fake Anthropic server. A message survives the agent's death
 * (delivered again, marked as a retry, unless it was answered), and three messages sent while the
 * agent is busy get three replies, not five.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/rig.js';
import type { FakeAnthropicCall, FakeAnthropicResponse } from '../../src/testing/fake-anthropic-server.js';
import { ensureClis, startClaudeRig, type ClaudeRig } from './claude-helpers.js';

let rig: ClaudeRig | undefined;

beforeAll(() => {
  ensureClis();
}, 600_000);

afterEach(async () => {
  if (process.env.E2E_DEBUG && rig) {
    console.log('LOG', rig.logger.entries.map((e) => `${e.level} ${e.component} ${e.message}`.slice(0, 400)).join('\n'));
    console.log('MODEL', JSON.stringify(rig.model.messageRequests().map((q) => JSON.stringify((q.body as { messages: unknown[] }).messages.slice(-1)).slice(-800)), null, 1));
  }
  await rig?.close();
  rig = undefined;
}, 30_000);

const E2E_TIMEOUT = 150_000;
const WAIT = 60_000;
const RETRY_MARK = 'your previous attempt at this message was interrupted';
const text = (t: string, holdMs = 0): FakeAnthropicResponse => ({ blocks: [{ type: 'text', text: t }], ...(holdMs ? { holdMs } : {}) });
/** The agent answers a relay message the way the context block tells it to: `send` from the Bash tool. */
const answer = (messageIds: string[], body: string, holdMs = 0): FakeAnthropicResponse => ({
  blocks: [
    {
      type: 'tool_use',
      name: 'Bash',
      input: { command: messageIds.map((id) => `agent-relay-runner send --to alice --reply-to ${id} "${body}"`).join(' && '), description: 'answer alice' },
    },
  ],
  ...(holdMs ? { holdMs } : {}),
});
const headerId = (t: string) => /relay message (\S+) from alice/.exec(t)?.[1];
const replies = (r: ClaudeRig) => r.relay.listMessages().filter((m) => m.kind === 'message' && m.replyTo);
const repliesTo = (r: ClaudeRig, id: string) => replies(r).filter((m) => m.replyTo === id);

function killProvider(r: ClaudeRig): number {
  const pid = (r.timeline.filter((t) => t.event === 'provider.started').at(-1)?.data as { pid?: number } | undefined)?.pid;
  expect(pid).toBeGreaterThan(0);
  process.kill(pid!, 'SIGKILL');
  return pid!;
}

describe('Claude Code: a message survives the agent (issue 10, item 1)', () => {
  it('a CLI killed mid-turn gets the message again, marked as a retry, and answers it exactly once', async () => {
    rig = await startClaudeRig(
      (call: FakeAnthropicCall) => {
        const last = call.lastUserText;
        const id = headerId(last);
        if (last.includes(RETRY_MARK) && id) return answer([id], '4');
        if (last.includes('what is 2+2')) return text('let me think for a long time', 120_000);
        return text('Answered alice.');
      },
      { exitPolicy: { baseDelayMs: 200 } },
    );
    const r = rig;
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const asked = r.relay.sendToAgent(agentId, { from: 'alice', body: 'what is 2+2?', expectsReply: true });
    await waitFor(() => r.deliveries.some((d) => d.messageId === asked.id && d.state === 'consumed'), 'the first attempt consumed', WAIT);
    await waitFor(() => r.model.messageRequests().some((q) => q.rawBody.includes('what is 2+2')), 'the model asked', WAIT);
    expect(r.relay.unread(agentId).map((m) => m.id)).toEqual([asked.id]);
    killProvider(r);

    await waitFor(() => repliesTo(r, asked.id).length > 0, 'the answer after the restart', WAIT);
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the retry', WAIT);
    expect(repliesTo(r, asked.id)).toMatchObject([{ from: 'claude-worker', to: 'alice', body: '4' }]);
    // The retry reached the model marked as one.
    expect(r.model.messageRequests().filter((q) => q.rawBody.includes(RETRY_MARK)).length).toBeGreaterThan(0);
    expect(r.deliveries.filter((d) => d.messageId === asked.id).map((d) => d.state)).toContain('finished');
    await waitFor(() => r.relay.unread(agentId).length === 0, 'the message marked read', WAIT);
    expect(r.relay.obligations(agentId)).toEqual([]);
  }, E2E_TIMEOUT);

  it('a message the agent already answered before it was killed is not delivered again', async () => {
    rig = await startClaudeRig(
      (call: FakeAnthropicCall) => {
        const last = call.lastUserText;
        const id = headerId(last);
        if (last.includes(RETRY_MARK)) return text('I was asked again (wrong)');
        if (last.includes('ping')) return text('pong');
        if (last.includes('what is 3+3') && id) return answer([id], '6');
        return text('still busy after answering', 120_000); // after the send's tool result
      },
      { exitPolicy: { baseDelayMs: 200 } },
    );
    const r = rig;
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const asked = r.relay.sendToAgent(agentId, { from: 'alice', body: 'what is 3+3?', expectsReply: true });
    await waitFor(() => repliesTo(r, asked.id).length > 0, 'the answer before the crash', WAIT);
    await waitFor(() => r.relay.unread(agentId).length === 0, 'answered, so marked read while the turn still runs', WAIT);
    killProvider(r);
    await waitFor(() => r.timeline.filter((t) => t.event === 'provider.started').length >= 2, 'the provider restarted', WAIT);
    // A retry would be queued ahead of this message: once it is answered, the queue is done.
    const ping = r.relay.sendToAgent(agentId, { from: 'alice', body: 'ping' });
    await waitFor(() => r.mirrors.some((m) => m.entry === 'reply' && m.replyTo === ping.id), 'pong', WAIT);
    expect(r.model.messageRequests().some((q) => q.rawBody.includes(RETRY_MARK))).toBe(false);
    expect(repliesTo(r, asked.id)).toHaveLength(1);
    expect(r.relay.obligations(agentId)).toEqual([]);
  }, E2E_TIMEOUT);
});

describe('Claude Code: three messages while busy, three replies (issue 10, item 2)', () => {
  it('the Stop decision never demands a reply to a message still queued in the runner', async () => {
    rig = await startClaudeRig((call: FakeAnthropicCall) => {
      const last = call.lastUserText;
      // The Stop hook's block reason comes back as the next user message: answer all it lists.
      if (last.includes('still owe')) {
        const owed = [...last.matchAll(/--reply-to (\S+)/g)].map((m) => m[1]!).filter((id, i, all) => all.indexOf(id) === i);
        return answer(owed, 'answered from the Stop reason');
      }
      const id = headerId(last);
      // Each message, in its own turn, is answered (the first slowly, so the others queue up).
      if (id) return answer([id], `answer to ${id}`, last.includes('question one') ? 4_000 : 0);
      return text('Done.');
    });
    const r = rig;
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const first = r.relay.sendToAgent(agentId, { from: 'alice', body: 'question one', expectsReply: true });
    await waitFor(() => r.deliveries.some((d) => d.messageId === first.id && d.state === 'consumed'), 'the first consumed', WAIT);
    const others = ['question two', 'question three'].map((body) => r.relay.sendToAgent(agentId, { from: 'alice', body, expectsReply: true }));
    const ids = [first.id, ...others.map((m) => m.id)];
    await waitFor(
      () => ids.every((id) => r.deliveries.some((d) => d.messageId === id && d.state === 'consumed')) && r.runner.status.state === 'idle',
      'all three turns done and idle',
      WAIT * 2,
    );
    // Every reply the agent sent has reached the relay (duplicates would be among them).
    await waitFor(async () => r.relay.obligations(agentId).length === 0 && (await r.runner.outboxStats()).pending === 0, 'the outbox drained', WAIT);
    expect(ids.map((id) => repliesTo(r, id).length)).toEqual([1, 1, 1]);
    expect(replies(r)).toHaveLength(3);
    // No Stop ever named a message the agent had not been shown yet.
    for (const stop of r.hooks.filter((h) => h.path === '/hooks/stop')) {
      for (const id of ids.slice(1)) expect(stop.response.includes(id) && stop.response.includes('block')).toBe(false);
    }
  }, E2E_TIMEOUT * 2);
});
