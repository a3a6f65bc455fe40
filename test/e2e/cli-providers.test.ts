/**
 * End to end through the command line, as a user runs it: `agent-relay-runner run --provider
 * claude|codex|opencode` (the built CLI, a real child process) with the real CLIs under test (clis.ts),
 * against the reference relay and a fake model server. One message from the relay gets an answer
 * mirrored back to the relay as the reply, and SIGTERM stops the runner cleanly.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRelayDevServer, type RelayDevServer } from '../../src/testing/relay-dev-server/index.js';
import { createFakeAnthropicServer, type FakeAnthropicServer } from '../../src/testing/fake-anthropic-server.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../../src/testing/fake-openai-server.js';
import { cleanEnv, ensureBuilt, jsonLines, startCli, waitFor, type CliProcess } from '../integration/cli-helpers.js';
import { CLAUDE_BIN, CLAUDE_VERSION, CODEX_BIN, CODEX_VERSION, OPENCODE_BIN, OPENCODE_VERSION, ensureClis } from './clis.js';

const E2E_TIMEOUT = 120_000;
const WAIT = 60_000;

let relay: RelayDevServer | undefined;
let model: { close(): Promise<void> } | undefined;
let proc: CliProcess | undefined;
let dir: string | undefined;

beforeAll(async () => {
  ensureClis();
  await ensureBuilt();
}, 600_000);

afterEach(async () => {
  proc?.child.kill('SIGKILL');
  await proc?.done;
  await model?.close().catch(() => {});
  await relay?.close().catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true });
  proc = model = relay = dir = undefined;
}, 30_000);

/** A fresh temp dir with a working directory for the agent and a HOME of its own. */
async function tempDirs(): Promise<{ dir: string; work: string; home: string }> {
  const d = await mkdtemp(join(tmpdir(), 'arr-cli-providers-'));
  dir = d;
  const work = join(d, 'work');
  const home = join(d, 'home');
  await mkdir(work, { recursive: true });
  await mkdir(home, { recursive: true });
  return { dir: d, work, home };
}

/** The events `run --json` printed so far. */
const events = (p: CliProcess) => jsonLines(p.stdout());

/**
 * Wait for `run.ready`, send one relay message, wait for the mirrored reply, stop with SIGTERM.
 * Returns the reply's body.
 */
async function oneExchange(p: CliProcess, r: RelayDevServer, body: string): Promise<{ reply: string; status: Record<string, unknown> | undefined }> {
  const ready = await waitFor(() => events(p).find((e) => e.type === 'run.ready' || e.type === 'run.failed'), `run.ready (stderr: ${p.stderr()})`, WAIT);
  expect(ready, p.stderr()).toMatchObject({ type: 'run.ready' });
  const agentId = ready.agentId as string;
  // Both providers name their session at startup, before the first turn (docs/providers.md).
  await waitFor(() => events(p).some((e) => e.type === 'status' && typeof (e.status as { sessionId?: unknown }).sessionId === 'string'), 'the session id before the first turn', WAIT);
  const sent = r.sendToAgent(agentId, { from: 'alice', body });
  const reply = await waitFor(
    () => r.listMessages().find((m) => m.kind === 'session' && m.entry === 'reply' && m.replyTo === sent.id),
    `the reply mirrored at the relay (stderr: ${p.stderr().slice(-2000)})`,
    WAIT,
  );
  const status = events(p)
    .filter((e) => e.type === 'status')
    .map((e) => e.status as Record<string, unknown>)
    .at(-1);
  p.child.kill('SIGTERM');
  const result = await p.done;
  expect(result.code, result.stderr).toBe(0);
  expect(jsonLines(result.stdout).at(-1)).toMatchObject({ type: 'run.stopped', signal: 'SIGTERM' });
  return { reply: reply.body, status };
}

describe('agent-relay-runner run, real provider CLIs', () => {
  it('--provider claude answers a relay message (headless Claude Code, fake Anthropic server)', async () => {
    const { dir: d, work, home } = await tempDirs();
    const fake: FakeAnthropicServer = await createFakeAnthropicServer((call) =>
      call.lastUserText.includes('hello from the cli') ? { blocks: [{ type: 'text', text: 'Hi alice, Claude here.' }] } : { blocks: [{ type: 'text', text: '(unexpected)' }] },
    );
    model = fake;
    relay = await createRelayDevServer();
    const env = cleanEnv({
      AGENT_RELAY_API_KEY: relay.apiKey,
      HOME: home,
      CLAUDE_CONFIG_DIR: join(home, '.claude'),
      ANTHROPIC_BASE_URL: fake.url,
      ANTHROPIC_API_KEY: 'sk-ant-e2e-dummy',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
      DISABLE_AUTOUPDATER: '1',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    });
    proc = startCli(
      ['run', '--json', '--provider', 'claude', '--claude-path', CLAUDE_BIN, '--model', 'claude-fake-model', '--permission-mode', 'dontAsk',
        '--relay', relay.url, '--name', 'cli-claude', '--cwd', work, '--data-dir', join(d, 'data'), '--log-dir', d],
      { env, killAfterMs: E2E_TIMEOUT },
    );
    const { reply, status } = await oneExchange(proc, relay, 'hello from the cli');
    expect(reply).toBe('Hi alice, Claude here.');
    expect(status?.providerVersion).toBe(CLAUDE_VERSION);
    // The flags reached Claude Code: the model name is what the fake server was asked for.
    expect(fake.messageRequests().some((q) => (q.body as { model?: string }).model === 'claude-fake-model')).toBe(true);
  }, E2E_TIMEOUT);

  it('--provider claude-interactive prints a read-only attach command that reaches the TUI, and answers', async () => {
    const { dir: d, work, home } = await tempDirs();
    const fake: FakeAnthropicServer = await createFakeAnthropicServer((call) =>
      call.lastUserText.includes('hello from the cli') ? { blocks: [{ type: 'text', text: 'Hi alice, from the TUI.' }] } : { blocks: [{ type: 'text', text: '(unexpected)' }] },
    );
    model = fake;
    relay = await createRelayDevServer();
    const configDir = join(home, '.claude');
    await mkdir(configDir, { recursive: true });
    // The TUI's first-run state (docs/providers.md, "First-run state"): onboarding done, key approved, cwd trusted.
    const key = 'sk-ant-e2e-dummy';
    await writeFile(
      join(configDir, '.claude.json'),
      JSON.stringify({ hasCompletedOnboarding: true, customApiKeyResponses: { approved: [key.slice(-20)], rejected: [] }, projects: { [work]: { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true, allowedTools: [] } } }),
      { mode: 0o600 },
    );
    const env = cleanEnv({
      AGENT_RELAY_API_KEY: relay.apiKey, HOME: home, CLAUDE_CONFIG_DIR: configDir, ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_API_KEY: key,
      DISABLE_TELEMETRY: '1', DISABLE_ERROR_REPORTING: '1', DISABLE_AUTOUPDATER: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    });
    proc = startCli(
      ['run', '--json', '--provider', 'claude-interactive', '--claude-path', CLAUDE_BIN,
        '--relay', relay.url, '--name', 'cli-claude-tui', '--cwd', work, '--data-dir', join(d, 'data'), '--log-dir', d],
      { env, killAfterMs: E2E_TIMEOUT },
    );
    const p = proc;
    const attach = await waitFor(() => events(p).find((e) => e.type === 'run.attach'), `run.attach (stderr: ${p.stderr()})`, WAIT);
    const command = attach.command as string[];
    expect(attach).toMatchObject({ kind: 'tmux', readOnly: true });
    expect(command.slice(0, 2)).toEqual(['tmux', '-S']);
    expect(command).toEqual(expect.arrayContaining(['attach-session', '-r', '-t']));
    // The printed command names a live session on the printed socket.
    execFileSync('tmux', ['-S', command[2] ?? '', 'has-session', '-t', command[command.indexOf('-t') + 1] ?? ''], { timeout: 10_000 });
    // `status` shows the same command (docs/walkthrough-providers.md promises it).
    const status = await startCli(['status', '--name', 'cli-claude-tui', '--data-dir', join(d, 'data')], { env, stdin: '' }).done;
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`attach (ro)   ${command.join(' ')}`);
    const { reply } = await oneExchange(p, relay, 'hello from the cli');
    expect(reply).toBe('Hi alice, from the TUI.');
  }, E2E_TIMEOUT);

  it('--provider codex answers a relay message (codex app-server, fake OpenAI server, default sandbox)', async () => {
    const { dir: d, work, home } = await tempDirs();
    const fake: FakeOpenAIServer = await createFakeOpenAIServer((call) => ({
      output: [{ type: 'text', text: call.lastUserText.includes('hello from the cli') ? 'Hi alice, Codex here.' : '(unexpected)' }],
    }));
    model = fake;
    relay = await createRelayDevServer();
    const codexHome = join(d, 'codex-home');
    await mkdir(codexHome, { recursive: true, mode: 0o700 });
    const env = cleanEnv({ AGENT_RELAY_API_KEY: relay.apiKey, HOME: home, FAKE_OPENAI_API_KEY: 'sk-fake-not-a-secret' });
    proc = startCli(
      ['run', '--json', '--provider', 'codex', '--codex-path', CODEX_BIN, '--codex-home', codexHome, '--model', 'gpt-fake',
        '--codex-config', `model_providers.fake={ name = "fake", base_url = ${JSON.stringify(fake.baseUrl)}, wire_api = "responses", env_key = "FAKE_OPENAI_API_KEY", request_max_retries = 0, stream_max_retries = 0 }`,
        '--codex-config', 'model_provider="fake"',
        '--relay', relay.url, '--name', 'cli-codex', '--cwd', work, '--data-dir', join(d, 'data'), '--log-dir', d],
      { env, killAfterMs: E2E_TIMEOUT },
    );
    const { reply, status } = await oneExchange(proc, relay, 'hello from the cli');
    expect(reply).toBe('Hi alice, Codex here.');
    expect(status?.providerVersion).toBe(CODEX_VERSION);
    expect(fake.responseRequests().some((q) => (q.body as { model?: string }).model === 'gpt-fake')).toBe(true);
  }, E2E_TIMEOUT);

  it('--provider opencode answers a relay message (opencode acp, fake OpenAI chat completions, provider and rules from flags)', async () => {
    const { dir: d, work, home } = await tempDirs();
    const fake: FakeOpenAIServer = await createFakeOpenAIServer((call) => ({
      output: [{ type: 'text', text: call.toolNames.length === 0 ? 'A title' : call.lastUserText.includes('hello from the cli') ? 'Hi alice, OpenCode here.' : '(unexpected)' }],
    }));
    model = fake;
    relay = await createRelayDevServer();
    const env = cleanEnv({ AGENT_RELAY_API_KEY: relay.apiKey, HOME: home, FAKE_OPENAI_API_KEY: 'sk-fake-not-a-secret', OPENCODE_DISABLE_MODELS_FETCH: '1' });
    const config = {
      provider: { fake: { npm: '@ai-sdk/openai-compatible', options: { baseURL: fake.baseUrl, apiKey: '{env:FAKE_OPENAI_API_KEY}' }, models: { 'fake-model': {} } } },
      enabled_providers: ['fake'],
    };
    proc = startCli(
      ['run', '--json', '--provider', 'opencode', '--opencode-path', OPENCODE_BIN, '--opencode-state-dir', join(d, 'opencode-state'), '--model', 'fake/fake-model',
        '--opencode-config', JSON.stringify(config), '--opencode-permission', 'bash=deny',
        '--relay', relay.url, '--name', 'cli-opencode', '--cwd', work, '--data-dir', join(d, 'data'), '--log-dir', d],
      { env, killAfterMs: E2E_TIMEOUT },
    );
    const { reply, status } = await oneExchange(proc, relay, 'hello from the cli');
    expect(reply).toBe('Hi alice, OpenCode here.');
    expect(status?.providerVersion).toBe(OPENCODE_VERSION);
    expect(fake.chatRequests().some((q) => (q.body as { model?: string }).model === 'fake-model')).toBe(true);
  }, E2E_TIMEOUT);
});
