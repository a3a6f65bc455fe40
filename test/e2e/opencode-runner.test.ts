import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { waitFor } from '../helpers/rig.js';
import { OPENCODE_TESTED_VERSION } from '../../src/providers/opencode/provider.js';
import { compareVersions } from '../../src/providers/kit/version.js';
import { OPENCODE_VERSION, ensureOpenCode, isTitleCall, startOpenCodeRig, type OpenCodeRig } from './opencode-helpers.js';
import type { FakeOpenAICall, FakeOpenAIResponse } from '../../src/testing/fake-openai-server.js';

/** The runner's note on a message whose earlier turn was interrupted (issue 10, item 1). */
const RETRY_NOTE = /previous attempt at this message was interrupted/;

let rig: OpenCodeRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

beforeAll(() => {
  expect(ensureOpenCode()).toContain(`opencode ${OPENCODE_VERSION}\n`);
}, 600_000);

/** Text of the last chat message (a tool result after a tool call). */
const lastMessageText = (call: FakeOpenAICall): string => JSON.stringify(call.body.input?.at(-1) ?? {});

/**
 * The fake model, routed on markers in the newest user message: `[mcp-reply]` answers through the
 * relay tool `relay_reply`; `[shell:<cmd>]` reasons, runs the command, then answers with its
 * output; `[slow:<ms>]` holds the answer that long; otherwise it reasons briefly and answers
 * `OpenCode says: <last line>`. The title call (no tools) gets a title.
 */
function script(call: FakeOpenAICall): FakeOpenAIResponse {
  if (isTitleCall(call)) return { output: [{ type: 'text', text: 'A title' }] };
  const text = call.lastUserText;
  const lastLine = text.trim().split('\n').at(-1) ?? '';
  const shell = /\[shell:([^\]]+)\]/.exec(text);
  const slow = /\[slow:(\d+)\]/.exec(text);
  if (text.includes('[send-script]')) {
    if (call.afterToolOutput) return { output: [{ type: 'text', text: `send said: ${lastMessageText(call).includes('queued for') ? 'queued' : 'failed'}` }] };
    // The command exactly as the message header names it: the PATH-free script, by absolute path.
    const named = /or (\S+) --to (\S+) --reply-to ([^\s\]·]+)/.exec(text);
    return { output: [{ type: 'shell', command: `${named?.[1] ?? 'missing-script'} --to ${named?.[2] ?? 'nobody'} --reply-to ${named?.[3] ?? 'none'} answered-through-the-send-script` }] };
  }
  if (text.includes('[mcp-reply]')) {
    if (call.afterToolOutput) return { output: [{ type: 'text', text: `tool said: ${lastMessageText(call).includes('"error"') ? 'error' : 'ok'}` }] };
    const messageId = /\[relay message (\S+) from/.exec(text)?.[1] ?? 'unknown';
    return { output: [{ type: 'function_call', name: 'relay_reply', arguments: { message_id: messageId, body: 'answered through the MCP relay tool' } }] };
  }
  if (shell && !call.afterToolOutput) {
    return { output: [{ type: 'reasoning', summary: 'I should run a command' }, { type: 'shell', command: shell[1] ?? 'true' }] };
  }
  if (shell) return { output: [{ type: 'text', text: `ran it: ${lastMessageText(call).includes('hi-from-shell') ? 'hi-from-shell' : 'no output'}` }] };
  return {
    // A retried message (the runner's interrupted-attempt note) is answered at once.
    holdMs: slow && !RETRY_NOTE.test(text) ? Number(slow[1]) : 0,
    output: [{ type: 'reasoning', summary: 'Thinking about the message' }, { type: 'text', text: `OpenCode says: ${lastLine}` }],
    usage: { inputTokens: 1500, outputTokens: 40 },
  };
}

const WAIT = 90_000;

describe('OpenCode (opencode acp) end to end (real CLI, fake OpenAI chat completions, reference relay)', () => {
  it('a relay message answered by the model calling the MCP relay tool reply: the reply reaches the sender with replyTo', async () => {
    rig = await startOpenCodeRig(script);
    const r = rig;
    await r.runner.start();
    expect(r.runner.status.providerVersion).toBe(OPENCODE_VERSION);
    if (compareVersions(OPENCODE_VERSION, OPENCODE_TESTED_VERSION) > 0) {
      expect(await waitFor(() => r.runner.status.providerWarning, 'the untested-version warning')).toMatch(/newer than the newest version/);
    } else {
      expect(r.runner.status.providerWarning).toBeUndefined();
    }
    const session = await waitFor(() => r.timeline.find((t) => t.event === 'provider.session'), 'session started', WAIT);
    expect(session.data).toMatchObject({ source: 'startup' });
    const agentId = r.runner.agentId!;

    const sent = r.relay.sendToAgent(agentId, { from: 'alice', body: 'answer with the tool [mcp-reply]' });
    const answer = await waitFor(
      () => r.relay.listMessages().find((m) => m.kind !== 'session' && m.replyTo === sent.id),
      'the reply sent by the relay tool',
      WAIT,
    );
    expect(answer.body).toBe('answered through the MCP relay tool');
    expect(answer.to).toBe('alice');
    // The tool step is mirrored (OpenCode names MCP tools <server>_<tool>), and the tool answered ok.
    await waitFor(() => r.mirrors.find((m) => m.replyTo === sent.id && m.entry === 'tool' && /relay_reply completed/.test(m.body)), 'the tool step', WAIT);
    await waitFor(() => r.deliveries.find((d) => d.messageId === sent.id && d.state === 'finished'), 'the turn ends', WAIT);
    await waitFor(() => r.sessionMessages().find((m) => m.replyTo === sent.id && m.entry === 'tool' && /relay_reply completed/.test(m.body)), 'the tool step at the relay', WAIT);
    // Answered once: the turn's final text ("tool said: ok") is not posted as a second reply.
    expect(r.mirrors.some((m) => m.replyTo === sent.id && m.entry === 'reply')).toBe(false);
    expect(r.relay.listMessages().filter((m) => m.kind !== 'session' && m.replyTo === sent.id)).toHaveLength(1);
    expect(r.model.chatRequests().at(-1)!.rawBody).not.toContain('"error"');
    expect(r.deliveries.filter((d) => d.messageId === sent.id).map((d) => d.state)).toEqual(['queued', 'injected', 'consumed', 'finished']);
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the turn');
    expect(r.relay.statuses(agentId).map((s) => s.status.state)).toContain('busy');
    // The relay tools' config carries no secret: the token is an {env:…} reference.
    expect(r.logger.lines().join('\n')).not.toContain('control-token-for-opencode-tests');
  }, 180_000);

  it('mirrors reasoning and a shell tool step in order (the shell step allowed through the permission relay)', async () => {
    rig = await startOpenCodeRig(script);
    const r = rig;
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const sent = r.relay.sendToAgent(agentId, { from: 'alice', body: 'please [shell:echo hi-from-shell]' });
    const asked = await waitFor(() => r.relay.permissions(agentId).find((p) => p.status === 'pending'), 'a pending permission', WAIT);
    expect(asked).toMatchObject({ tool: 'bash' });
    expect(asked.summary).toContain('echo hi-from-shell');
    r.relay.decidePermission(asked.id, { behavior: 'allow', decidedBy: 'alice' });
    await waitFor(() => r.sessionMessages().find((m) => m.entry === 'reply' && m.replyTo === sent.id), 'reply mirrored', WAIT);
    const entries = r.sessionMessages()
      .filter((m) => m.replyTo === sent.id)
      .map((m) => `${m.entry}:${m.body}`);
    expect(entries[0]).toMatch(/^prompt:/);
    expect(entries.slice(1)).toEqual([
      'reasoning:I should run a command',
      expect.stringMatching(/^tool:bash started: .*echo hi-from-shell/),
      expect.stringMatching(/^tool:bash completed: .*echo hi-from-shell/),
      'reply:ran it: hi-from-shell',
    ]);
    // Each run's TMPDIR (where OpenCode leaves a native library) is its own, under the state dir.
    expect((await readdir(r.stateDir)).filter((e) => e.startsWith('tmp-'))).toHaveLength(1);
    // …and it goes when the process does.
    await r.runner.stop();
    await waitFor(async () => (await readdir(r.stateDir)).every((e) => !e.startsWith('tmp-')), 'the run TMPDIR removed');
    expect((await readdir(r.stateDir)).sort()).toEqual(['cache', 'config', 'data', 'state']);
  }, 180_000);

  it('a permission denied on the relay, and one nobody answers denied after the timeout: the command never runs', async () => {
    rig = await startOpenCodeRig(script, { runner: { permissionTimeoutMs: 2_000 } });
    const r = rig;
    await r.runner.start();
    const agentId = r.runner.agentId!;

    const denied = r.relay.sendToAgent(agentId, { from: 'alice', body: 'run it [shell:echo hi-from-shell]' });
    const asked = await waitFor(() => r.relay.permissions(agentId).find((p) => p.status === 'pending'), 'a pending permission', WAIT);
    r.relay.decidePermission(asked.id, { behavior: 'deny', message: 'not today', decidedBy: 'alice' });
    await waitFor(() => r.mirrors.find((m) => m.replyTo === denied.id && m.entry === 'tool' && /bash failed/.test(m.body)), 'the denied tool step', WAIT);
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the denied turn', WAIT);
    expect(r.logger.lines().some((l) => /permission opencode-\S+ denied: not today/.test(l))).toBe(true);
    expect(r.mirrors.some((m) => m.replyTo === denied.id && /bash completed/.test(m.body))).toBe(false);

    const late = r.relay.sendToAgent(agentId, { from: 'alice', body: 'again [shell:echo hi-from-shell]' });
    await waitFor(() => r.relay.permissions(agentId).find((p) => p.status === 'pending' && p.id !== asked.id), 'a second pending permission', WAIT);
    await waitFor(() => r.logger.lines().find((l) => /permission opencode-\S+ denied: no permission decision from the relay within \d/.test(l)), 'deny with a reason', WAIT);
    await waitFor(() => r.mirrors.find((m) => m.replyTo === late.id && m.entry === 'tool' && /bash failed/.test(m.body)), 'the timed-out tool step', WAIT);
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the timed-out turn', WAIT);
    expect(r.mirrors.some((m) => m.replyTo === late.id && /bash completed/.test(m.body))).toBe(false);
    // Neither command ran: no model call ever carried its output.
    expect(r.model.chatRequests().some((q) => q.rawBody.includes('hi-from-shell\\n'))).toBe(false);
  }, 240_000);

  it('restarts opencode killed mid-turn, loads the same session, answers the killed message once as a retry, then the next', async () => {
    rig = await startOpenCodeRig(script);
    const r = rig;
    await r.runner.start();
    const first = await waitFor(() => r.timeline.find((t) => t.event === 'provider.session'), 'first session', WAIT);
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'take your time [slow:6000]' });
    await waitFor(() => r.deliveries.find((d) => d.messageId === sent.id && d.state === 'consumed'), 'consumed', WAIT);
    const pid = r.timeline.find((t) => t.event === 'provider.started')!.data!.pid as number;
    process.kill(pid, 'SIGKILL');
    const decision = await waitFor(() => r.timeline.find((t) => t.event === 'provider.restart_decision'), 'restart decision', WAIT);
    expect(decision.data).toMatchObject({ action: 'restart', signal: 'SIGKILL' });
    const resumed = await waitFor(() => r.timeline.find((t) => t.event === 'provider.session' && t.data?.source === 'resume'), 'loaded session', WAIT);
    expect(resumed.data?.sessionId).toBe(first.data?.sessionId);
    const retried = await waitFor(() => r.sessionMessages().find((m) => m.entry === 'reply' && m.replyTo === sent.id), 'the killed message answered', WAIT);
    expect(retried.body).toBe('OpenCode says: take your time [slow:6000]');
    expect(r.model.chatRequests().some((q) => RETRY_NOTE.test(q.rawBody))).toBe(true);
    const next = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'still there?' });
    const reply = await waitFor(() => r.sessionMessages().find((m) => m.entry === 'reply' && m.replyTo === next.id), 'reply after resume', WAIT);
    expect(reply.body).toBe('OpenCode says: still there?');
    // The same conversation continues: the last model call carries the killed message too.
    expect(r.model.chatRequests().at(-1)!.rawBody).toContain('take your time [slow:6000]');
    expect(r.sessionMessages().filter((m) => m.entry === 'reply' && m.replyTo === sent.id)).toHaveLength(1);
  }, 240_000);

  it('two messages while busy: queued behind the running turn, answered once each, in order, each with its own replyTo', async () => {
    rig = await startOpenCodeRig(script);
    const r = rig;
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const first = r.relay.sendToAgent(agentId, { from: 'alice', body: 'long one [slow:5000]' });
    await waitFor(() => r.deliveries.find((d) => d.messageId === first.id && d.state === 'consumed'), 'first consumed', WAIT);
    const second = r.relay.sendToAgent(agentId, { from: 'bob', body: 'quick one' });
    const third = r.relay.sendToAgent(agentId, { from: 'carol', body: 'another one' });
    await waitFor(() => r.deliveries.find((d) => d.messageId === third.id && d.state === 'injected'), 'third injected', WAIT);
    expect(r.deliveries.some((d) => (d.messageId === second.id || d.messageId === third.id) && d.state === 'consumed')).toBe(false);
    const replies = await waitFor(() => {
      const found = r.sessionMessages().filter((m) => m.entry === 'reply');
      return found.length >= 3 ? found : undefined;
    }, 'three replies', WAIT);
    expect(replies.map((m) => [m.replyTo, m.body])).toEqual([
      [first.id, 'OpenCode says: long one [slow:5000]'],
      [second.id, 'OpenCode says: quick one'],
      [third.id, 'OpenCode says: another one'],
    ]);
    expect(r.deliveries.filter((d) => d.state === 'consumed').map((d) => d.messageId)).toEqual([first.id, second.id, third.id]);
    await waitFor(() => r.runner.status.state === 'idle', 'idle after all turns', WAIT);
    expect(r.sessionMessages().filter((m) => m.entry === 'reply')).toHaveLength(3);
  }, 240_000);

  it('answered through the PATH-free send script the header names: runs without a permission request, the reply reaches the sender', async () => {
    rig = await startOpenCodeRig(script);
    const r = rig;
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const sent = r.relay.sendToAgent(agentId, { from: 'alice', body: 'please answer [send-script]', expectsReply: true });
    const reply = await waitFor(() => r.relay.listMessages().find((m) => m.kind !== 'session' && m.replyTo === sent.id), 'the reply at alice', WAIT);
    expect(reply.body).toBe('answered-through-the-send-script');
    expect(r.relay.permissions(agentId)).toEqual([]);
  }, 180_000);

  it('the default rules: answering with `agent-relay-runner send` runs without asking, any other shell command is asked', async () => {
    rig = await startOpenCodeRig(script);
    const r = rig;
    await r.runner.start();
    const agentId = r.runner.agentId!;
    // Not on PATH here: the command fails, but it ran without a permission request.
    const send = r.relay.sendToAgent(agentId, { from: 'alice', body: 'answer [shell:agent-relay-runner send --to alice hi]' });
    await waitFor(() => r.mirrors.find((m) => m.replyTo === send.id && m.entry === 'tool' && /bash (completed|failed): agent-relay-runner send/.test(m.body)), 'the send step', WAIT);
    expect(r.relay.permissions(agentId)).toEqual([]);
    await waitFor(() => r.runner.status.state === 'idle', 'idle', WAIT);
    r.relay.sendToAgent(agentId, { from: 'alice', body: 'other [shell:echo other]' });
    const asked = await waitFor(() => r.relay.permissions(agentId).find((p) => p.status === 'pending'), 'a pending permission', WAIT);
    expect(asked).toMatchObject({ tool: 'bash', summary: 'echo other' });
  }, 180_000);
});
