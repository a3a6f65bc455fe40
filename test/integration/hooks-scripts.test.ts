/**
 * The Claude Code hook scripts, run by real bash against a real control server on 127.0.0.1:0,
 * with payloads shaped exactly as Claude Code sends them (test/fixtures/hooks/*.json).
 */
import { spawnSync } from 'node:child_process';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createControlServer, type ControlServer } from '../../src/control/control-server.js';
import type { HookFatalReport } from '../../src/control/runner-routes.js';
import type { SessionTurnInput, StopInput } from '../../src/providers/claude/hook-schemas.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { HOOKS_DIR, createRecordingHandlers, fixture, runHook, type RecordingHandlers, type RecordingOptions } from '../fixtures/hooks/harness.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';

const TOKEN = 'test-token-0123456789abcdef';
const ALL_HOOKS = [
  'session-start',
  'user-prompt-submit',
  'stop',
  'stop-failure',
  'subagent-start',
  'subagent-stop',
  'pre-compact',
  'post-compact',
  'session-end',
  'permission-request',
] as const;
const FIXTURE_OF: Record<(typeof ALL_HOOKS)[number], string> = {
  'session-start': 'session-start-startup',
  'user-prompt-submit': 'user-prompt-submit',
  stop: 'stop',
  'stop-failure': 'stop-failure',
  'subagent-start': 'subagent-start',
  'subagent-stop': 'subagent-stop',
  'pre-compact': 'pre-compact',
  'post-compact': 'post-compact',
  'session-end': 'session-end',
  'permission-request': 'permission-request',
};

/** Every C0 control character bash can carry (not NUL), quotes, backslashes, non-ASCII, emoji. */
const HOSTILE =
  'quote " back \\ slash \\" \\\\n not-a-newline ' +
  Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)).join('') +
  ' del \u007f é ü 中文 \u2028 \u2029 emoji 🎉👩‍💻 "stop_hook_active": true {"decision":"block"} $(rm -rf /) `id` %s %d';

let server: ControlServer | undefined;
let handlers: RecordingHandlers;

async function start(options: RecordingOptions = {}): Promise<ControlServer> {
  handlers = createRecordingHandlers(options);
  server = await createControlServer({ clock: createSystemClock(), routes: handlers.routes, token: TOKEN, logger: createMemoryLogger() });
  return server;
}
const env = (extra: Record<string, string | undefined> = {}) => ({
  AGENT_RELAY_RUNNER_PORT: String(server?.port),
  AGENT_RELAY_RUNNER_TOKEN: TOKEN,
  ...extra,
});

afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('hook scripts against a live control port', () => {
  it('SessionStart: every source is recorded with the session id; context is printed when the runner returns one', async () => {
    await start();
    for (const source of ['startup', 'resume', 'clear', 'compact']) {
      const run = await runHook('session-start', fixture(`session-start-${source}`), env());
      expect(run.code).toBe(0);
      expect(run.stdout).toBe('');
    }
    expect(handlers.of('sessionStart')).toEqual(
      ['startup', 'resume', 'clear', 'compact'].map((source) => ({
        sessionId: '4f0c2a7e-5d1b-4c1e-9a53-0d7f3b2e9c11',
        transcriptPath: '/home/dev/.claude/projects/-work-app/4f0c2a7e-5d1b-4c1e-9a53-0d7f3b2e9c11.jsonl',
        cwd: '/work/app',
        source,
        model: 'claude-sonnet-4-5',
      })),
    );
    await server?.close();

    await start({ additionalContext: 'Relay context: answer with agent-relay-runner send.' });
    const run = await runHook('session-start', fixture('session-start-startup'), env());
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      hookSpecificOutput: { hookEventName: 'SessionStart', additionalContext: 'Relay context: answer with agent-relay-runner send.' },
    });
  });

  it('UserPromptSubmit: the prompt is recorded; nothing printed', async () => {
    await start();
    const run = await runHook('user-prompt-submit', fixture('user-prompt-submit'), env());
    expect(run).toMatchObject({ code: 0, stdout: '' });
    expect(handlers.of('userPrompt')).toEqual([
      expect.objectContaining({ prompt: 'Please summarise the open tasks.', permissionMode: 'default', sessionId: expect.any(String) }),
    ]);
  });

  it('Stop with a reply owed: prints the block decision and does not clear busy', async () => {
    await start({ fetchObligations: async () => [{ messageId: 'msg-42', from: 'alice' }] });
    await handlers.cache.refresh();
    const run = await runHook('stop', fixture('stop'), env());
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as { decision: string; reason: string };
    expect(out.decision).toBe('block');
    expect(out.reason).toContain('--reply-to msg-42');
    expect(out.reason).toContain('--to alice');
    expect(handlers.of('stopDecision')).toEqual([expect.objectContaining({ stopHookActive: false, lastAssistantMessage: 'Done: the tests pass.' })]);
    expect(handlers.of('sessionTurn')).toEqual([]);
  });

  it('Stop with stop_hook_active: never blocks, records the turn once (no extra exit call)', async () => {
    await start({ fetchObligations: async () => [{ messageId: 'msg-42', from: 'alice' }] });
    await handlers.cache.refresh();
    const run = await runHook('stop', fixture('stop-active'), env());
    expect(run).toMatchObject({ code: 0, stdout: '' });
    expect((handlers.of('stopDecision')[0] as StopInput).stopHookActive).toBe(true);
    expect(handlers.of('sessionTurn')).toEqual([expect.objectContaining({ via: 'stop', lastAssistantMessage: 'Replied to the relay.' })]);
  });

  it('Stop with nothing owed: no output, turn recorded once with the transcript path', async () => {
    await start();
    const run = await runHook('stop', fixture('stop'), env());
    expect(run).toMatchObject({ code: 0, stdout: '' });
    const turns = handlers.of('sessionTurn') as SessionTurnInput[];
    expect(turns).toHaveLength(1);
    expect(turns[0]).toMatchObject({ via: 'stop', transcriptPath: expect.stringContaining('.jsonl'), lastAssistantMessage: 'Done: the tests pass.' });
  });

  it('Stop when the runner errors: the EXIT trap clears busy through /hooks/session-turn', async () => {
    await start({ throwIn: 'stopDecision' });
    const run = await runHook('stop', fixture('stop'), env());
    expect(run).toMatchObject({ code: 0, stdout: '' });
    expect(handlers.of('sessionTurn')).toEqual([expect.objectContaining({ via: 'stop-exit', sessionId: '4f0c2a7e-5d1b-4c1e-9a53-0d7f3b2e9c11' })]);
  });

  it('PreToolUse, PostToolUse, PostToolUseFailure: inert unless AGENT_RELAY_TOOL_HOOKS=1, then recorded and silent', async () => {
    await start();
    const names = ['pre-tool-use', 'post-tool-use', 'post-tool-use-failure'] as const;
    for (const name of names) expect(await runHook(name, fixture(name), env()), name).toMatchObject({ code: 0, stdout: '' });
    expect(handlers.of('toolUse')).toEqual([]);
    for (const name of names) expect(await runHook(name, fixture(name), env({ AGENT_RELAY_TOOL_HOOKS: '1' })), name).toMatchObject({ code: 0, stdout: '' });
    expect(handlers.of('toolUse')).toEqual([
      expect.objectContaining({ phase: 'pre', toolName: 'Bash', toolUseId: 'toolu_01ABC', toolInput: { command: 'npm test', description: 'run the tests' } }),
      expect.objectContaining({ phase: 'post', toolResponse: '{"stdout":"12 passed","stderr":"","interrupted":false,"isImage":false}' }),
      expect.objectContaining({ phase: 'failure', error: 'Exit code 1\n3 failed', isInterrupt: false }),
    ]);
  });

  it('StopFailure, SubagentStart/Stop, PreCompact/PostCompact, SessionEnd: recorded with their fields', async () => {
    await start();
    for (const name of ['stop-failure', 'subagent-start', 'subagent-stop', 'pre-compact', 'post-compact', 'session-end'] as const) {
      const run = await runHook(name, fixture(FIXTURE_OF[name]), env());
      expect(run, name).toMatchObject({ code: 0, stdout: '' });
    }
    expect(handlers.of('stopFailure')).toEqual([
      expect.objectContaining({ error: 'rate_limit', errorDetails: '429 Too Many Requests', lastAssistantMessage: 'Working on it' }),
    ]);
    expect(handlers.of('subagent')).toEqual([
      expect.objectContaining({ phase: 'start', agentId: 'agent-7f3a', agentType: 'Explore' }),
      expect.objectContaining({ phase: 'stop', agentId: 'agent-7f3a', agentType: 'Explore', lastAssistantMessage: 'Found 3 call sites.' }),
    ]);
    expect(handlers.of('compact')).toEqual([
      expect.objectContaining({ phase: 'pre', trigger: 'manual', customInstructions: 'keep the relay message ids' }),
      expect.objectContaining({ phase: 'post', trigger: 'auto', compactSummary: 'Summary: refactored the parser.' }),
    ]);
    expect(handlers.of('sessionEnd')).toEqual([expect.objectContaining({ reason: 'prompt_input_exit' })]);
  });

  it('PermissionRequest: allow and deny print Claude’s hookSpecificOutput', async () => {
    await start({ permission: (input) => (input.toolInput['command'] === 'rm -rf build' ? { behavior: 'deny', message: 'not on main' } : { behavior: 'allow' }) });
    const deny = await runHook('permission-request', fixture('permission-request'), env());
    expect(deny.code).toBe(0);
    expect(JSON.parse(deny.stdout)).toEqual({
      hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'deny', message: 'not on main' } },
    });
    const allow = await runHook('permission-request', fixture('permission-request').replace('rm -rf build', 'ls'), env());
    expect(JSON.parse(allow.stdout)).toEqual({ hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'allow' } } });
    expect(handlers.of('permissionRequest')[0]).toMatchObject({ toolName: 'Bash', toolInput: { command: 'rm -rf build', description: 'Remove the build directory' } });
  });

  it('PermissionRequest timeout: the hook gives up at its bound, prints nothing, and the runner sees the abort', async () => {
    await start({ permission: () => new Promise(() => undefined) });
    const run = await runHook('permission-request', fixture('permission-request'), env({ AGENT_RELAY_PERMISSION_HOOK_TIMEOUT_S: '1' }));
    console.log(`permission hook with a 1 s bound and no decision exited after ${run.elapsedMs.toFixed(0)} ms`);
    expect(run).toMatchObject({ code: 0, stdout: '' });
    await expect.poll(() => handlers.permissionSignals[0]?.aborted).toBe(true);
  });

  it('no AGENT_RELAY_RUNNER_PORT (or a bad one): exit 0, no output, no call', async () => {
    await start();
    for (const name of ALL_HOOKS) {
      const unset = await runHook(name, fixture(FIXTURE_OF[name]), { AGENT_RELAY_RUNNER_TOKEN: TOKEN });
      expect(unset, name).toEqual(expect.objectContaining({ code: 0, stdout: '', stderr: '' }));
      const bad = await runHook(name, fixture(FIXTURE_OF[name]), { AGENT_RELAY_RUNNER_PORT: '80; echo pwned', AGENT_RELAY_RUNNER_TOKEN: TOKEN });
      expect(bad, name).toEqual(expect.objectContaining({ code: 0, stdout: '', stderr: '' }));
    }
    expect(handlers.calls).toEqual([]);
  });

  it('a wrong token: the runner refuses (401) and the hook still exits 0 silently', async () => {
    await start({ fetchObligations: async () => [{ messageId: 'm', from: 'a' }] });
    await handlers.cache.refresh();
    const run = await runHook('stop', fixture('stop'), env({ AGENT_RELAY_RUNNER_TOKEN: 'wrong' }));
    expect(run).toMatchObject({ code: 0, stdout: '' });
    expect(handlers.calls).toEqual([]);
  });

  it('a failing command inside a hook: a fatal report arrives, the hook exits 0, and Stop still clears busy', async () => {
    await start();
    const run = await runHook('session-start', fixture('session-start-startup'), env({ AGENT_RELAY_HOOK_TEST_FAIL: '1' }));
    expect(run).toMatchObject({ code: 0, stdout: '' });
    const [report] = handlers.of('hookFatal') as HookFatalReport[];
    expect(report).toMatchObject({ hook: 'session-start', exitCode: 1 });
    expect(report?.line).toBeGreaterThan(0);
    expect(report?.command).toBe('false "injected failure: ${AGENT_RELAY_HOOK_TEST_FAIL}"');
    expect(handlers.of('sessionStart')).toEqual([]);

    const stop = await runHook('stop', fixture('stop'), env({ AGENT_RELAY_HOOK_TEST_FAIL: '1' }));
    expect(stop).toMatchObject({ code: 0, stdout: '' });
    expect(handlers.of('hookFatal')).toHaveLength(2);
    expect((handlers.of('hookFatal')[1] as HookFatalReport).hook).toBe('stop');
    expect(handlers.of('sessionTurn')).toEqual([expect.objectContaining({ via: 'stop-exit', lastAssistantMessage: 'Done: the tests pass.' })]);
  });

  it('hostile payload strings arrive intact (prompt, last message, tool input)', async () => {
    await start({ fetchObligations: async () => [{ messageId: 'msg-1', from: 'bob' }], permission: () => ({ behavior: 'allow' }) });
    await handlers.cache.refresh();
    const prompt = JSON.parse(fixture('user-prompt-submit')) as Record<string, unknown>;
    prompt['prompt'] = HOSTILE;
    await runHook('user-prompt-submit', JSON.stringify(prompt), env());
    expect((handlers.of('userPrompt')[0] as { prompt: string }).prompt).toBe(HOSTILE);

    // The hostile text contains `"stop_hook_active": true` inside a string: the hook must not mistake it.
    const stop = JSON.parse(fixture('stop')) as Record<string, unknown>;
    stop['last_assistant_message'] = HOSTILE;
    const run = await runHook('stop', JSON.stringify(stop), env());
    expect((JSON.parse(run.stdout) as { decision: string }).decision).toBe('block');
    expect((handlers.of('stopDecision')[0] as StopInput).lastAssistantMessage).toBe(HOSTILE);

    const perm = JSON.parse(fixture('permission-request')) as { tool_input: Record<string, unknown> };
    perm.tool_input['command'] = HOSTILE;
    await runHook('permission-request', JSON.stringify(perm), env());
    expect((handlers.of('permissionRequest')[0] as { toolInput: { command: string } }).toolInput.command).toBe(HOSTILE);
  });

  it('the curl transport (AGENT_RELAY_HOOK_TRANSPORT=curl) carries the same round trips', async () => {
    await start({ fetchObligations: async () => [{ messageId: 'msg-5', from: 'dave' }] });
    await handlers.cache.refresh();
    const curl = (extra: Record<string, string> = {}) => env({ AGENT_RELAY_HOOK_TRANSPORT: 'curl', ...extra });
    const prompt = JSON.parse(fixture('user-prompt-submit')) as Record<string, unknown>;
    prompt['prompt'] = HOSTILE;
    expect(await runHook('user-prompt-submit', JSON.stringify(prompt), curl())).toMatchObject({ code: 0, stdout: '' });
    expect((handlers.of('userPrompt')[0] as { prompt: string }).prompt).toBe(HOSTILE);
    const stop = await runHook('stop', fixture('stop'), curl());
    expect(JSON.parse(stop.stdout)).toMatchObject({ decision: 'block', reason: expect.stringContaining('msg-5') });
    await runHook('session-end', fixture('session-end'), curl({ AGENT_RELAY_HOOK_TEST_FAIL: '1' }));
    expect(handlers.of('hookFatal')).toEqual([expect.objectContaining({ hook: 'session-end', exitCode: 1 })]);
  });

  it('the lib’s JSON escaper (used for fatal reports) round-trips hostile text', () => {
    const out = spawnSync('bash', ['-c', '. "$1"; ar_json_escape "$2"; printf "%s" "$AR_JSON"', 'x', resolve(HOOKS_DIR, 'lib.sh'), HOSTILE], {
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '', LANG: 'C.UTF-8' },
    });
    expect(out.status).toBe(0);
    expect(JSON.parse(`"${out.stdout}"`)).toBe(HOSTILE);
    const cLocale = spawnSync('bash', ['-c', '. "$1"; ar_json_escape "$2"; printf "%s" "$AR_JSON"', 'x', resolve(HOOKS_DIR, 'lib.sh'), HOSTILE], {
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '', LC_ALL: 'C' },
    });
    expect(JSON.parse(`"${cLocale.stdout}"`)).toBe(HOSTILE);
  });
});

describe('hook scripts against a belt-and-braces fake runner', () => {
  let fake: Server;
  const seen: string[] = [];
  beforeAll(async () => {
    // A runner that (wrongly) answers block even when stop_hook_active is true.
    fake = createHttpServer((req, res) => {
      seen.push(req.url ?? '');
      req.resume();
      req.on('end', () => {
        if (req.url === '/hooks/stop') {
          const body = '{"decision":"block","reason":"answer msg-1"}';
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body);
        }
        else res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => fake.close(() => r())));

  it('Stop never prints a block when stop_hook_active is true, and clears busy itself', async () => {
    seen.length = 0;
    const port = String((fake.address() as { port: number }).port);
    const run = await runHook('stop', fixture('stop-active'), { AGENT_RELAY_RUNNER_PORT: port, AGENT_RELAY_RUNNER_TOKEN: TOKEN });
    expect(run).toMatchObject({ code: 0, stdout: '' });
    expect(seen).toEqual(['/hooks/stop', '/hooks/session-turn']);

    seen.length = 0;
    const blocking = await runHook('stop', fixture('stop'), { AGENT_RELAY_RUNNER_PORT: port, AGENT_RELAY_RUNNER_TOKEN: TOKEN });
    expect(JSON.parse(blocking.stdout)).toEqual({ decision: 'block', reason: 'answer msg-1' });
    expect(seen).toEqual(['/hooks/stop']);
  });
});

describe('hook scripts against a runner that accepts but never answers', () => {
  let hung: NetServer;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    hung = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.resume(); // read everything, answer nothing
    });
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => hung.close(() => r()));
  });

  it.each(['devtcp', 'curl'])('every hook exits 0 within 2.5 s (the permission hook at its own configured bound), transport %s', async (transport) => {
    const port = String((hung.address() as { port: number }).port);
    // Two batches of five: the bound is per hook, not a test of how many bash processes fit on two CPUs.
    const runs: Array<{ name: (typeof ALL_HOOKS)[number]; run: Awaited<ReturnType<typeof runHook>> }> = [];
    for (const batch of [ALL_HOOKS.slice(0, 5), ALL_HOOKS.slice(5)]) {
      runs.push(...(await Promise.all(batch.map(async (name) => ({
        name,
        run: await runHook(name, fixture(FIXTURE_OF[name]), {
          AGENT_RELAY_RUNNER_PORT: port,
          AGENT_RELAY_RUNNER_TOKEN: TOKEN,
          AGENT_RELAY_HOOK_TRANSPORT: transport,
          // The permission hook waits long by design; with a 1 s bound it must also end in time.
          ...(name === 'permission-request' ? { AGENT_RELAY_PERMISSION_HOOK_TIMEOUT_S: '1' } : {}),
        }),
      })))));
    }
    console.log(`hung runner (${transport}): ${runs.map(({ name, run }) => `${name}=${run.elapsedMs.toFixed(0)}ms`).join(', ')}`);
    for (const { name, run } of runs) {
      expect(run.code, name).toBe(0);
      expect(run.stdout, name).toBe('');
      expect(run.elapsedMs, `${name} took ${run.elapsedMs.toFixed(0)} ms`).toBeLessThan(2500);
    }
  });
});
