/**
 * The agent's way back on Codex with its DEFAULT approval policy (`on-request`) and sandbox
 * (`workspace-write`): the real CLI, the fake OpenAI server, the reference relay, a real runner.
 * The fake model's tool calls do the answering: the `reply` tool of the relay MCP server, and the
 * absolute-path `send` script (which the sandbox refuses, with a message that says so).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { waitFor } from '../helpers/rig.js';
import { ensureCodex, startCodexRig, type CodexRig } from './codex-helpers.js';
import type { FakeOpenAICall, FakeOpenAIResponse } from '../../src/testing/fake-openai-server.js';

const CONTROL_TOKEN = 'control-token-for-codex-tests';

let rig: CodexRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

beforeAll(() => {
  ensureCodex();
}, 600_000);

/** The relay message id and sender in the newest turn's header. */
function header(call: FakeOpenAICall): { id: string; from: string } {
  const match = /\[relay message (\S+) from ([^\s·\]]+)/.exec(call.lastUserText);
  if (!match) throw new Error(`no relay header in: ${call.lastUserText.slice(0, 300)}`);
  return { id: match[1]!, from: match[2]! };
}

/** The absolute send command the turn text names (the runner's PATH-free script). */
function sendCommandIn(call: FakeOpenAICall): string {
  const match = /or (\S*agent-relay-send) --to/.exec(call.text);
  if (!match) throw new Error('the turn text names no absolute send script');
  return match[1]!;
}

/** The text of the newest tool output the model is called back with. */
function lastToolOutput(call: FakeOpenAICall): string {
  return JSON.stringify(call.body.input?.at(-1) ?? {});
}

const replyCall = (messageId: string, body: string): FakeOpenAIResponse => ({
  output: [{ type: 'function_call', namespace: 'mcp__relay', name: 'reply', arguments: { message_id: messageId, body } }],
});

/** The agent's own messages at the relay (not the session mirror). */
const agentMessages = (r: CodexRig) => r.relay.listMessages().filter((m) => m.kind === 'message' && m.from === 'codex-1');

describe('Codex answers on the relay with its default sandbox and approval policy (real CLI)', () => {
  it('through the reply tool of the relay MCP server: no prompt, the obligation cleared, the step in the mirror', async () => {
    rig = await startCodexRig((call) => {
      return call.afterToolOutput ? { output: [{ type: 'text', text: 'answered' }] } : replyCall(header(call).id, 'four, via the reply tool');
    });
    const r = rig;
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const sent = r.relay.sendToAgent(agentId, { from: 'alice', body: 'what is 2+2?', expectsReply: true });
    const answer = await waitFor(() => agentMessages(r).find((m) => m.replyTo === sent.id), 'the reply at the relay', 60_000);
    expect(answer).toMatchObject({ to: 'alice', body: 'four, via the reply tool' });
    // The reply finishes the delivery at once; the turn itself ends after the model heard back.
    await waitFor(() => r.deliveries.find((d) => d.messageId === sent.id && d.state === 'finished'), 'the delivery finished', 60_000);
    await waitFor(() => r.model.responseRequests().length >= 2 && r.runner.status.state === 'idle', 'the turn over', 60_000);
    // Pre-approved: nothing was asked at the relay, and the turn needed no reminder.
    expect(r.relay.permissions(agentId)).toEqual([]);
    expect(r.logger.lines().some((l) => /follow-up turn/.test(l))).toBe(false);
    expect(r.relay.obligations(agentId)).toEqual([]);
    // The MCP tool step in the session mirror, started then completed, under the message's turn.
    const steps = await waitFor(() => {
      const found = r.sessionMessages().filter((m) => m.replyTo === sent.id && m.entry === 'tool').map((m) => m.body);
      return found.length >= 2 ? found : undefined;
    }, 'both tool steps at the relay', 30_000);
    expect(steps).toEqual([expect.stringMatching(/^relay\.reply started: .*four, via the reply tool/), expect.stringMatching(/^relay\.reply completed: /)]);
    // The model was told it worked.
    expect(r.model.responseRequests().some((q) => JSON.stringify((q.body as { input?: unknown[] }).input?.at(-1)).includes(`Reply to message ${sent.id} queued for alice`))).toBe(true);
  }, 120_000);

  it('through the absolute-path send script: the sandbox refuses the connection, and the error says so (not "is the runner still running?")', async () => {
    let command = '';
    rig = await startCodexRig((call) => {
      if (call.afterToolOutput) return { output: [{ type: 'text', text: 'send failed' }] };
      const { id, from } = header(call);
      command = `${sendCommandIn(call)} --to ${from} --reply-to ${id} "via send"`;
      return { output: [{ type: 'shell', command }] };
    });
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'answer with send', expectsReply: true });
    await waitFor(() => r.model.responseRequests().find((q) => /_output/.test(String((q.body as { input?: Array<{ type?: string }> }).input?.at(-1)?.type))), 'the command output', 60_000);
    const output = JSON.stringify(r.model.responseRequests().at(-1)!.body);
    // The script exists at the absolute path the turn named, and ran (no "command not found").
    expect(command).toMatch(/^\/\S+\/agent-relay-send /);
    expect(existsSync(command.split(' ')[0]!)).toBe(true);
    expect(output).not.toMatch(/command not found|No such file/);
    expect(output).toMatch(/refused by Codex's sandbox \(its network access is off\) \((EPERM|EACCES)\), not by the runner/);
    expect(output).toContain('`reply` tool');
    expect(output).not.toMatch(/is the runner still running/);
    expect(agentMessages(r).some((m) => m.replyTo === sent.id)).toBe(false);
  }, 120_000);

  it('the send script works once the sandbox may use the network (the opt-in: sandbox_workspace_write.network_access)', async () => {
    rig = await startCodexRig(
      (call) => {
        if (call.afterToolOutput) return { output: [{ type: 'text', text: 'sent it' }] };
        const { id, from } = header(call);
        return { output: [{ type: 'shell', command: `${sendCommandIn(call)} --to ${from} --reply-to ${id} "via send, with network"` }] };
      },
      { codex: { config: { 'model_providers.fake.request_max_retries': '0', 'model_providers.fake.stream_max_retries': '0', 'sandbox_workspace_write.network_access': 'true' } } },
    );
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'answer with send', expectsReply: true });
    const answer = await waitFor(() => agentMessages(r).find((m) => m.replyTo === sent.id), 'the reply at the relay', 60_000);
    expect(answer.body).toBe('via send, with network');
  }, 120_000);

  it('a forgetful model is reminded in a follow-up turn, answers with the reply tool, and the runner sees one turn', async () => {
    rig = await startCodexRig(async (call) => {
      if (/You still owe a reply/.test(call.lastUserText) && !call.afterToolOutput) {
        const owed = /message (\S+) from alice/.exec(call.lastUserText);
        return replyCall(owed?.[1] ?? 'unknown', 'sorry, the answer is 4');
      }
      if (call.afterToolOutput) return { output: [{ type: 'text', text: 'replied after the reminder' }] };
      // Answer only once the runner's obligation snapshot lists the message (the relay has it as
      // owed): the turn then ends owing it, which is what this test is about.
      const { id } = header(call);
      await waitFor(async () => {
        const res = await fetch(`${rig!.runner.controlUrl}/obligations`, { headers: { authorization: `Bearer ${CONTROL_TOKEN}` } });
        const body = (await res.json()) as { items: Array<{ messageId: string }> };
        return body.items.some((o) => o.messageId === id);
      }, 'the obligation in the snapshot', 30_000);
      return { output: [{ type: 'text', text: 'I think it is 4 (but I forgot to reply)' }] };
    });
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'what is 2+2?', expectsReply: true });
    const answer = await waitFor(() => agentMessages(r).find((m) => m.replyTo === sent.id), 'the reply after the reminder', 90_000);
    expect(answer.body).toBe('sorry, the answer is 4');
    await waitFor(() => r.deliveries.find((d) => d.messageId === sent.id && d.state === 'finished'), 'the turn finished', 60_000);
    const reminders = r.model.responseRequests().filter((q) => /You still owe a reply/.test(JSON.stringify(q.body)) && !/_output/.test(JSON.stringify((q.body as { input?: unknown[] }).input?.at(-1))));
    expect(reminders).toHaveLength(1);
    expect(JSON.stringify(reminders[0]!.body)).toContain('`mcp__relay` namespace');
    // One relay message, one turn for the runner: consumed once, finished once; the reminder turn's
    // tool step is mirrored under the same message, and the final text is not posted as a second
    // answer (the agent answered with the tool).
    expect(r.deliveries.filter((d) => d.messageId === sent.id).map((d) => d.state)).toEqual(['queued', 'injected', 'consumed', 'finished']);
    const mirrored = () => r.mirrors.filter((m) => m.replyTo === sent.id).map((m) => `${m.entry}:${m.body}`);
    await waitFor(() => mirrored().some((m) => /^tool:relay\.reply completed: /.test(m)), 'the reminder turn\'s tool step mirrored', 30_000);
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the chain', 30_000);
    expect(mirrored().filter((m) => m.startsWith('tool:'))).toEqual([
      expect.stringMatching(/^tool:relay\.reply started: .*sorry, the answer is 4/),
      expect.stringMatching(/^tool:relay\.reply completed: /),
    ]);
    expect(mirrored().filter((m) => m.startsWith('reply:'))).toEqual([]);
    expect(r.logger.lines().filter((l) => /follow-up turn 1 \(reminding it of /.test(l))).toHaveLength(1);
  }, 150_000);
});
