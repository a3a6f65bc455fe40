/**
 * End to end: the real, pinned Claude Code CLI (headless, stream-json) driven by a real runner,
 * against the reference relay and a fake Anthropic server on loopback. No API key, no network.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../helpers/rig.js';
import { CLAUDE_CODE_TESTED_VERSION } from '../../src/providers/claude/headless.js';
import { compareVersions } from '../../src/providers/kit/version.js';
import type { FakeAnthropicCall, FakeAnthropicResponse } from '../../src/testing/fake-anthropic-server.js';
import { CLAUDE_VERSION, ensureClis, maybeSaveHookFixtures, restartScript, RETRY_NOTE, startClaudeRig, userTexts, type ClaudeRig } from './claude-helpers.js';

let rig: ClaudeRig | undefined;

beforeAll(() => {
  ensureClis();
}, 600_000);

afterEach(async (ctx) => {
  if (process.env.E2E_DEBUG && rig) {
    console.log('HOOKS', JSON.stringify(rig.hooks.map((h) => [h.path, h.status, h.response.slice(0, 200), JSON.stringify(h.payload).slice(0, 300)]), null, 1));
    console.log('LOG', rig.logger.entries.map((e) => `${e.level} ${e.component} ${e.message}`.slice(0, 400)).join('\n'));
    console.log('MODEL', JSON.stringify(rig.model.messageRequests().map((q) => JSON.stringify((q.body as { messages: unknown[] }).messages.slice(-2)).slice(-1500)), null, 1));
  }
  await rig?.close();
  rig = undefined;
}, 30_000);

const E2E_TIMEOUT = 90_000;
const WAIT = 45_000;
const text = (t: string): FakeAnthropicResponse => ({ blocks: [{ type: 'text', text: t }] });
const sessionEntries = (r: ClaudeRig, messageId: string) =>
  r.relay.listMessages().filter((m) => m.kind === 'session' && m.replyTo === messageId);
const payloadsOf = (r: ClaudeRig, path: string) => r.hooks.filter((h) => h.path === path).map((h) => h.payload as Record<string, unknown>);

describe('Claude Code headless, end to end', () => {
  it('delivers a relay message, confirms consumption, mirrors the reply with replyTo, and goes idle', async () => {
    rig = await startClaudeRig((call: FakeAnthropicCall) =>
      call.lastUserText.includes('hello claude') ? text('Hello alice, nice to meet you.') : text('(unexpected)'),
    );
    const r = rig;
    await r.runner.start();
    expect(r.runner.status.providerVersion).toBe(CLAUDE_VERSION);
    // Version drift shows in the status: a CLI newer than the tested version carries a warning.
    if (compareVersions(CLAUDE_VERSION, CLAUDE_CODE_TESTED_VERSION) > 0) {
      expect(await waitFor(() => r.runner.status.providerWarning, 'the untested-version warning')).toMatch(/newer than the newest version/);
    } else {
      expect(r.runner.status.providerWarning).toBeUndefined();
    }
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'hello claude' });
    const reply = await waitFor(() => sessionEntries(r, sent.id).find((m) => m.entry === 'reply'), 'the reply mirrored', WAIT);
    expect(reply.body).toBe('Hello alice, nice to meet you.');
    expect(r.deliveries.filter((d) => d.messageId === sent.id).map((d) => d.state)).toEqual(['queued', 'injected', 'consumed', 'finished']);
    expect(sessionEntries(r, sent.id)[0]?.entry).toBe('prompt');
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the turn', WAIT);
    // The model saw the runner's turn: relay context block, the sender header, the body.
    const first = r.model.messageRequests()[0]?.rawBody ?? '';
    expect(first).toContain('agent-relay-context');
    expect(first).toContain(`relay message ${sent.id} from alice`);
    // Session identity from stdout; the SessionStart and UserPromptSubmit hooks fired too.
    const sessionId = r.runner.status.sessionId;
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(payloadsOf(r, '/hooks/session-start')[0]).toMatchObject({ hook_event_name: 'SessionStart', source: 'startup', session_id: sessionId });
    expect(payloadsOf(r, '/hooks/user-prompt')[0]?.prompt).toContain('hello claude');
    expect(r.runner.status.context?.usedTokens).toBeGreaterThan(0);
    const stops = payloadsOf(r, '/hooks/stop');
    expect(stops[0]).toMatchObject({ hook_event_name: 'Stop', stop_hook_active: false, last_assistant_message: 'Hello alice, nice to meet you.' });
    await r.runner.stop();
    await waitFor(() => payloadsOf(r, '/hooks/session-end').length > 0, 'SessionEnd hook on stop', WAIT);
    await maybeSaveHookFixtures({
      'session-start-startup': payloadsOf(r, '/hooks/session-start')[0],
      'user-prompt-submit': payloadsOf(r, '/hooks/user-prompt')[0],
      stop: stops[0],
      'session-end': payloadsOf(r, '/hooks/session-end')[0],
    });
  }, E2E_TIMEOUT);

  it('blocks the Stop until the agent answers with `agent-relay-runner send --reply-to` from a Bash call', async () => {
    rig = await startClaudeRig((call: FakeAnthropicCall) => {
      const last = call.lastUserText;
      // The Stop hook's block reason comes back as the next user message ("Stop hook feedback").
      const owed = /--reply-to (\S+)/.exec(last);
      if (last.includes('still owe') && owed) {
        return { blocks: [{ type: 'tool_use', name: 'Bash', input: { command: `agent-relay-runner send --to alice --reply-to ${owed[1]} "4"`, description: 'answer alice' } }] };
      }
      if (last.includes('what is 2+2')) return { ...text('I think I am done.'), holdMs: 800 };
      return text('Answered alice.'); // after the send's tool result
    });
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'what is 2+2?', expectsReply: true });
    const answer = await waitFor(
      () => r.relay.listMessages().find((m) => m.kind === 'message' && m.replyTo === sent.id),
      'the agent answer on the relay',
      WAIT,
    );
    expect(answer).toMatchObject({ from: 'claude-worker', to: 'alice', body: '4' });
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the turn', WAIT);
    // The first Stop was blocked with the reason; Claude carried it to the model as the next request.
    const stops = r.hooks.filter((h) => h.path === '/hooks/stop');
    expect(stops[0]?.status).toBe(200);
    expect(stops[0]?.response).toContain('"decision":"block"');
    expect(stops[0]?.response).toContain(`--reply-to ${sent.id}`);
    expect(r.model.messageRequests().some((q) => q.rawBody.includes('still owe a reply') && q.rawBody.includes(sent.id))).toBe(true);
    // After answering, Stop is allowed (stop_hook_active on the continuation).
    expect(stops.at(-1)?.status).toBe(204);
    expect(r.relay.obligations(r.runner.agentId!)).toEqual([]);
    expect(r.hooks.some((h) => h.path === '/send' && h.status === 200)).toBe(true);
    // The agent answered itself: its closing text is not posted a second time as the reply.
    expect(sessionEntries(r, sent.id).filter((m) => m.entry === 'reply')).toEqual([]);
    await maybeSaveHookFixtures({
      'stop-block': stops[0]?.payload,
      'stop-active': stops.at(-1)?.payload,
    });
  }, E2E_TIMEOUT);

  it('mirrors reasoning and tool steps in order, and relays permission requests (allowed, denied, timed out)', async () => {
    rig = await startClaudeRig(
      (call: FakeAnthropicCall) => {
        const last = call.lastUserText;
        if (last.includes('look around')) {
          return {
            blocks: [
              { type: 'thinking', thinking: 'I should list the directory first.' },
              { type: 'tool_use', name: 'Bash', input: { command: 'echo tool-ran', description: 'probe' } },
            ],
          };
        }
        const touch = /please create (\S+)/.exec(last);
        if (touch) return { blocks: [{ type: 'tool_use', name: 'Bash', input: { command: `touch ${touch[1]}`, description: 'create a file' } }] };
        if (last.includes('tool-ran')) return text('Looked around.');
        return text('Finished the file step.');
      },
      { permissionTimeoutMs: 3_000 },
    );
    const r = rig;
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const probe = r.relay.sendToAgent(agentId, { from: 'alice', body: 'look around' });
    await waitFor(() => sessionEntries(r, probe.id).find((m) => m.entry === 'reply'), 'the probe reply', WAIT);
    expect(sessionEntries(r, probe.id).map((m) => `${m.entry}:${m.body}`)).toEqual([
      expect.stringMatching(/^prompt:/),
      'reasoning:I should list the directory first.',
      'tool:Bash started: echo tool-ran',
      'tool:Bash completed: tool-ran',
      'reply:Looked around.',
    ]);

    // Approved remotely: the file is created.
    const allow = r.relay.sendToAgent(agentId, { from: 'alice', body: 'please create allowed.txt' });
    const allowReq = await waitFor(() => r.relay.permissions(agentId).find((p) => p.summary.includes('allowed.txt')), 'permission request on the relay', WAIT);
    expect(allowReq.tool).toBe('Bash');
    r.relay.decidePermission(allowReq.id, { behavior: 'allow' });
    await waitFor(() => sessionEntries(r, allow.id).find((m) => m.entry === 'reply'), 'the allowed turn ends', WAIT);
    expect(existsSync(join(r.work, 'allowed.txt'))).toBe(true);

    // Denied remotely: Claude reports the denial as the tool's failure.
    const deny = r.relay.sendToAgent(agentId, { from: 'alice', body: 'please create denied.txt' });
    const denyReq = await waitFor(() => r.relay.permissions(agentId).find((p) => p.summary.includes('denied.txt')), 'second permission request', WAIT);
    r.relay.decidePermission(denyReq.id, { behavior: 'deny', message: 'not today' });
    await waitFor(() => sessionEntries(r, deny.id).find((m) => m.entry === 'reply'), 'the denied turn ends', WAIT);
    expect(existsSync(join(r.work, 'denied.txt'))).toBe(false);
    expect(sessionEntries(r, deny.id).some((m) => m.entry === 'tool' && m.body.startsWith('Bash failed:') && m.body.includes('not today'))).toBe(true);

    // Nobody decides: headless fails closed after the runner's timeout.
    const late = r.relay.sendToAgent(agentId, { from: 'alice', body: 'please create late.txt' });
    await waitFor(() => sessionEntries(r, late.id).find((m) => m.entry === 'reply'), 'the timed-out turn ends', WAIT);
    expect(existsSync(join(r.work, 'late.txt'))).toBe(false);
    expect(sessionEntries(r, late.id).some((m) => m.entry === 'tool' && m.body.startsWith('Bash failed:') && m.body.includes('no permission decision'))).toBe(true);
    const permissionPayloads = payloadsOf(r, '/hooks/permission-request');
    expect(permissionPayloads).toHaveLength(3);
    expect(permissionPayloads[0]).toMatchObject({ hook_event_name: 'PermissionRequest', tool_name: 'Bash' });
    await maybeSaveHookFixtures({ 'permission-request': permissionPayloads[0] });
  }, E2E_TIMEOUT);

  it('restarts a CLI killed mid-turn and resumes the same session', async () => {
    rig = await startClaudeRig((call: FakeAnthropicCall) => restartScript(call), { exitPolicy: { baseDelayMs: 200 } });
    const r = rig;
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const slow = r.relay.sendToAgent(agentId, { from: 'alice', body: 'take your time' });
    await waitFor(() => r.deliveries.some((d) => d.messageId === slow.id && d.state === 'consumed'), 'slow turn consumed', WAIT);
    await waitFor(() => r.model.messageRequests().length >= 1, 'model called', WAIT);
    const sessionId = r.runner.status.sessionId;
    expect(sessionId).toBeTruthy();
    // Kill once the turn is on disk: Claude Code writes its transcript lazily, and a session
    // killed before that cannot be resumed (the adapter then starts a new session; see docs).
    const transcript = String(payloadsOf(r, '/hooks/user-prompt')[0]?.transcript_path ?? '');
    await waitFor(() => existsSync(transcript) && readFileSync(transcript, 'utf8').includes('take your time'), 'transcript on disk', WAIT);
    const started = r.timeline.filter((t) => t.event === 'provider.started');
    const pid = (started.at(-1)?.data as { pid?: number } | undefined)?.pid;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, 'SIGKILL');

    await waitFor(() => r.timeline.filter((t) => t.event === 'provider.started').length >= 2, 'provider restarted', WAIT);
    const restarted = r.timeline.filter((t) => t.event === 'provider.started').at(-1);
    expect(restarted?.data).toMatchObject({ resumed: true });
    expect(r.timeline.some((t) => t.event === 'provider.restart_decision' && (t.data as { action?: string }).action === 'restart')).toBe(true);
    await waitFor(
      () => r.timeline.find((t) => t.event === 'provider.session' && (t.data as { source?: string }).source === 'resume'),
      'resumed session reported',
      WAIT,
    );
    expect(r.runner.status.sessionId).toBe(sessionId);
    // The SessionStart(resume) hook names the same session (hooks exit 0 and answer within their
    // budget since issue 10, item 6: a missing hook is a failure, not something to skip).
    const resumeHook = await waitFor(() => payloadsOf(r, '/hooks/session-start').find((p) => p.source === 'resume'), 'SessionStart(resume) hook', WAIT);
    expect(resumeHook.session_id).toBe(sessionId);

    // The killed message's fate: delivered again, marked as a retry, answered exactly once.
    const retried = await waitFor(() => sessionEntries(r, slow.id).find((m) => m.entry === 'reply'), 'the killed message answered after the restart', WAIT);
    expect(retried.body).toBe('Finished the slow one on retry.');
    expect(r.model.messageRequests().some((q) => RETRY_NOTE.test(userTexts(q.body).at(-1) ?? '') && (userTexts(q.body).at(-1) ?? '').includes('take your time'))).toBe(true);

    // The resumed conversation has the original attempt in its history (not only the retry).
    const next = r.relay.sendToAgent(agentId, { from: 'alice', body: 'are you back?' });
    const reply = await waitFor(() => sessionEntries(r, next.id).find((m) => m.entry === 'reply'), 'reply after resume', WAIT);
    expect(reply.body).toBe('I remember the slow one.');
    expect(sessionEntries(r, slow.id).filter((m) => m.entry === 'reply')).toHaveLength(1);
    await maybeSaveHookFixtures({ 'session-start-resume': resumeHook });
  }, E2E_TIMEOUT);

  it('a second message arriving mid-turn is delivered once, answered once, after the first, each with its own replyTo', async () => {
    rig = await startClaudeRig((call: FakeAnthropicCall) => {
      const last = call.lastUserText;
      if (last.includes('long one')) return { ...text('Long answer.'), holdMs: 3_000 };
      if (last.includes('quick one')) return text('Quick answer.');
      return text('(unexpected)');
    });
    const r = rig;
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const first = r.relay.sendToAgent(agentId, { from: 'alice', body: 'long one' });
    await waitFor(() => r.deliveries.find((d) => d.messageId === first.id && d.state === 'consumed'), 'first consumed', WAIT);
    const second = r.relay.sendToAgent(agentId, { from: 'bob', body: 'quick one' });
    await waitFor(() => r.deliveries.find((d) => d.messageId === second.id && d.state === 'injected'), 'second injected', WAIT);
    // The first turn still runs: the second is held by the adapter, not merged into it.
    expect(r.deliveries.some((d) => d.messageId === second.id && d.state === 'consumed')).toBe(false);
    const replies = await waitFor(() => {
      const found = r.relay.listMessages().filter((m) => m.kind === 'session' && m.entry === 'reply');
      return found.length >= 2 ? found : undefined;
    }, 'both replies', WAIT);
    expect(replies.map((m) => [m.replyTo, m.body])).toEqual([
      [first.id, 'Long answer.'],
      [second.id, 'Quick answer.'],
    ]);
    await waitFor(() => r.runner.status.state === 'idle', 'idle after both turns', WAIT);
    for (const sent of [first, second]) {
      expect(r.deliveries.filter((d) => d.messageId === sent.id).map((d) => d.state)).toEqual(['queued', 'injected', 'consumed', 'finished']);
      expect(sessionEntries(r, sent.id).filter((m) => m.entry === 'prompt')).toHaveLength(1);
    }
    // Each message reached the model once, as the newest prompt of its own turn, in order.
    const prompts = r.model.messageRequests().map((q) => userTexts(q.body).at(-1) ?? '');
    const firstAt = prompts.findIndex((t) => t.includes(`[relay message ${first.id} `));
    const secondAt = prompts.findIndex((t) => t.includes(`[relay message ${second.id} `));
    expect(firstAt).toBeGreaterThanOrEqual(0);
    expect(secondAt).toBeGreaterThan(firstAt);
    expect(prompts.filter((t) => t.includes(`[relay message ${second.id} `))).toHaveLength(1);
    expect(prompts[firstAt]).not.toContain('quick one');
    expect(payloadsOf(r, '/hooks/user-prompt').map((p) => String(p.prompt).includes('quick one'))).toEqual([false, true]);
  }, E2E_TIMEOUT);

  it('a real subagent (background, the default): status shows it open while it runs, idle only after it ends, and the mirror shows it', async () => {
    let subagentTool = '';
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    rig = await startClaudeRig(async (call: FakeAnthropicCall) => {
      const last = call.lastUserText;
      const tools = (call.body.tools ?? []).map((t) => String((t as { name?: unknown }).name));
      if (last.includes('SUBAGENT JOB')) {
        // The subagent's own model call: held until the test has looked at the status.
        await released;
        return text('one two three');
      }
      if (last.includes('please delegate')) {
        // The subagent tool is `Agent` in current Claude Code (`Task` before); it runs in the background by default.
        subagentTool = tools.find((n) => n === 'Agent' || n === 'Task') ?? 'Agent';
        return { blocks: [{ type: 'tool_use', name: subagentTool, input: { description: 'count for me', prompt: 'SUBAGENT JOB: count to three', subagent_type: 'general-purpose' } }] };
      }
      if (last.includes('one two three')) return text('The subagent counted: one two three.');
      if (/agent launched/i.test(last)) return text('Started a helper; it will report back.');
      return text('(unexpected)');
    });
    const r = rig;
    const states: Array<{ state: string; openSubagents: number }> = [];
    r.runner.on('status', (s) => states.push({ state: s.state, openSubagents: s.openSubagents }));
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'please delegate' });
    await waitFor(() => r.runner.status.openSubagents === 1, 'one open subagent in the status', WAIT);
    // The main turn ends while the subagent works on: the agent is still busy, not idle.
    const first = await waitFor(() => sessionEntries(r, sent.id).find((m) => m.entry === 'reply'), 'the main turn reply mirrored', WAIT);
    expect(first.body).toBe('Started a helper; it will report back.');
    expect(r.runner.status).toMatchObject({ state: 'busy', openSubagents: 1 });
    expect(states.some((s) => s.state === 'idle' && s.openSubagents > 0)).toBe(false);
    release();
    await waitFor(() => payloadsOf(r, '/hooks/subagent-stop').length === 1, 'SubagentStop hook', WAIT);
    await waitFor(() => r.relay.listMessages().find((m) => m.kind === 'session' && m.entry === 'reply' && m.body === 'The subagent counted: one two three.'), 'the result turn mirrored', WAIT);
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the subagent ended', WAIT);
    expect(r.runner.status.openSubagents).toBe(0);
    // Never idle while the subagent was open; it opened once and closed once.
    const opened = states.findIndex((s) => s.openSubagents === 1);
    const closed = states.findIndex((s, i) => i > opened && s.openSubagents === 0);
    expect(opened).toBeGreaterThanOrEqual(0);
    expect(closed).toBeGreaterThan(opened);
    expect(states.slice(opened, closed).every((s) => s.state !== 'idle')).toBe(true);
    expect(payloadsOf(r, '/hooks/subagent-start')).toHaveLength(1);
    // The mirror shows the subagent as a tool step of this message's turn; its own text is not
    // taken for the agent's reply, and the relay message is consumed and finished once.
    const entries = sessionEntries(r, sent.id).map((m) => `${m.entry}:${m.body}`);
    expect(entries[0]).toMatch(/^prompt:/);
    expect(entries).toContainEqual(expect.stringMatching(new RegExp(`^tool:${subagentTool} started: `)));
    expect(entries).toContainEqual(expect.stringMatching(new RegExp(`^tool:${subagentTool} completed: `)));
    expect(r.relay.listMessages().some((m) => m.kind === 'session' && m.body.includes('one two three') && m.entry === 'reply' && m.body !== 'The subagent counted: one two three.')).toBe(false);
    expect(r.deliveries.filter((d) => d.messageId === sent.id).map((d) => d.state)).toEqual(['queued', 'injected', 'consumed', 'finished']);
    await maybeSaveHookFixtures({ 'subagent-start': payloadsOf(r, '/hooks/subagent-start')[0], 'subagent-stop': payloadsOf(r, '/hooks/subagent-stop')[0] });
  }, E2E_TIMEOUT);
});
