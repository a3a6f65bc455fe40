import { mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createChildProcessSpawner } from '../../src/adapters/child-process-spawner.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { isRunnerError, ProviderError } from '../../src/errors/index.js';
import type { ProcessExit, SpawnedProcess } from '../../src/ports/process-spawner.js';
import type { ProviderDeps, ProviderEvent, ProviderLaunch, ProviderSession } from '../../src/ports/provider.js';
import { createDemoProvider, DEMO_AGENT_SCRIPT_PATH, parseDemoAgentLine } from '../../src/providers/demo/provider.js';
import { runProviderConformance } from '../../src/testing/conformance/provider.js';
import { createMemoryLogger, type MemoryLogger } from '../../src/testing/memory-logger.js';

const WAIT_MS = 15_000;

function makeDeps(logger: MemoryLogger = createMemoryLogger({ level: 'debug' })): ProviderDeps & { logger: MemoryLogger } {
  return { spawner: createChildProcessSpawner({ clock: createSystemClock() }), logger, clock: createSystemClock() };
}

function makeLaunch(overrides: Partial<ProviderLaunch> = {}): ProviderLaunch {
  return { cwd: process.cwd(), env: { ...(process.env as Record<string, string>) }, ...overrides };
}

runProviderConformance(
  'demo',
  async () => ({
    adapter: createDemoProvider(),
    deps: makeDeps(),
    launch: makeLaunch(),
    quickTurnText: 'hello there',
    slowTurnText: '[slow:20000] take your time',
  }),
  { describe, it },
);

/** Sessions started by a test; stopped after it whatever happened. */
const running: ProviderSession[] = [];
const tempDirs: string[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop().catch(() => undefined)));
  await Promise.all(tempDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** Start a demo session and record its events; `next` waits for a matching event after `from`. */
async function startDemo(
  options: Parameters<typeof createDemoProvider>[0] = {},
  launch: Partial<ProviderLaunch> = {},
  deps = makeDeps(),
) {
  const session = await createDemoProvider(options).start(makeLaunch(launch), deps);
  running.push(session);
  const events: ProviderEvent[] = [];
  session.onEvent((e) => events.push(e));
  const waitFor = async (predicate: (e: ProviderEvent) => boolean, what: string, from = 0): Promise<number> => {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const index = events.findIndex((e, i) => i >= from && predicate(e));
      if (index >= 0) return index;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; saw ${JSON.stringify(events)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  /** Deliver and wait for the (interrupted or not) completion of that turn; returns its events. */
  const turn = async (deliveryId: string, text: string, sender?: Parameters<ProviderSession['deliver']>[0]['sender']) => {
    const from = events.length;
    await session.deliver({ deliveryId, text, ...(sender ? { sender } : {}) });
    const started = await waitFor((e) => e.type === 'turn.started' && e.deliveryId === deliveryId, `start of ${deliveryId}`, from);
    const done = await waitFor((e) => e.type === 'turn.completed', `completion of ${deliveryId}`, started);
    return events.slice(started, done + 1);
  };
  return { session, events, waitFor, turn, deps };
}

const finalText = (turnEvents: ProviderEvent[]) => {
  const last = turnEvents[turnEvents.length - 1];
  return last?.type === 'turn.completed' ? last.finalText : undefined;
};

describe('demo provider: adapter', () => {
  it('has the documented name, capabilities and attach spec', async () => {
    const adapter = createDemoProvider();
    expect(adapter.name).toBe('demo');
    expect(adapter.capabilities).toEqual({
      structuredInput: true,
      resume: true,
      interactive: false,
      hookDriven: false,
      midTurnMessages: 'queue',
    });
    const { session } = await startDemo();
    expect(session.attachSpec()).toEqual({ kind: 'none' });
  });

  it('checkVersion runs --version and logs the version', async () => {
    const deps = makeDeps();
    await expect(createDemoProvider().checkVersion(deps)).resolves.toBe('1.0.0');
    expect(deps.logger.entries.some((e) => e.level === 'info' && e.message.includes('1.0.0'))).toBe(true);
  });

  it('checkVersion rejects with ProviderError when node is missing', async () => {
    const error = await createDemoProvider({ nodePath: '/nonexistent/bin/node-xyz' })
      .checkVersion(makeDeps())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).code).toBe('PROVIDER');
    expect((error as Error).message).toContain('/nonexistent/bin/node-xyz');
  });

  it('checkVersion and start reject with ProviderError when the script is missing', async () => {
    const adapter = createDemoProvider({ scriptPath: '/nonexistent/demo-agent.mjs' });
    await expect(adapter.checkVersion(makeDeps())).rejects.toBeInstanceOf(ProviderError);
    await expect(adapter.start(makeLaunch(), makeDeps())).rejects.toBeInstanceOf(ProviderError);
  });

  it('a missing or unknown script path names the path and the scriptPath option (a bundled host must pass it)', async () => {
    const missing = await createDemoProvider({ scriptPath: '/nonexistent/demo-agent.mjs' })
      .start(makeLaunch(), makeDeps())
      .catch((e: unknown) => e);
    expect((missing as Error).message).toMatch(/\/nonexistent\/demo-agent\.mjs.*scriptPath option of createDemoProvider/);
    expect((missing as ProviderError).data).toMatchObject({ scriptPath: '/nonexistent/demo-agent.mjs', option: 'scriptPath' });
    // What DEMO_AGENT_SCRIPT_PATH is inside a bundle without import.meta.url.
    const unknown = await createDemoProvider({ scriptPath: '' })
      .checkVersion(makeDeps())
      .catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(ProviderError);
    expect((unknown as Error).message).toMatch(/path unknown.*scriptPath option/);
  });

  it('inside Electron (process.versions.electron) the script runs with ELECTRON_RUN_AS_NODE=1, not as a second app', async () => {
    const versions = process.versions as Record<string, string | undefined>;
    versions['electron'] = '99.0.0';
    let adapter: ReturnType<typeof createDemoProvider>;
    try {
      adapter = createDemoProvider();
    } finally {
      delete versions['electron'];
    }
    const deps = makeDeps();
    const requests: Array<Parameters<ProviderDeps['spawner']['spawn']>[0]> = [];
    const recording: ProviderDeps = { ...deps, spawner: { spawn: (request) => (requests.push(request), deps.spawner.spawn(request)) } };
    await adapter.checkVersion(recording);
    expect(requests[0]?.env?.['ELECTRON_RUN_AS_NODE']).toBe('1');
    const session = await adapter.start(makeLaunch(), recording);
    running.push(session);
    const events: ProviderEvent[] = [];
    session.onEvent((e) => events.push(e));
    await session.deliver({ deliveryId: 'd-1', text: '[env:ELECTRON_RUN_AS_NODE]' });
    const deadline = Date.now() + WAIT_MS;
    while (!events.some((e) => e.type === 'turn.completed') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(events.find((e) => e.type === 'turn.completed')).toMatchObject({ finalText: 'env ELECTRON_RUN_AS_NODE=1' });
  });

  it('outside Electron the script gets no ELECTRON_RUN_AS_NODE', async () => {
    const { turn } = await startDemo();
    expect(finalText(await turn('d-1', '[env:ELECTRON_RUN_AS_NODE]'))).toBe('env ELECTRON_RUN_AS_NODE is unset');
  });

  it('checkVersion rejects with ProviderError when the script fails', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'demo-provider-'));
    tempDirs.push(dir);
    const broken = join(dir, 'broken.mjs');
    await writeFile(broken, "process.stderr.write('boom: broken agent\\n'); process.exit(3);\n");
    const error = await createDemoProvider({ scriptPath: broken })
      .checkVersion(makeDeps())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as Error).message).toContain('boom: broken agent');
  });

  it('start rejects with ProviderError when node cannot be spawned', async () => {
    const error = await createDemoProvider({ nodePath: '/nonexistent/bin/node-xyz' })
      .start(makeLaunch(), makeDeps())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
  });

  it('the shipped script path resolves to provider-scripts/demo-agent.mjs', () => {
    expect(DEMO_AGENT_SCRIPT_PATH.endsWith(join('provider-scripts', 'demo-agent.mjs'))).toBe(true);
  });
});

describe('demo provider: sessions', () => {
  it('starts with a version and a fresh random session id each time', async () => {
    const a = await startDemo();
    const b = await startDemo();
    await a.waitFor((e) => e.type === 'session', 'session a');
    await b.waitFor((e) => e.type === 'session', 'session b');
    const sa = a.events.find((e) => e.type === 'session');
    const sb = b.events.find((e) => e.type === 'session');
    expect(a.events[0]).toEqual({ type: 'version', version: '1.0.0' });
    expect(sa).toMatchObject({ type: 'session', source: 'startup' });
    expect(sb).toMatchObject({ type: 'session', source: 'startup' });
    expect(sa?.type === 'session' && sb?.type === 'session' && sa.sessionId !== sb.sessionId).toBe(true);
  });

  it('resumes with the given session id and source resume', async () => {
    const { events, waitFor } = await startDemo({}, { resumeSessionId: 'sess-1234' });
    await waitFor((e) => e.type === 'session', 'session');
    expect(events.find((e) => e.type === 'session')).toEqual({ type: 'session', sessionId: 'sess-1234', source: 'resume' });
  });

  it('events emitted before anyone subscribed reach the first subscriber in order', async () => {
    const deps = makeDeps();
    const session = await createDemoProvider().start(makeLaunch(), deps);
    running.push(session);
    // Let the startup events arrive while nobody listens.
    await new Promise((r) => setTimeout(r, 300));
    const events: ProviderEvent[] = [];
    session.onEvent((e) => events.push(e));
    await session.deliver({ deliveryId: 'd-late-sub', text: 'hi' });
    const deadline = Date.now() + WAIT_MS;
    while (!events.some((e) => e.type === 'turn.completed') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(events.map((e) => e.type).slice(0, 3)).toEqual(['version', 'session', 'turn.started']);
  });

  it('echoes the last non-empty line of a turn with a context block and sender metadata', async () => {
    const { turn } = await startDemo();
    const text = '<agent-relay-context>\nYou are an agent.\n</agent-relay-context>\n\nFrom alice (message m-1):\nplease say hi\n\n';
    const events = await turn('d-1', text, { from: 'alice', messageId: 'm-1', expectsReply: true });
    expect(events.map((e) => e.type)).toEqual(['turn.started', 'reasoning', 'assistant', 'turn.completed']);
    expect(events[0]).toEqual({ type: 'turn.started', deliveryId: 'd-1', turnId: 'turn-1', prompt: text });
    expect(events[2]).toEqual({ type: 'assistant', text: 'Echo: please say hi' });
    expect(events[3]).toEqual({ type: 'turn.completed', turnId: 'turn-1', finalText: 'Echo: please say hi' });
  });

  it('reports cumulative usage after each turn', async () => {
    const { turn, events, waitFor } = await startDemo();
    await turn('d-1', 'one');
    const first = await waitFor((e) => e.type === 'usage', 'usage 1');
    await turn('d-2', 'two');
    const second = await waitFor((e) => e.type === 'usage', 'usage 2', first + 1);
    const u1 = events[first];
    const u2 = events[second];
    expect(u1?.type === 'usage' && u2?.type === 'usage' && u2.usedTokens > u1.usedTokens).toBe(true);
    expect(u1).toMatchObject({ windowTokens: 200_000 });
  });

  it('[tool:<name>] and [tool-fail:<name>] emit tool steps', async () => {
    const { turn } = await startDemo();
    const events = await turn('d-1', 'look around [tool:Read] [tool-fail:Bash]');
    expect(events.filter((e) => e.type === 'tool')).toEqual([
      { type: 'tool', name: 'Read', summary: 'demo step using Read', status: 'started' },
      { type: 'tool', name: 'Read', summary: 'demo step using Read', status: 'completed' },
      { type: 'tool', name: 'Bash', summary: 'demo step using Bash', status: 'started' },
      { type: 'tool', name: 'Bash', summary: 'demo step using Bash', status: 'failed' },
    ]);
    expect(finalText(events)).toBe('Echo: look around');
  });

  it('[subagent] wraps the turn in a subagent start and stop', async () => {
    const { turn } = await startDemo();
    const events = await turn('d-1', 'delegate [subagent]');
    const types = events.map((e) => (e.type === 'subagent' ? `subagent:${e.phase}` : e.type));
    expect(types).toEqual(['turn.started', 'subagent:start', 'reasoning', 'assistant', 'subagent:stop', 'turn.completed']);
  });

  it('[env:NAME] and [cwd] show that the launch env and cwd reach the agent', async () => {
    const dir = await realpath(await mkdtemp(join(tmpdir(), 'demo-provider-')));
    tempDirs.push(dir);
    const { turn } = await startDemo({}, { cwd: dir, env: { ...(process.env as Record<string, string>), DEMO_PROBE: 'probe-value' } });
    expect(finalText(await turn('d-1', '[env:DEMO_PROBE]'))).toBe('env DEMO_PROBE=probe-value');
    expect(finalText(await turn('d-2', '[env:DEMO_NOT_SET_XYZ]'))).toBe('env DEMO_NOT_SET_XYZ is unset');
    expect(finalText(await turn('d-3', '[cwd]'))).toBe(`cwd ${dir}`);
  });

  it('options.extraArgs and launch.extraArgs reach the agent', async () => {
    const { turn, events, waitFor } = await startDemo({ extraArgs: ['--reply-prefix', 'Bot:'] }, { extraArgs: ['--from-profile'] });
    expect(finalText(await turn('d-1', 'hi'))).toBe('Bot: hi');
    await waitFor((e) => e.type === 'warning', 'unknown-arg warning');
    expect(events.find((e) => e.type === 'warning')).toEqual({
      type: 'warning',
      message: 'demo-agent: ignored unknown arguments: --from-profile',
    });
  });

  it('[slow:<ms>] emits reasoning first; turns delivered mid-turn are queued and answered in order', async () => {
    const { session, events, waitFor } = await startDemo();
    await session.deliver({ deliveryId: 'd-slow', text: '[slow:400] first' });
    const reasoning = await waitFor((e) => e.type === 'reasoning', 'reasoning of the slow turn');
    // Mid-turn: these arrive while the first turn sleeps.
    await session.deliver({ deliveryId: 'd-2', text: 'second' });
    await session.deliver({ deliveryId: 'd-3', text: 'third' });
    await waitFor((e) => e.type === 'turn.completed' && e.finalText === 'Echo: third', 'third answer');
    const summary = events
      .filter((e) => e.type === 'turn.started' || e.type === 'turn.completed')
      .map((e) => (e.type === 'turn.started' ? `start ${e.deliveryId}` : `done ${e.finalText}`));
    expect(summary).toEqual(['start d-slow', 'done Echo: first', 'start d-2', 'done Echo: second', 'start d-3', 'done Echo: third']);
    expect(events[reasoning]).toEqual({ type: 'reasoning', text: 'Thinking about: first' });
  });

  it('interrupt ends only the running turn; queued turns are still answered', async () => {
    const { session, events, waitFor } = await startDemo();
    await session.deliver({ deliveryId: 'd-slow', text: '[slow:30000] long job [subagent]' });
    await waitFor((e) => e.type === 'reasoning', 'reasoning');
    await session.deliver({ deliveryId: 'd-next', text: 'next' });
    await session.interrupt();
    const done = await waitFor((e) => e.type === 'turn.completed' && e.finalText === 'Echo: next', 'queued answer');
    const completions = events.filter((e) => e.type === 'turn.completed');
    expect(completions).toEqual([
      { type: 'turn.completed', turnId: 'turn-1', interrupted: true },
      { type: 'turn.completed', turnId: 'turn-2', finalText: 'Echo: next' },
    ]);
    // The open subagent is closed when its turn is interrupted, so nobody counts it forever.
    expect(events.filter((e) => e.type === 'subagent').map((e) => (e.type === 'subagent' ? e.phase : ''))).toEqual(['start', 'stop']);
    expect(events.slice(0, done).some((e) => e.type === 'assistant' && e.text.includes('long job'))).toBe(false);
  });

  it('interrupt with no turn running is harmless', async () => {
    const { session, turn } = await startDemo();
    await session.interrupt();
    expect(finalText(await turn('d-1', 'still here'))).toBe('Echo: still here');
  });

  it('[permission:<tool>] waits for the decision: allow', async () => {
    const { session, events, waitFor } = await startDemo();
    await session.deliver({ deliveryId: 'd-1', text: 'do it [permission:Bash]' });
    const at = await waitFor((e) => e.type === 'permission', 'permission request');
    const request = events[at];
    expect(request).toMatchObject({ type: 'permission', tool: 'Bash', summary: 'demo wants to use Bash' });
    expect(events.some((e) => e.type === 'turn.completed')).toBe(false);
    session.decidePermission(request?.type === 'permission' ? request.requestId : '', { behavior: 'allow' });
    await waitFor((e) => e.type === 'turn.completed', 'completion');
    expect(events.find((e) => e.type === 'turn.completed')).toMatchObject({ finalText: 'permission allowed' });
  });

  it('[permission:<tool>] waits for the decision: deny with a message; unknown ids are ignored meanwhile', async () => {
    const { session, events, waitFor, deps } = await startDemo();
    await session.deliver({ deliveryId: 'd-1', text: '[permission:Write] write the file' });
    const at = await waitFor((e) => e.type === 'permission', 'permission request');
    const request = events[at];
    session.decidePermission('no-such-request', { behavior: 'allow' });
    expect(deps.logger.entries.some((e) => e.message.includes('ignored decision for unknown permission request no-such-request'))).toBe(
      true,
    );
    session.decidePermission(request?.type === 'permission' ? request.requestId : '', { behavior: 'deny', message: 'not on main' });
    await waitFor((e) => e.type === 'turn.completed', 'completion');
    expect(events.find((e) => e.type === 'turn.completed')).toMatchObject({ finalText: 'permission denied: not on main' });
    // The ignored decision never reached the agent (it would have answered with a warning).
    expect(events.some((e) => e.type === 'warning')).toBe(false);
  });

  it('a permission decision after its turn was interrupted is not applied', async () => {
    const { session, events, waitFor, turn, deps } = await startDemo();
    await session.deliver({ deliveryId: 'd-1', text: '[permission:Bash] risky' });
    const at = await waitFor((e) => e.type === 'permission', 'permission request');
    const request = events[at];
    await session.interrupt();
    await waitFor((e) => e.type === 'turn.completed', 'interrupted completion');
    session.decidePermission(request?.type === 'permission' ? request.requestId : '', { behavior: 'allow' });
    const next = await turn('d-2', 'after');
    expect(finalText(next)).toBe('Echo: after');
    expect(events.some((e) => e.type === 'turn.completed' && e.finalText === 'permission allowed')).toBe(false);
    // The adapter dropped the decision itself: had it reached the agent, the agent would have warned
    // (stdin is read in order, so that warning would precede the next turn's answer).
    expect(events.some((e) => e.type === 'warning')).toBe(false);
    expect(deps.logger.entries.some((e) => e.message.includes('ignored decision for unknown permission request'))).toBe(true);
  });

  it('[crash] exits with code 1 mid-turn; deliver afterwards rejects with ProviderError', async () => {
    const { session, events, waitFor, deps } = await startDemo();
    await session.deliver({ deliveryId: 'd-1', text: 'boom [crash]' });
    const exit = await session.exited;
    expect(exit).toEqual({ code: 1, signal: null });
    await waitFor((e) => e.type === 'turn.started', 'turn.started');
    expect(events.some((e) => e.type === 'turn.completed')).toBe(false);
    expect(deps.logger.entries.some((e) => e.message.includes('stderr: demo-agent: crashing on request'))).toBe(true);
    const error = await session.deliver({ deliveryId: 'd-2', text: 'hello?' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(await session.stop()).toEqual(exit);
  });

  it('[exit] completes the turn, then exits 0', async () => {
    const { session, events } = await startDemo();
    await session.deliver({ deliveryId: 'd-1', text: 'bye [exit]' });
    expect(await session.exited).toEqual({ code: 0, signal: null });
    expect(events.find((e) => e.type === 'turn.completed')).toMatchObject({ finalText: 'Echo: bye' });
  });

  it('an unparseable stdout line is logged loudly with its text and surfaced as a warning', async () => {
    const { turn, events, deps } = await startDemo();
    const turnEvents = await turn('d-1', 'noisy [garbage]');
    const warning = turnEvents.find((e) => e.type === 'warning');
    expect(warning?.type === 'warning' && warning.message).toContain('demo-agent: this line is deliberately not JSON {');
    expect(
      deps.logger.entries.some((e) => e.level === 'warn' && e.message.includes('unparseable stdout line') && e.message.includes('deliberately not JSON')),
    ).toBe(true);
    expect(finalText(turnEvents)).toBe('Echo: noisy');
    expect(events.filter((e) => e.type === 'assistant')).toHaveLength(1);
  });

  it('stop() closes stdin and the agent exits 0 (no signal needed)', async () => {
    const { session, deps } = await startDemo();
    await session.deliver({ deliveryId: 'd-1', text: '[slow:30000] busy' });
    const exit: ProcessExit = await session.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(deps.logger.entries.some((e) => e.message.includes('SIGTERM'))).toBe(false);
    await expect(session.deliver({ deliveryId: 'd-2', text: 'x' })).rejects.toSatisfy(isRunnerError);
  });

  it('stop() escalates to signals when the agent ignores stdin closing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'demo-provider-'));
    tempDirs.push(dir);
    const stubborn = join(dir, 'stubborn.mjs');
    // Ignores stdin EOF and SIGTERM: only SIGKILL ends it.
    await writeFile(
      stubborn,
      "process.on('SIGTERM', () => {}); process.stdin.resume(); setInterval(() => {}, 1000); console.log('ready');\n",
    );
    const { session, deps, waitFor } = await startDemo({ scriptPath: stubborn, stopGraceMs: 100, killGraceMs: 100 });
    // Its SIGTERM handler is installed once it says so (a non-JSON line, surfaced as a warning).
    await waitFor((e) => e.type === 'warning' && e.message.endsWith(': ready'), 'ready line');
    const exit = await session.stop();
    expect(exit.signal).toBe('SIGKILL');
    expect(deps.logger.entries.some((e) => e.level === 'warn' && e.message.includes('did not exit after stdin closed'))).toBe(true);
  });
});

describe('demo agent: protocol robustness (raw process)', () => {
  async function spawnRaw(): Promise<{ child: SpawnedProcess; lines: string[]; waitLine: (p: (l: string) => boolean) => Promise<string> }> {
    const child = await createChildProcessSpawner({ clock: createSystemClock() }).spawn({ command: process.execPath, args: [DEMO_AGENT_SCRIPT_PATH] });
    const lines: string[] = [];
    child.stdout.onLine((l) => lines.push(l));
    const waitLine = async (p: (l: string) => boolean) => {
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const found = lines.find(p);
        if (found !== undefined) return found;
        if (Date.now() > deadline) throw new Error(`timed out; lines: ${lines.join('\n')}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    return { child, lines, waitLine };
  }

  it('garbled and unknown stdin lines produce warning events, never a crash', async () => {
    const { child, lines, waitLine } = await spawnRaw();
    try {
      await child.write('this is not json\n');
      await child.write('[1,2,3]\n');
      await child.write('{"type":"dance"}\n');
      await child.write('{"type":"user","text":42}\n');
      await child.write('{"type":"permission_decision","requestId":"nope","behavior":"allow"}\n');
      await child.write('{"type":"user","deliveryId":"d-ok","text":"still alive","extra":{"ignored":true}}\n');
      await waitLine((l) => l.includes('"turn.completed"'));
      const warnings = lines.map((l) => JSON.parse(l) as ProviderEvent).filter((e) => e.type === 'warning');
      expect(warnings.map((w) => (w.type === 'warning' ? w.message : ''))).toEqual([
        'demo-agent: ignored stdin line that is not JSON: this is not json',
        'demo-agent: ignored stdin line that is not a JSON object: [1,2,3]',
        'demo-agent: ignored stdin line of unknown type: {"type":"dance"}',
        'demo-agent: ignored user turn without a text string: {"type":"user","text":42}',
        'demo-agent: ignored decision for no pending permission request: {"type":"permission_decision","requestId":"nope","behavior":"allow"}',
      ]);
      // Every stdout line is a valid event for the adapter's parser.
      for (const line of lines) expect(parseDemoAgentLine(line)).toHaveProperty('event');
    } finally {
      child.endInput();
      expect(await child.exited).toEqual({ code: 0, signal: null });
    }
  });

  it('--version prints the version and exits 0', async () => {
    const child = await createChildProcessSpawner({ clock: createSystemClock() }).spawn({ command: process.execPath, args: [DEMO_AGENT_SCRIPT_PATH, '--version'] });
    const lines: string[] = [];
    child.stdout.onLine((l) => lines.push(l));
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(lines).toEqual(['demo-agent 1.0.0']);
  });
});

describe('parseDemoAgentLine', () => {
  it('keeps known fields, drops unknown ones, and rejects malformed events with a reason', () => {
    expect(parseDemoAgentLine('{"type":"assistant","text":"hi","extra":1}')).toEqual({ event: { type: 'assistant', text: 'hi' } });
    expect(parseDemoAgentLine('{"type":"turn.completed","interrupted":true,"turnId":"t"}')).toEqual({
      event: { type: 'turn.completed', turnId: 't', interrupted: true },
    });
    expect(parseDemoAgentLine('{"type":"tool","name":"x","status":"started"}')).toEqual({
      event: { type: 'tool', name: 'x', summary: '', status: 'started' },
    });
    expect(parseDemoAgentLine('not json')).toEqual({ error: 'not JSON' });
    expect(parseDemoAgentLine('"str"')).toEqual({ error: 'not a JSON object' });
    expect(parseDemoAgentLine('{"type":"mystery"}')).toEqual({ error: 'unknown event type "mystery"' });
    expect(parseDemoAgentLine('{"type":"session","sessionId":"s","source":"elsewhere"}')).toHaveProperty('error');
    expect(parseDemoAgentLine('{"type":"usage","usedTokens":"many"}')).toHaveProperty('error');
    expect(parseDemoAgentLine('{"type":"assistant"}')).toHaveProperty('error');
  });
});
