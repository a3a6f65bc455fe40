/**
 * `run`'s provider flags reach the provider: what each provider would spawn (a spawner that records
 * the request and refuses), the first-start resume, and flags refused where they don't apply.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createReporter } from '../../src/cli/reporter.js';
import type { Runner } from '../../src/create-runner.js';
import type { AgentStatus } from '../../src/core/status.js';
import { checkProviderFlags, providerFor, type ProviderFlags } from '../../src/cli/run-providers.js';
import type { ProviderDeps } from '../../src/ports/provider.js';
import type { SpawnRequest } from '../../src/ports/process-spawner.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';

/** Deps whose spawner records each request and fails it (nothing really starts). */
function recordingDeps(): { deps: ProviderDeps; spawned: SpawnRequest[] } {
  const spawned: SpawnRequest[] = [];
  const deps: ProviderDeps = {
    spawner: {
      spawn: async (request: SpawnRequest) => {
        spawned.push(request);
        throw new Error('not spawning in a unit test');
      },
    },
    logger: createMemoryLogger({ level: 'debug' }),
    clock: createFakeClock(),
  };
  return { deps, spawned };
}

const launch = { cwd: '/work', env: { PATH: '/bin' } };

describe('run --provider: flags to provider options', () => {
  it('claude: path, model, permission mode, allowed tools and extra args on the command line; --resume on the first start only', async () => {
    const flags: ProviderFlags = {
      provider: 'claude',
      claudePath: '/opt/claude/bin/claude',
      model: 'opus',
      permissionMode: 'plan',
      allowedTools: 'Read, Bash(git status:*)',
      cliArg: ['--verbose-extra'],
      resume: 'sess-1',
    };
    const provider = await providerFor(flags);
    expect(provider.name).toBe('claude');
    const { deps, spawned } = recordingDeps();
    await expect(provider.start(launch, deps)).rejects.toThrow();
    await expect(provider.start(launch, deps)).rejects.toThrow();
    await expect(provider.start({ ...launch, resumeSessionId: 'sess-2' }, deps)).rejects.toThrow();
    expect(spawned[0]?.command).toBe('/opt/claude/bin/claude');
    const args = spawned[0]?.args ?? [];
    const after = (flag: string) => args[args.indexOf(flag) + 1];
    expect(after('--model')).toBe('opus');
    expect(after('--permission-mode')).toBe('plan');
    expect(after('--allowedTools')).toBe('Read,Bash(git status:*)');
    expect(args).toContain('--verbose-extra');
    expect(after('--resume')).toBe('sess-1');
    // A restart without a session of the runner's own does not resume the flag's session again…
    expect(spawned[1]?.args).not.toContain('--resume');
    // …and the runner's own session wins when it has one.
    expect(spawned[2]?.args?.[(spawned[2]?.args ?? []).indexOf('--resume') + 1]).toBe('sess-2');
  });

  it("claude-interactive is the tmux adapter; codex uses the host's CODEX_HOME by default, the model and -c overrides", async () => {
    expect((await providerFor({ provider: 'claude-interactive' })).name).toBe('claude-interactive');
    const codex = await providerFor(
      { provider: 'codex', codexPath: '/opt/codex', model: 'gpt-x', codexConfig: ['model_provider="fake"'], cliArg: ['--extra'] },
      { CODEX_HOME: '/home/me/.codex-alt' },
    );
    const { deps, spawned } = recordingDeps();
    await expect(codex.start(launch, deps)).rejects.toThrow();
    expect(spawned[0]?.command).toBe('/opt/codex');
    expect(spawned[0]?.env?.['CODEX_HOME']).toBe('/home/me/.codex-alt');
    expect(spawned[0]?.args).toEqual(expect.arrayContaining(['app-server', 'model="gpt-x"', 'model_provider="fake"', '--extra']));
    await expect(providerFor({ provider: 'codex', codexConfig: ['no-equals-sign'] })).rejects.toThrow(/--codex-config wants key=value/);
  });

  it('refuses a flag set on the command line for a provider that does not take it, not defaults or env values', () => {
    const fromCli = (keys: string[]) => (key: string) => (keys.includes(key) ? 'cli' : 'default');
    expect(() => checkProviderFlags({ provider: 'claude', sandbox: 'read-only' }, fromCli(['sandbox']))).toThrow(/--sandbox does not apply to --provider claude \(only codex\)/);
    expect(() => checkProviderFlags({ provider: 'codex', permissionMode: 'plan' }, fromCli(['permissionMode']))).toThrow(/--permission-mode does not apply/);
    expect(() => checkProviderFlags({ provider: 'demo', model: 'x' }, fromCli(['model']))).toThrow(/--model does not apply to --provider demo/);
    expect(() => checkProviderFlags({ provider: 'claude', sandbox: 'workspace-write', approvalPolicy: 'on-request' }, fromCli([]))).not.toThrow();
    expect(() => checkProviderFlags({ provider: 'codex', sandbox: 'read-only', model: 'x' }, fromCli(['sandbox', 'model']))).not.toThrow();
  });
});

describe('run output: an untested CLI version', () => {
  it('prints the provider warning once on the terminal, again only when it changes', () => {
    const lines: string[] = [];
    const reporter = createReporter({ line: (t) => lines.push(t), json: () => {}, error: () => {} }, false);
    const runner = new EventEmitter();
    reporter.attach(runner as unknown as Runner);
    const status = (extra: Partial<AgentStatus>): AgentStatus => ({ state: 'idle', lastActivityAt: 0, openSubagents: 0, ...extra });
    runner.emit('status', status({ state: 'starting' }));
    runner.emit('status', status({ providerWarning: 'Claude Code 9.9.9 is newer than the newest version agent-relay-runner was tested with (2.1.330)' }));
    runner.emit('status', status({ state: 'busy', providerWarning: 'Claude Code 9.9.9 is newer than the newest version agent-relay-runner was tested with (2.1.330)' }));
    const warnings = lines.filter((l) => /warning\s+Claude Code 9\.9\.9 is newer/.test(l));
    expect(warnings).toHaveLength(1);
  });
});
