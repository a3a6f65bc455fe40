/**
 * The Claude provider's hook translation, without HTTP: what each hook becomes (provider events on
 * the session's channel, host calls), in hook-driven (interactive) and headless mode, and the
 * route registration's lifetime (registered with the session, removed when it exits, replaced by
 * the next session).
 */
import { describe, expect, it, vi } from 'vitest';
import type { ControlRoute } from '../../src/ports/control.js';
import type { HostPermissionOutcome, ProviderDeps, ProviderEvent, ProviderHost, ProviderSession } from '../../src/ports/provider.js';
import type { ProcessExit } from '../../src/ports/process-spawner.js';
import { claudeHookSink, withClaudeHooks } from '../../src/providers/claude/hook-routes.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';

const ctx = { sessionId: 's-1', transcriptPath: '/t.jsonl' };
const live = () => ({ signal: new AbortController().signal });

function sink(hookDriven: boolean, permission: HostPermissionOutcome = { behavior: 'allow' }) {
  const events: ProviderEvent[] = [];
  const asked: unknown[] = [];
  const s = claudeHookSink({
    hookDriven,
    dispatch: (e) => events.push(e),
    host: {
      stopDecision: (active) => (active ? { block: false } : { block: true }),
      requestPermission: async (request) => (asked.push(request), permission),
    },
  });
  return { s, events, asked };
}

describe('Claude hook sink', () => {
  it('hook-driven: prompt, turn end (deduped across the Stop hook’s two paths), session, failure', async () => {
    const { s, events } = sink(true);
    s.userPrompt({ ...ctx, prompt: 'hi' });
    await s.sessionTurn({ ...ctx, lastAssistantMessage: 'done', via: 'stop' });
    await s.sessionTurn({ ...ctx, lastAssistantMessage: 'done', via: 'stop-exit' });
    s.sessionStart({ ...ctx, source: 'weird' });
    s.sessionStart({ source: 'resume' }); // no session id: nothing to report
    await s.stopFailure({ ...ctx, error: 'rate_limit', errorDetails: '429' });
    expect(events).toEqual([
      { type: 'turn.started', prompt: 'hi' },
      { type: 'turn.completed', finalText: 'done' },
      { type: 'session', sessionId: 's-1', source: 'startup' },
      { type: 'turn.failed', error: 'rate_limit', details: '429' },
      { type: 'turn.completed', interrupted: true },
    ]);
  });

  it('a stop-exit report of a turn the Stop call did not report still ends it', async () => {
    const { s, events } = sink(true);
    await s.sessionTurn({ ...ctx, via: 'stop-exit' });
    await s.sessionTurn({ ...ctx, lastAssistantMessage: 'second', via: 'stop' });
    expect(events).toEqual([{ type: 'turn.completed' }, { type: 'turn.completed', finalText: 'second' }]);
  });

  it('headless: turns, prompts and sessions come from stdout; subagents, compaction, failures and the end from the hooks', async () => {
    const { s, events } = sink(false);
    s.userPrompt({ ...ctx, prompt: 'hi' });
    await s.sessionTurn({ ...ctx, via: 'stop' });
    s.sessionStart({ ...ctx, source: 'startup' });
    await s.subagent({ ...ctx, phase: 'start', agentId: 'a1' });
    await s.subagent({ ...ctx, phase: 'stop' });
    await s.compact({ ...ctx, phase: 'pre', trigger: 'auto' });
    await s.stopFailure({ ...ctx });
    await s.sessionEnd({ ...ctx });
    await s.sessionEnd({ ...ctx, reason: 'clear' });
    expect(events).toEqual([
      { type: 'subagent', phase: 'start', id: 'a1' },
      { type: 'subagent', phase: 'stop' },
      { type: 'compaction', phase: 'pre', trigger: 'auto' },
      { type: 'turn.failed' },
      { type: 'session.ended', reason: 'other' },
      { type: 'session.ended', reason: 'clear' },
    ]);
  });

  it('the Stop decision comes from the host, with a reason when it blocks', () => {
    const { s } = sink(false);
    expect(s.stopDecision({ ...ctx, stopHookActive: false })).toEqual({ block: true, reason: 'You still owe a reply on the relay.' });
    expect(s.stopDecision({ ...ctx, stopHookActive: true })).toEqual({ block: false });
  });

  it('permissions: relayed with a summary; deny gets a message; ask passes through; a gone hook gets ask', async () => {
    const input = { ...ctx, toolName: 'Bash', toolInput: { command: 'ls -la' } };
    const allow = sink(false);
    expect(await allow.s.permissionRequest(input, live())).toEqual({ behavior: 'allow' });
    expect(allow.asked).toEqual([{ tool: 'Bash', summary: 'ls -la', input: { command: 'ls -la' } }]);
    expect(await sink(false, { behavior: 'deny' }).s.permissionRequest(input, live())).toEqual({ behavior: 'deny', message: 'denied by the relay' });
    expect(await sink(false, { behavior: 'deny', message: 'no' }).s.permissionRequest(input, live())).toEqual({ behavior: 'deny', message: 'no' });
    expect(await sink(true, { behavior: 'ask', message: 'late' }).s.permissionRequest(input, live())).toEqual({ behavior: 'ask' });
    const gone = new AbortController();
    gone.abort();
    expect(await sink(true, { behavior: 'allow' }).s.permissionRequest(input, { signal: gone.signal })).toEqual({ behavior: 'ask' });
  });
});

/** A host that keeps its routes in a map, like the control server. */
function fakeHost() {
  const routes = new Map<string, ControlRoute<unknown>>();
  const host: ProviderHost = {
    addControlRoute(route) {
      const key = `${route.method} ${route.path}`;
      if (routes.has(key)) throw new Error(`duplicate ${key}`);
      routes.set(key, route as ControlRoute<unknown>);
      return () => {
        if (routes.get(key) === route) routes.delete(key);
      };
    },
    stopDecision: () => ({ block: false }),
    requestPermission: async () => ({ behavior: 'allow' }),
  };
  return { host, routes };
}

/** A session whose exit the test controls. */
function fakeSession() {
  let exit: (e: ProcessExit) => void = () => undefined;
  const exited = new Promise<ProcessExit>((resolve) => (exit = resolve));
  const own = new Set<(e: ProviderEvent) => void>();
  const session: ProviderSession = {
    pid: 42,
    exited,
    deliver: async () => undefined,
    interrupt: async () => undefined,
    decidePermission: () => undefined,
    onEvent: (l) => (own.add(l), () => own.delete(l)),
    attachSpec: () => ({ kind: 'none' }),
    stop: async () => (exit({ code: 0, signal: null }), exited),
  };
  return { session, exit: () => exit({ code: 0, signal: null }), emit: (e: ProviderEvent) => own.forEach((l) => l(e)) };
}

const deps = (host?: ProviderHost): ProviderDeps => ({
  spawner: { spawn: () => Promise.reject(new Error('unused')) },
  logger: createMemoryLogger(),
  clock: createFakeClock(),
  ...(host ? { host } : {}),
});

const call = (route: ControlRoute<unknown> | undefined, body: unknown) => route!.handle(route!.body ? validated(route!, body) : body, live());
function validated(route: ControlRoute<unknown>, body: unknown): unknown {
  const result = route.body!['~standard'].validate(body) as { value?: unknown; issues?: unknown };
  if (result.issues) throw new Error(JSON.stringify(result.issues));
  return result.value;
}

describe('withClaudeHooks', () => {
  it('registers the hook routes with the session and removes them when it exits', async () => {
    const { host, routes } = fakeHost();
    const fake = fakeSession();
    const session = withClaudeHooks(fake.session, deps(host), { hookDriven: true });
    expect([...routes.keys()].sort()).toEqual(
      [
        'stop',
        'session-turn',
        'user-prompt',
        'session-start',
        'subagent-start',
        'subagent-stop',
        'pre-compact',
        'post-compact',
        'stop-failure',
        'session-end',
        'permission-request',
        'pre-tool-use',
        'post-tool-use',
        'post-tool-use-failure',
      ]
        .map((p) => `POST /hooks/${p}`)
        .sort(),
    );
    expect(session.pid).toBe(42);
    fake.exit();
    await session.exited;
    await Promise.resolve();
    expect(routes.size).toBe(0);
  });

  it('hook events reaching the session before anyone listens are kept, then merged with its own events', async () => {
    const { host, routes } = fakeHost();
    const fake = fakeSession();
    const session = withClaudeHooks(fake.session, deps(host), { hookDriven: true });
    await call(routes.get('POST /hooks/session-start'), { hook_event_name: 'SessionStart', session_id: 'early', source: 'startup' });
    const seen: ProviderEvent[] = [];
    const off = session.onEvent((e) => seen.push(e));
    await Promise.resolve();
    fake.emit({ type: 'warning', message: 'own' });
    await call(routes.get('POST /hooks/user-prompt'), { prompt: 'typed' });
    expect(seen).toEqual([
      { type: 'session', sessionId: 'early', source: 'startup' },
      { type: 'warning', message: 'own' },
      { type: 'turn.started', prompt: 'typed' },
    ]);
    off();
    fake.emit({ type: 'warning', message: 'after' });
    await call(routes.get('POST /hooks/user-prompt'), { prompt: 'after' });
    expect(seen).toHaveLength(3);
  });

  it('a new session replaces the routes of the last one (restart), and the old exit leaves them alone', async () => {
    const { host, routes } = fakeHost();
    const first = fakeSession();
    withClaudeHooks(first.session, deps(host), { hookDriven: false });
    const before = routes.get('POST /hooks/stop');
    const second = fakeSession();
    withClaudeHooks(second.session, deps(host), { hookDriven: false });
    expect(routes.get('POST /hooks/stop')).not.toBe(before);
    first.exit();
    await first.session.exited;
    await Promise.resolve();
    expect(routes.size).toBe(14);
  });

  it('with the transcript mirror, a tool hook is answered at once while its event waits for the transcript', async () => {
    const { host, routes } = fakeHost();
    const fake = fakeSession();
    const d = deps(host);
    const transcripts: Array<[string, string]> = [];
    const session = withClaudeHooks(fake.session, d, { hookDriven: true, transcriptMirror: true, onSessionTranscript: (id, path) => transcripts.push([id, path]) });
    const seen: ProviderEvent[] = [];
    session.onEvent((e) => seen.push(e));
    const path = '/nonexistent/transcript.jsonl';
    await call(routes.get('POST /hooks/session-start'), { hook_event_name: 'SessionStart', session_id: 's1', source: 'startup', transcript_path: path });
    const answer = await call(routes.get('POST /hooks/pre-tool-use'), { hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'ls' }, tool_use_id: 'tu_1', transcript_path: path });
    expect(answer).toEqual({ status: 204 });
    const clock = d.clock as ReturnType<typeof createFakeClock>;
    const t0 = clock.now();
    // The transcript is read with real file I/O: poll for the session event (no clock time passes).
    await vi.waitFor(() => expect(seen).toEqual([{ type: 'session', sessionId: 's1', source: 'startup' }]));
    await clock.advanceAsync(1_000);
    expect(seen).toHaveLength(1); // the tool step still waits for its transcript line (bounded: 2 s)
    await vi.waitFor(async () => {
      await clock.advanceAsync(100);
      expect(seen.at(-1)).toEqual({ type: 'tool', name: 'Bash', summary: 'ls', status: 'started' });
    });
    expect(clock.now() - t0).toBeGreaterThanOrEqual(2_000);
    expect(transcripts).toEqual([['s1', path]]);
  });

  it('without a host, the session is returned as is', () => {
    const fake = fakeSession();
    expect(withClaudeHooks(fake.session, deps(), { hookDriven: true })).toBe(fake.session);
  });
});
