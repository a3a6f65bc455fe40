/**
 * End to end: the real, pinned Claude Code TUI in tmux (the interactive adapter) driven by a real
 * runner, against the reference relay and a fake Anthropic server on loopback. Turn lifecycle
 * comes from the plugin's hooks; the test also reads the screen through the attach spec's socket.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from '../helpers/rig.js';
import type { FakeAnthropicCall, FakeAnthropicResponse } from '../../src/testing/fake-anthropic-server.js';
import type { TerminalAttachSpec } from '../../src/ports/provider.js';
import { createClaudeInteractiveProvider, sanitizeTypedText, type ClaudeInteractiveProviderOptions } from '../../src/providers/claude/interactive.js';
import { createChildProcessSpawner } from '../../src/adapters/child-process-spawner.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { isRunnerError } from '../../src/errors/index.js';
import { CLAUDE_BIN, CLAUDE_VERSION, ensureClis, restartScript, startClaudeRig, type ClaudeRig } from './claude-helpers.js';

const API_KEY = 'sk-ant-e2e-dummy'; // what the rig puts in ANTHROPIC_API_KEY
const CONTROL_TOKEN = 'claude-e2e-control-token'; // the rig's control token

let rig: ClaudeRig | undefined;
let lastSocket: string | undefined;

beforeAll(() => {
  ensureClis();
}, 600_000);

afterEach(async () => {
  if (process.env.E2E_DEBUG && rig) {
    console.log('LOG', rig.logger.entries.map((e) => `${e.level} ${e.component} ${e.message}`.slice(0, 600)).join('\n'));
    if (lastSocket && existsSync(lastSocket)) console.log('SCREEN', tmuxScreen(lastSocket));
  }
  await rig?.close();
  rig = undefined;
  // The adapter removes its socket directory on exit; a leftover one is a leak.
  if (lastSocket) expect(existsSync(lastSocket)).toBe(false);
  lastSocket = undefined;
}, 30_000);

const E2E_TIMEOUT = 120_000;
const WAIT = 60_000;
const text = (t: string): FakeAnthropicResponse => ({ blocks: [{ type: 'text', text: t }] });
const sessionEntries = (r: ClaudeRig, messageId: string) =>
  r.relay.listMessages().filter((m) => m.kind === 'session' && m.replyTo === messageId);

function tmuxScreen(socket: string, target?: string): string {
  return execFileSync('tmux', ['-S', socket, 'capture-pane', '-p', ...(target ? ['-t', target] : [])], { encoding: 'utf8', timeout: 10_000 });
}

/**
 * First-run state the TUI needs before it takes input (otherwise it stops at the network
 * preflight, the API-key question or the trust dialog): onboarding done, this cwd trusted, the
 * dummy key approved (by its last 20 characters).
 */
async function writeFirstRunConfig(r: ClaudeRig): Promise<void> {
  const config = {
    hasCompletedOnboarding: true,
    customApiKeyResponses: { approved: [API_KEY.slice(-20)], rejected: [] },
    projects: { [r.work]: { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true, allowedTools: [] } },
  };
  await writeFile(join(r.configDir, '.claude.json'), JSON.stringify(config), { mode: 0o600 });
}

async function startInteractive(
  script: (call: FakeAnthropicCall) => FakeAnthropicResponse,
  overrides: Parameters<typeof startClaudeRig>[1] = {},
  providerOptions: ClaudeInteractiveProviderOptions = {},
  firstRunConfig = true,
): Promise<ClaudeRig> {
  const r = await startClaudeRig(script, {
    provider: createClaudeInteractiveProvider({ command: CLAUDE_BIN, ...providerOptions }),
    ...overrides,
  });
  rig = r;
  if (firstRunConfig) await writeFirstRunConfig(r);
  return r;
}

/**
 * Attach with `command` in a pseudo-terminal (`script`), as a human would, and return tmux's own
 * `client_readonly` flag of that client ('1': its keys are ignored).
 */
async function attachedClientReadOnly(command: string[]): Promise<string> {
  const socket = command[2] ?? '';
  const quoted = command.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const child = spawn('script', ['-qfc', quoted, '/dev/null'], { stdio: ['pipe', 'ignore', 'ignore'], env: { ...process.env, TERM: 'xterm-256color' } });
  try {
    const list = () => execFileSync('tmux', ['-S', socket, 'list-clients', '-F', '#{client_readonly}'], { encoding: 'utf8', timeout: 10_000 }).trim();
    return await waitFor(() => list() || undefined, 'the client attached', WAIT);
  } finally {
    child.kill('SIGTERM');
  }
}

async function attachSpecOverControlPort(r: ClaudeRig): Promise<TerminalAttachSpec> {
  const res = await fetch(`${r.runner.controlUrl}/terminal`, { headers: { authorization: `Bearer ${CONTROL_TOKEN}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as TerminalAttachSpec;
}

describe('sanitizeTypedText', () => {
  it('keeps newlines and tabs, drops other control characters (no early end of the paste)', () => {
    expect(sanitizeTypedText('a\r\nb\tc\x1b[201~d\x03e\x7f')).toBe('a\nb\tc[201~de');
  });
});

describe('Claude Code interactive: version and terminal checks', () => {
  const deps = () => ({ spawner: createChildProcessSpawner({ clock: createSystemClock() }), logger: createMemoryLogger(), clock: createSystemClock() });

  it('reads the Claude version and checks that tmux runs', async () => {
    const adapter = createClaudeInteractiveProvider({ command: CLAUDE_BIN });
    expect(adapter.capabilities).toEqual({ structuredInput: false, resume: true, interactive: true, hookDriven: true, midTurnMessages: 'queue' });
    await expect(adapter.checkVersion(deps())).resolves.toBe(CLAUDE_VERSION);
  }, 60_000);

  it('is a clear ProviderError at start when tmux is missing', async () => {
    const adapter = createClaudeInteractiveProvider({ command: CLAUDE_BIN, tmuxCommand: '/nonexistent/tmux' });
    const error: unknown = await adapter.checkVersion(deps()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRunnerError(error) && error.code).toBe('PROVIDER');
    expect(String((error as Error).message)).toMatch(/tmux not found/);
  }, 60_000);
});

describe('Claude Code interactive (tmux), end to end', () => {
  it('types a relay message into the TUI, confirms consumption by hook, mirrors the reply with replyTo, and goes idle', async () => {
    const r = await startInteractive((call) => (call.lastUserText.includes('hello claude') ? text('Hello alice, from the TUI.') : text('(unexpected)')));
    await r.runner.start();
    expect(r.runner.status.providerVersion).toBe(CLAUDE_VERSION);

    // A human can attach: the spec names a private socket and session, and the screen behind it is the TUI.
    const spec = await attachSpecOverControlPort(r);
    expect(spec.kind).toBe('tmux');
    const command = spec.command ?? [];
    expect(command.slice(0, 2)).toEqual(['tmux', '-S']);
    expect(command).toContain('attach-session');
    const socket = command[2] ?? '';
    const target = command[command.indexOf('-t') + 1];
    lastSocket = socket;
    await waitFor(() => /Claude Code/.test(tmuxScreen(socket, target)), 'the TUI on the attached screen', WAIT);

    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'hello claude, multi\nline' });
    const reply = await waitFor(() => sessionEntries(r, sent.id).find((m) => m.entry === 'reply'), 'the reply mirrored', WAIT);
    expect(reply.body).toBe('Hello alice, from the TUI.');
    expect(r.deliveries.filter((d) => d.messageId === sent.id).map((d) => d.state)).toEqual(['queued', 'injected', 'consumed', 'finished']);
    expect(sessionEntries(r, sent.id)[0]?.entry).toBe('prompt');
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the turn', WAIT);

    // The model saw the whole typed turn as one prompt: context block, sender header, both lines.
    const first = r.model.messageRequests().find((q) => q.rawBody.includes('hello claude'))?.rawBody ?? '';
    expect(first).toContain('agent-relay-context');
    expect(first).toContain(`relay message ${sent.id} from alice`);
    expect(first).toContain('hello claude, multi\\nline');
    // Session identity came from the SessionStart hook.
    expect(r.runner.status.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    // The reply is on the screen a human would see. The Stop hook can fire before the TUI has
    // repainted (seen under load), so wait for the repaint rather than read one frame.
    await waitFor(() => tmuxScreen(socket, target).includes('Hello alice, from the TUI.'), 'the reply on the attached screen', WAIT);

    await r.runner.stop();
    expect(existsSync(socket)).toBe(false);
  }, E2E_TIMEOUT);

  it('holds messages that arrive mid-turn and types each as its own turn afterwards', async () => {
    const r = await startInteractive((call) => {
      const last = call.lastUserText;
      if (last.includes('first, slowly')) return { ...text('First answer.'), holdMs: 4_000 };
      const nth = /message number (\d)/.exec(last);
      if (nth) return text(`Answer ${nth[1]}.`);
      return text('(unexpected)');
    });
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const first = r.relay.sendToAgent(agentId, { from: 'alice', body: 'first, slowly' });
    await waitFor(() => r.deliveries.some((d) => d.messageId === first.id && d.state === 'consumed'), 'first consumed', WAIT);
    // Two more while the first runs: the TUI would merge typed-ahead messages into one prompt,
    // so the adapter holds them and types each once the screen shows no running turn.
    const second = r.relay.sendToAgent(agentId, { from: 'bob', body: 'message number 2' });
    const third = r.relay.sendToAgent(agentId, { from: 'carol', body: 'message number 3' });
    for (const [message, answer] of [
      [second, 'Answer 2.'],
      [third, 'Answer 3.'],
    ] as const) {
      const reply = await waitFor(() => sessionEntries(r, message.id).find((m) => m.entry === 'reply'), `reply to ${message.body}`, WAIT);
      expect(reply.body).toBe(answer);
      expect(r.deliveries.filter((d) => d.messageId === message.id).map((d) => d.state)).toEqual(['queued', 'injected', 'consumed', 'finished']);
    }
    expect(sessionEntries(r, first.id).find((m) => m.entry === 'reply')?.body).toBe('First answer.');
    // One relay message, one turn: no request carried both held messages as its latest prompt.
    // (The latest USER message: a request may end with a system note, e.g. "The following tools
    // just became available" when the relay tools' MCP server connects after the first turn.)
    const latest = r.model.messageRequests().map((q) =>
      JSON.stringify((q.body as { messages: Array<{ role?: string }> }).messages.filter((m) => m.role === 'user').at(-1)),
    );
    expect(latest.some((t) => t.includes('message number 2'))).toBe(true);
    expect(latest.filter((t) => t.includes('message number 2') && t.includes('message number 3'))).toEqual([]);
    await waitFor(() => r.runner.status.state === 'idle', 'idle after all turns', WAIT);
  }, E2E_TIMEOUT);

  it('restarts the TUI when Claude is killed mid-turn and resumes the same session', async () => {
    const r = await startInteractive((call) => restartScript(call), { exitPolicy: { baseDelayMs: 200 } });
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const slow = r.relay.sendToAgent(agentId, { from: 'alice', body: 'take your time' });
    await waitFor(() => r.deliveries.some((d) => d.messageId === slow.id && d.state === 'consumed'), 'slow turn consumed', WAIT);
    await waitFor(() => r.model.messageRequests().some((q) => q.rawBody.includes('take your time')), 'model called', WAIT);
    const sessionId = r.runner.status.sessionId;
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
    // Claude writes its transcript lazily; kill only once the turn is on disk (as headless does).
    await waitFor(() => {
      try {
        return execFileSync('grep', ['-rl', 'take your time', join(r.configDir, 'projects')], { encoding: 'utf8' }).trim();
      } catch {
        return undefined;
      }
    }, 'transcript on disk', WAIT);
    const started = r.timeline.filter((t) => t.event === 'provider.started');
    const wrapperPid = (started.at(-1)?.data as { pid?: number } | undefined)?.pid;
    expect(wrapperPid).toBeGreaterThan(0);
    const claudePid = Number(execFileSync('pgrep', ['-P', String(wrapperPid)], { encoding: 'utf8' }).trim().split('\n')[0]);
    expect(claudePid).toBeGreaterThan(0);
    process.kill(claudePid, 'SIGKILL');

    await waitFor(() => r.timeline.filter((t) => t.event === 'provider.started').length >= 2, 'provider restarted', WAIT);
    expect(r.timeline.filter((t) => t.event === 'provider.started').at(-1)?.data).toMatchObject({ resumed: true });
    await waitFor(
      () => r.timeline.find((t) => t.event === 'provider.session' && (t.data as { source?: string }).source === 'resume'),
      'resumed session reported by the SessionStart hook',
      WAIT,
    );
    expect(r.runner.status.sessionId).toBe(sessionId);
    // The killed message's fate: typed again as a retry, answered exactly once.
    const retried = await waitFor(() => sessionEntries(r, slow.id).find((m) => m.entry === 'reply'), 'the killed message answered after the restart', WAIT);
    expect(retried.body).toBe('Finished the slow one on retry.');
    // The resumed conversation has the original attempt in its history, not only the retry.
    const next = r.relay.sendToAgent(agentId, { from: 'alice', body: 'are you back?' });
    const reply = await waitFor(() => sessionEntries(r, next.id).find((m) => m.entry === 'reply'), 'reply after resume', WAIT);
    expect(reply.body).toBe('I remember the slow one.');
    expect(sessionEntries(r, slow.id).filter((m) => m.entry === 'reply')).toHaveLength(1);
  }, E2E_TIMEOUT);

  it('relays a permission request (approved remotely) and falls back to Claude\'s own dialog when nobody decides', async () => {
    const r = await startInteractive(
      (call) => {
        const last = call.lastUserText;
        const touch = /please create (\S+)/.exec(last);
        if (touch) return { blocks: [{ type: 'tool_use', name: 'Bash', input: { command: `touch ${touch[1]}`, description: 'create a file' } }] };
        return text('Finished the file step.');
      },
      { permissionTimeoutMs: 3_000 },
      // Claude's default permission mode here may classify tool calls itself; ask for every one.
      { extraArgs: ['--permission-mode', 'default'] },
    );
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const spec = await attachSpecOverControlPort(r);
    const socket = spec.command?.[2] ?? '';
    const target = spec.command?.[(spec.command?.indexOf('-t') ?? -2) + 1];
    lastSocket = socket;

    // Approved on the relay: the hook answers, no dialog, the file exists.
    const allow = r.relay.sendToAgent(agentId, { from: 'alice', body: 'please create allowed.txt' });
    const allowReq = await waitFor(() => r.relay.permissions(agentId).find((p) => p.summary.includes('allowed.txt')), 'permission request on the relay', WAIT);
    expect(allowReq.tool).toBe('Bash');
    r.relay.decidePermission(allowReq.id, { behavior: 'allow' });
    await waitFor(() => sessionEntries(r, allow.id).find((m) => m.entry === 'reply'), 'the allowed turn ends', WAIT);
    expect(existsSync(join(r.work, 'allowed.txt'))).toBe(true);
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the allowed turn', WAIT);

    // Nobody decides: after the runner's timeout Claude shows its own dialog in the terminal.
    const local = r.relay.sendToAgent(agentId, { from: 'alice', body: 'please create local.txt' });
    await waitFor(() => r.relay.permissions(agentId).find((p) => p.summary.includes('local.txt')), 'second permission request', WAIT);
    const dialog = await waitFor(() => {
      const screen = tmuxScreen(socket, target);
      return /Do you want to proceed\?/i.test(screen) ? screen : undefined;
    }, 'Claude\'s own permission dialog', WAIT);
    expect(dialog).toContain('touch local.txt');
    expect(existsSync(join(r.work, 'local.txt'))).toBe(false);
    // A human at the terminal approves (the first option, "Yes", is selected). The dialog may take
    // a moment to accept keys after it paints, so press again while it is still up.
    const answerBy = Date.now() + WAIT;
    while (/Do you want to proceed\?/i.test(tmuxScreen(socket, target))) {
      if (Date.now() > answerBy) throw new Error('the dialog did not take the answer');
      execFileSync('tmux', ['-S', socket, 'send-keys', '-t', target ?? '', 'Enter'], { timeout: 10_000 });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    await waitFor(() => sessionEntries(r, local.id).find((m) => m.entry === 'reply'), 'the locally approved turn ends', WAIT);
    expect(existsSync(join(r.work, 'local.txt'))).toBe(true);
  }, E2E_TIMEOUT);

  it('interrupts a running turn with Escape (bus command) and takes the next message afterwards', async () => {
    const r = await startInteractive((call) => {
      if (call.lastUserText.includes('think forever')) return { ...text('never finished'), holdMs: 120_000 };
      if (call.lastUserText.includes('after the interrupt')) return text('Back to work.');
      return text('(unexpected)');
    });
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const spec = await attachSpecOverControlPort(r);
    const socket = spec.command?.[2] ?? '';
    const target = spec.command?.[(spec.command?.indexOf('-t') ?? -2) + 1];
    lastSocket = socket;
    const slow = r.relay.sendToAgent(agentId, { from: 'alice', body: 'think forever' });
    await waitFor(() => r.deliveries.some((d) => d.messageId === slow.id && d.state === 'consumed'), 'slow turn consumed', WAIT);
    await waitFor(() => /esc to interrupt/i.test(tmuxScreen(socket, target)), 'the turn running on screen', WAIT);
    expect(await r.relay.commands.send(agentId, 'interrupt')).toMatchObject({ ok: true });
    // The adapter ends the turn (no Stop hook runs on an interrupt) and clears the prompt Claude
    // puts back into the input box, so the next message is typed into an empty box.
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the interrupt', WAIT);
    await waitFor(() => /─{20,}\n❯[^\S\n]*\n/.test(tmuxScreen(socket, target)), 'an empty input box', WAIT);
    const next = r.relay.sendToAgent(agentId, { from: 'alice', body: 'after the interrupt' });
    const reply = await waitFor(() => sessionEntries(r, next.id).find((m) => m.entry === 'reply'), 'reply after the interrupt', WAIT);
    expect(reply.body).toBe('Back to work.');
    expect(sessionEntries(r, slow.id).find((m) => m.entry === 'reply')).toBeUndefined();
    // The interrupted prompt did not ride along with the next one.
    const latest = r.model.messageRequests().map((q) => JSON.stringify((q.body as { messages: unknown[] }).messages.at(-1)));
    expect(latest.filter((t) => t.includes('after the interrupt') && t.includes('think forever'))).toEqual([]);
  }, E2E_TIMEOUT);

  it('mirrors reasoning and tool steps in the real order (tool hooks + transcript), with the profile model', async () => {
    const MODEL = 'claude-profile-model-7f3';
    const r = await startInteractive(
      (call) => {
        const last = call.lastUserText;
        if (last.includes('look around')) {
          return {
            blocks: [
              { type: 'thinking', thinking: 'I should list the directory first.' },
              { type: 'tool_use', name: 'Bash', input: { command: 'echo tool-ran', description: 'probe' } },
            ],
          };
        }
        if (last.includes('tool-ran')) return { blocks: [{ type: 'thinking', thinking: 'The probe worked; now I answer.' }, { type: 'text', text: 'Looked around.' }] };
        return text('(unexpected)');
      },
      {},
      // The echo runs without a permission prompt (the profile's allowed tools join these).
      { allowedTools: ['Bash(echo:*)'] },
    );
    r.relay.setProfile('claude-worker', { model: MODEL, disallowedTools: ['Read'] });
    await r.runner.start();
    const probe = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'look around' });
    await waitFor(() => sessionEntries(r, probe.id).find((m) => m.entry === 'reply'), 'the reply mirrored', WAIT);
    expect(sessionEntries(r, probe.id).map((m) => `${m.entry}:${m.body}`)).toEqual([
      expect.stringMatching(/^prompt:/),
      'reasoning:I should list the directory first.',
      'tool:Bash started: echo tool-ran',
      'tool:Bash completed: tool-ran',
      'reasoning:The probe worked; now I answer.',
      'reply:Looked around.',
    ]);
    // The relay profile's model reached the TUI's model calls.
    expect(new Set(r.model.messageRequests().map((q) => (q.body as { model?: string }).model))).toContain(MODEL);
    // …and its disallowed tool is not offered to the model (Bash, allowed, is).
    const tools = ((r.model.messageRequests().find((q) => q.rawBody.includes('look around'))?.body as { tools?: Array<{ name?: string }> }).tools ?? []).map((t) => t.name);
    expect(tools).toContain('Bash');
    expect(tools).not.toContain('Read');
  }, E2E_TIMEOUT);

  it('gives a read-only attach command that stays the same across a restart', async () => {
    const r = await startInteractive(() => text('(never asked)'));
    await r.runner.start();
    const spec = await attachSpecOverControlPort(r);
    const command = spec.command ?? [];
    expect(command).toContain('-r');
    lastSocket = command[2];
    const target = command[command.indexOf('-t') + 1];
    await waitFor(() => /Claude Code/.test(tmuxScreen(command[2] ?? '', target)), 'the TUI behind the attach command', WAIT);
    await r.runner.restart();
    expect(r.timeline.filter((t) => t.event === 'provider.started')).toHaveLength(2);
    // The same command still reaches the (new) TUI: same socket path, same session name.
    expect(await attachSpecOverControlPort(r)).toEqual(spec);
    expect(r.runner.terminal()).toEqual(spec);
    await waitFor(() => /Claude Code/.test(tmuxScreen(command[2] ?? '', target)), 'the restarted TUI behind the same command', WAIT);
    // Read-only for real: tmux marks the client a human attaches with it as read-only.
    expect(await attachedClientReadOnly(command)).toBe('1');
  }, E2E_TIMEOUT);

  it('reports the screen when a first-run dialog keeps the TUI from taking input', async () => {
    const r = await startInteractive(() => text('(never asked)'), {}, { readyTimeoutMs: 5_000 }, false);
    await r.runner.start();
    r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'anyone there?' });
    // Without the onboarding state Claude Code stops at its network preflight and exits; the
    // adapter reports the last screen (or, for a dialog that waits, the screen at the ready timeout).
    const warning = await waitFor(
      () => r.logger.entries.find((e) => e.level === 'warn' && /its last screen|did not show its input box/.test(e.message)),
      'the screen reported',
      WAIT,
    );
    expect(warning.message).toMatch(/Unable to connect to Anthropic services/);
    expect(r.model.messageRequests()).toEqual([]);
  }, E2E_TIMEOUT);
});
