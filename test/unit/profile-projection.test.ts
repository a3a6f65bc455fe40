import { describe, expect, it } from 'vitest';
import { profileReport, providerProfile } from '../../src/core/profile.js';
import { ProviderSupervisor } from '../../src/core/supervisor.js';
import { StatusTracker } from '../../src/core/status.js';
import { claudeProfileArgs, CLAUDE_PROFILE_FIELDS, withClaudeProfile } from '../../src/providers/claude/profile.js';
import { claudeLaunchArgs } from '../../src/providers/claude/common.js';
import { codexProfileSettings, CODEX_PROFILE_FIELDS, threadSettings } from '../../src/providers/codex/profile.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import type { AgentProfile } from '../../src/ports/relay-http.js';
import type { ProcessSpawner } from '../../src/ports/process-spawner.js';
import type { ProviderAdapter, ProviderLaunch, ProviderSession } from '../../src/ports/provider.js';

const FEATURES = { relayContext: true, insights: true, sessionMirror: true };
const full: AgentProfile = {
  model: 'opus-x',
  permissionMode: 'plan',
  allowedTools: ['Read'],
  disallowedTools: ['Bash', 'WebFetch'],
  extraInstructions: 'Be terse.',
  useHostConfig: true,
  features: { ...FEATURES, insights: false },
};

describe('the provider part of the agent profile', () => {
  it('keeps only what the relay set, without the feature switches', () => {
    expect(providerProfile(undefined)).toBeUndefined();
    expect(providerProfile({ features: FEATURES })).toBeUndefined();
    expect(providerProfile({ allowedTools: [], features: FEATURES })).toBeUndefined();
    expect(providerProfile(full)).toEqual({
      model: 'opus-x', permissionMode: 'plan', allowedTools: ['Read'], disallowedTools: ['Bash', 'WebFetch'], extraInstructions: 'Be terse.', useHostConfig: true,
    });
  });

  it('reports per provider what is projected and what is not (free text by length only)', () => {
    expect(profileReport(full, 'claude', CLAUDE_PROFILE_FIELDS)).toBe(
      'projected: model opus-x, permissionMode plan, allowedTools Read, disallowedTools Bash,WebFetch, extraInstructions (9 chars), relayContext, sessionMirror; ' +
        'not projected: useHostConfig true (the claude provider does not take it), insights (off)',
    );
    const codex = profileReport(full, 'codex', CODEX_PROFILE_FIELDS);
    expect(codex).toContain('not projected: allowedTools Read (the codex provider does not take it), disallowedTools Bash,WebFetch (the codex provider does not take it)');
    expect(profileReport(full, 'demo', undefined)).toMatch(/^projected: relayContext, sessionMirror; not projected: model opus-x \(the demo provider does not take it\)/);
  });
});

describe('Claude profile projection', () => {
  it('maps every field to its flag, tools added to the adapter list', () => {
    const p = claudeProfileArgs(providerProfile(full), []);
    expect(p).toEqual({
      args: ['--model', 'opus-x', '--permission-mode', 'plan', '--disallowedTools', 'Bash,WebFetch', '--append-system-prompt', 'Be terse.'],
      allowedTools: ['Read'],
      overridden: [],
    });
    // On a launch: after the host's own extra args; the profile's allowed tools as a second
    // --allowedTools flag (Claude Code adds repeated flags up).
    const logger = createMemoryLogger();
    const launch = withClaudeProfile({ cwd: '/w', env: {}, extraArgs: ['--verbose'], profile: providerProfile(full)! }, ['--effort', 'low'], logger, 'claude');
    const argv = claudeLaunchArgs('/plugin', ['Bash(agent-relay-runner send:*)'], ['--effort', 'low', ...(launch.extraArgs ?? [])], 'sess-1');
    expect(argv).toEqual([
      '--plugin-dir', '/plugin', '--allowedTools', 'Bash(agent-relay-runner send:*)', '--effort', 'low', '--verbose',
      '--model', 'opus-x', '--permission-mode', 'plan', '--disallowedTools', 'Bash,WebFetch', '--append-system-prompt', 'Be terse.', '--allowedTools', 'Read',
      '--resume', 'sess-1',
    ]);
    expect(logger.lines().join('\n')).toContain('claude: profile projected as --model --permission-mode --disallowedTools --append-system-prompt --allowedTools (+profile)');
  });

  it('keeps a flag the host already passes (either spelling) over the profile', () => {
    const p = claudeProfileArgs(providerProfile(full), ['--model=sonnet', '--permission-mode', 'default', '--disallowed-tools', 'Edit', '--append-system-prompt-file', '/x']);
    expect(p.args).toEqual([]);
    expect(p.overridden).toEqual(['model', 'permissionMode', 'disallowedTools', 'extraInstructions']);
    expect(p.allowedTools).toEqual(['Read']);
    // The adapter's own extra args count as the host's too.
    const launch = withClaudeProfile({ cwd: '/w', env: {}, profile: { model: 'opus-x' } }, ['--model', 'sonnet'], createMemoryLogger(), 'claude');
    expect(launch.extraArgs).toBeUndefined();
  });

  it('adds nothing without a profile', () => {
    expect(claudeProfileArgs(undefined, [])).toEqual({ args: [], allowedTools: [], overridden: [] });
    const launch = { cwd: '/w', env: {} };
    expect(withClaudeProfile(launch, [], createMemoryLogger(), 'claude')).toBe(launch);
  });
});

describe('Codex profile projection', () => {
  const env = { HOME: '/home/u' };
  it('maps model, approval policy or sandbox, instructions and the host config home', () => {
    const p = codexProfileSettings({ model: 'gpt-x', permissionMode: 'never', extraInstructions: 'Be terse.', useHostConfig: true }, {}, env);
    expect(threadSettings(p)).toEqual({ model: 'gpt-x', approvalPolicy: 'never', developerInstructions: 'Be terse.' });
    expect(p.codexHome).toBe('/home/u/.codex');
    expect(codexProfileSettings({ useHostConfig: true }, {}, { ...env, CODEX_HOME: '/ch' }).codexHome).toBe('/ch');
    expect(threadSettings(codexProfileSettings({ permissionMode: 'read-only' }, {}, env))).toEqual({ sandbox: 'read-only' });
  });

  it('keeps explicit host options over the profile and names what Codex cannot take', () => {
    const p = codexProfileSettings(
      { model: 'gpt-x', permissionMode: 'never', extraInstructions: 'x', useHostConfig: true, allowedTools: ['shell'] },
      { model: 'gpt-host', approvalPolicy: 'untrusted', codexHome: '/mine', configInstructions: true },
      env,
    );
    expect(threadSettings(p)).toEqual({});
    expect(p.codexHome).toBeUndefined();
    expect(p.overridden).toEqual(['model', 'permissionMode', 'extraInstructions', 'useHostConfig']);
    expect(p.unusable).toEqual(['allowedTools (Codex has no per-tool list)']);
    expect(codexProfileSettings({ model: 'm' }, { configModel: true }, env).overridden).toEqual(['model']);
    expect(codexProfileSettings({ permissionMode: 'read-only' }, { sandbox: 'workspace-write' }, env).overridden).toEqual(['permissionMode']);
    expect(codexProfileSettings({ permissionMode: 'acceptEdits' }, {}, env).unusable).toEqual(['permissionMode acceptEdits (neither a Codex approval policy nor a sandbox mode)']);
  });
});

describe('the supervisor hands the profile to each launch', () => {
  it('reads the profile at every start (a re-registration may change it)', async () => {
    const clock = createFakeClock();
    const logger = createMemoryLogger();
    const launches: ProviderLaunch[] = [];
    const session: ProviderSession = {
      pid: 1, exited: new Promise(() => {}), deliver: async () => {}, interrupt: async () => {}, decidePermission: () => {},
      onEvent: () => () => {}, attachSpec: () => ({ kind: 'none' }), stop: async () => ({ code: 0, signal: null }),
    };
    const provider: ProviderAdapter = {
      name: 'fake',
      capabilities: { structuredInput: true, resume: true, interactive: false, hookDriven: false, midTurnMessages: 'queue' },
      checkVersion: async () => '1.0.0',
      start: async (launch) => (launches.push(launch), session),
    };
    let profile: AgentProfile | undefined = { model: 'm1', features: FEATURES };
    const supervisor = new ProviderSupervisor({
      provider, providerDeps: { spawner: {} as ProcessSpawner, logger, clock }, clock, logger, status: new StatusTracker(clock, 60_000, () => {}),
      cwd: '/w', env: () => ({}), profile: () => profile,
      timeline: () => {}, onEvent: () => {}, onUp: () => {}, onDown: () => {}, onGaveUp: () => {}, onError: () => {},
    });
    await supervisor.start(undefined);
    profile = { features: FEATURES };
    await supervisor.start(undefined);
    expect(launches.map((l) => l.profile)).toEqual([{ model: 'm1' }, undefined]);
    expect(launches[1]).not.toHaveProperty('profile');
  });
});
