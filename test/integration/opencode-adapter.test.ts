/**
 * The OpenCode adapter against a stand-in `opencode acp` (test/fixtures/providers/acp-agent.mjs, a
 * real child process speaking ACP): the paths the real CLI reaches only with luck — permissions
 * with and without a runner host, a permission open when the turn is interrupted, a request the
 * client does not offer, a session that cannot be loaded, a line that is not JSON, the version range.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createChildProcessSpawner } from '../../src/adapters/child-process-spawner.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { isRunnerError } from '../../src/errors/index.js';
import { createOpenCodeProvider, type OpenCodeProviderOptions } from '../../src/providers/opencode/provider.js';
import type { HostPermissionOutcome, ProviderDeps, ProviderEvent, ProviderHost, ProviderProfile, ProviderSession } from '../../src/ports/provider.js';
import type { SpawnRequest } from '../../src/ports/process-spawner.js';
import { createMemoryLogger, type MemoryLogger } from '../../src/testing/memory-logger.js';
import { waitFor } from '../helpers/rig.js';

const STANDIN = resolve(import.meta.dirname, '../fixtures/providers/acp-agent.mjs');

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  cleanup = [];
});

interface Started {
  session: ProviderSession;
  events: ProviderEvent[];
  logger: MemoryLogger;
  /** What the adapter spawned (the version check, then `opencode acp`). */
  spawned: SpawnRequest[];
}

async function start(options: { host?: ProviderHost; resume?: string; version?: string; provider?: OpenCodeProviderOptions; profile?: ProviderProfile } = {}): Promise<Started> {
  const dir = await mkdtemp(join(tmpdir(), 'arr-oc-standin-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const clock = createSystemClock();
  const logger = createMemoryLogger({ level: 'debug' });
  const spawner = createChildProcessSpawner({ clock });
  const spawned: SpawnRequest[] = [];
  const deps: ProviderDeps = { spawner: { spawn: (r) => (spawned.push(r), spawner.spawn(r)) }, logger, clock, ...(options.host ? { host: options.host } : {}) };
  const adapter = createOpenCodeProvider({ command: STANDIN, stateDir: join(dir, 'state'), env: { STANDIN_VERSION: options.version ?? '1.18.33' }, ...options.provider });
  const env = { PATH: process.env.PATH ?? '', STANDIN_VERSION: options.version ?? '1.18.33' };
  await adapter.checkVersion({ ...deps, spawner: { spawn: (r) => deps.spawner.spawn({ ...r, env }) } });
  const session = await adapter.start({ cwd: dir, env, ...(options.resume ? { resumeSessionId: options.resume } : {}), ...(options.profile ? { profile: options.profile } : {}) }, deps);
  cleanup.push(() => session.stop());
  const events: ProviderEvent[] = [];
  session.onEvent((e) => events.push(e));
  return { session, events, logger, spawned };
}

/** The parts of the inline config these tests read. */
interface LaunchConfig {
  model?: string;
  small_model?: string;
  provider: { fake: { models: Record<string, unknown> } };
  permission: unknown;
  instructions?: string[];
}

const completed = (events: ProviderEvent[], n = 1) =>
  waitFor(() => (events.filter((e) => e.type === 'turn.completed').length >= n ? events.filter((e) => e.type === 'turn.completed')[n - 1] : undefined), 'turn.completed', 20_000);

describe('OpenCode adapter (stand-in ACP agent)', () => {
  it('a turn: turn.started with the delivery id, the reply, usage, turn.completed with the final text; a non-JSON line is a warning', async () => {
    const { session, events } = await start();
    expect(events[0]).toEqual({ type: 'session', sessionId: 'ses_new', source: 'startup' });
    await session.deliver({ deliveryId: 'd1', text: 'hello junk' });
    const done = await completed(events);
    expect(done).toMatchObject({ turnId: 'opencode-turn-1', finalText: 'echo: hello junk' });
    expect(events.find((e) => e.type === 'turn.started')).toEqual({ type: 'turn.started', deliveryId: 'd1', turnId: 'opencode-turn-1' });
    expect(events).toContainEqual({ type: 'usage', usedTokens: 42 });
    expect(events.some((e) => e.type === 'warning' && /unparseable stdout line \(not JSON\): this is not json/.test(e.message))).toBe(true);
  });

  it('without a host: permission events answered by decidePermission — allow picks allow-once, deny and a malformed decision reject-once', async () => {
    const { session, events, logger } = await start();
    await session.deliver({ deliveryId: 'd1', text: 'ask' });
    const asked = await waitFor(() => events.find((e): e is Extract<ProviderEvent, { type: 'permission' }> => e.type === 'permission'), 'permission', 20_000);
    expect(asked).toMatchObject({ tool: 'bash', summary: 'rm -rf build' });
    session.decidePermission('no-such-request', { behavior: 'allow' });
    session.decidePermission(asked.requestId, { behavior: 'allow' });
    expect((await completed(events)).type === 'turn.completed' && (await completed(events))).toMatchObject({ finalText: 'permission: once' });
    expect(events.filter((e) => e.type === 'tool').map((e) => e.type === 'tool' && e.status)).toEqual(['started', 'completed']);

    await session.deliver({ deliveryId: 'd2', text: 'ask' });
    const second = await waitFor(() => events.filter((e) => e.type === 'permission')[1], 'second permission', 20_000);
    session.decidePermission((second as { requestId: string }).requestId, { behavior: 'maybe' } as never);
    expect(await completed(events, 2)).toMatchObject({ finalText: 'permission: reject' });
    expect(logger.lines().some((l) => /malformed decision/.test(l))).toBe(true);
  });

  it('with a host: each request goes to the runner’s permission relay; allow and deny reach OpenCode', async () => {
    const asked: Array<{ tool: string; summary: string; input?: unknown }> = [];
    const outcomes: HostPermissionOutcome[] = [{ behavior: 'allow' }, { behavior: 'deny', message: 'not today' }];
    const host: ProviderHost = {
      addControlRoute: () => () => undefined,
      stopDecision: () => ({ block: false }),
      requestPermission: async (request) => {
        asked.push(request);
        return outcomes.shift()!;
      },
    };
    const { session, events, logger } = await start({ host });
    await session.deliver({ deliveryId: 'd1', text: 'ask' });
    expect(await completed(events)).toMatchObject({ finalText: 'permission: once' });
    await session.deliver({ deliveryId: 'd2', text: 'ask' });
    expect(await completed(events, 2)).toMatchObject({ finalText: 'permission: reject' });
    expect(asked).toEqual([
      { tool: 'bash', summary: 'rm -rf build', input: { command: 'rm -rf build' } },
      { tool: 'bash', summary: 'rm -rf build', input: { command: 'rm -rf build' } },
    ]);
    expect(events.some((e) => e.type === 'permission')).toBe(false);
    expect(logger.lines().some((l) => /permission opencode-\S+ denied: not today/.test(l))).toBe(true);
  });

  it('interrupt while a permission is open: the request is answered cancelled, the turn ends interrupted, a late decision is ignored', async () => {
    let decide: ((o: HostPermissionOutcome) => void) | undefined;
    const host: ProviderHost = {
      addControlRoute: () => () => undefined,
      stopDecision: () => ({ block: false }),
      requestPermission: () => new Promise((r) => (decide = r)),
    };
    const { session, events, logger } = await start({ host });
    await session.deliver({ deliveryId: 'd1', text: 'ask' });
    await waitFor(() => decide, 'the relayed request', 20_000);
    await session.interrupt();
    expect(await completed(events)).toEqual({ type: 'turn.completed', turnId: 'opencode-turn-1', interrupted: true });
    expect(logger.lines().some((l) => /permission opencode-\S+ cancelled/.test(l))).toBe(true);
    decide!({ behavior: 'allow' });
    // The session goes on.
    await session.deliver({ deliveryId: 'd2', text: 'after' });
    expect(await completed(events, 2)).toMatchObject({ finalText: 'echo: after' });
  });

  it('a request the client does not offer (a file read) is refused, with a warning, and the turn goes on', async () => {
    const { session, events } = await start();
    await session.deliver({ deliveryId: 'd1', text: 'fs' });
    expect(await completed(events)).toMatchObject({ finalText: 'fs: refused -32601' });
    expect(events.some((e) => e.type === 'warning' && /asked fs\/read_text_file, which agent-relay-runner does not offer/.test(e.message))).toBe(true);
  });

  it('resume: session/load without reporting the replayed history; a session that cannot be loaded starts a new one, loudly', async () => {
    const loaded = await start({ resume: 'ses_old' });
    expect(loaded.events[0]).toEqual({ type: 'session', sessionId: 'ses_old', source: 'resume' });
    await loaded.session.deliver({ deliveryId: 'd1', text: 'next' });
    await completed(loaded.events);
    expect(loaded.events.filter((e) => e.type === 'assistant')).toEqual([{ type: 'assistant', text: 'echo: next' }]);

    const gone = await start({ resume: 'ses_gone' });
    expect(gone.events[0]).toMatchObject({ type: 'warning', message: expect.stringMatching(/could not load session ses_gone .*Session not found.*starting a new session/) });
    expect(gone.events[1]).toEqual({ type: 'session', sessionId: 'ses_new', source: 'startup' });
  });

  it('the version range: older than the minimum is a ProviderError naming both; newer runs with a version warning first', async () => {
    const old = await start({ version: '1.2.0' }).catch((e: unknown) => e);
    expect(isRunnerError(old) && old.code).toBe('PROVIDER');
    expect(String((old as Error).message)).toMatch(/OpenCode 1\.2\.0 is too old: agent-relay-runner needs 1\.18\.0 or newer/);
    const newer = await start({ version: '9.0.0' });
    expect(newer.events[0]).toMatchObject({ type: 'warning', topic: 'version', message: expect.stringMatching(/OpenCode 9\.0\.0 is newer than the newest version .* \(1\.18\.33\)/) });
  });

  it("the relay's profile reaches the launch config: model, rules, an instructions file of the run (0600, gone with the process), the host's dirs", async () => {
    const profile: ProviderProfile = { model: 'm2', permissionMode: 'plan', allowedTools: ['Bash(git status:*)'], extraInstructions: 'Be terse.', useHostConfig: true };
    const { session, events, spawned, logger } = await start({
      profile,
      provider: { stateDir: undefined, modelProvider: { id: 'fake', baseUrl: 'http://127.0.0.1:9/v1', models: ['m1'] } },
    });
    const launch = spawned.find((r) => r.args?.[0] === 'acp')!;
    const config = JSON.parse(launch.env!.OPENCODE_CONFIG_CONTENT!) as LaunchConfig;
    expect(config.model).toBe('fake/m2');
    expect(config.small_model).toBe('fake/m2');
    expect(Object.keys(config.provider.fake.models)).toEqual(['m1', 'm2']);
    expect(config.permission).toEqual({ bash: { '*': 'deny', 'agent-relay-runner send *': 'allow', 'git status *': 'allow' }, edit: 'deny', webfetch: 'ask' });
    const [file] = config.instructions ?? [];
    expect(file!.startsWith(launch.env!.TMPDIR!)).toBe(true);
    expect(await readFile(file!, 'utf8')).toBe('Be terse.');
    expect((await stat(file!)).mode & 0o777).toBe(0o600);
    // useHostConfig: no private XDG dirs.
    expect(launch.env!.XDG_DATA_HOME).toBeUndefined();
    expect(logger.lines().join('\n')).toContain("opencode: profile projected as model fake/m2, permission {");
    await session.deliver({ deliveryId: 'd1', text: 'hello' });
    expect(await completed(events)).toMatchObject({ finalText: 'echo: hello' });
    await session.stop();
    await waitFor(() => !existsSync(file!), 'the run TMPDIR removed');
  });

  it("host options win over the profile: the host's model, rules and stateDir stay", async () => {
    const { spawned, logger } = await start({
      profile: { model: 'm2', permissionMode: 'plan', useHostConfig: true },
      provider: { model: 'fake/m1', permission: { bash: 'allow' }, modelProvider: { id: 'fake', baseUrl: 'http://127.0.0.1:9/v1', models: ['m1'] } },
    });
    const launch = spawned.find((r) => r.args?.[0] === 'acp')!;
    const config = JSON.parse(launch.env!.OPENCODE_CONFIG_CONTENT!) as LaunchConfig;
    expect(config.model).toBe('fake/m1');
    expect(Object.keys(config.provider.fake.models)).toEqual(['m1']);
    expect(config.permission).toEqual({ bash: 'allow' });
    expect(config.instructions).toBeUndefined();
    expect(launch.env!.XDG_DATA_HOME).toBeDefined();
    expect(logger.lines().join('\n')).toContain("opencode: profile projected as nothing; host options kept over the profile's model, permissionMode, useHostConfig");
  });
});
