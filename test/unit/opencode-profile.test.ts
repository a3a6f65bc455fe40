import { describe, expect, it } from 'vitest';
import { OPENCODE_DEFAULT_PERMISSION, openCodeConfig } from '../../src/providers/opencode/config.js';
import { OPENCODE_PROFILE_FIELDS, logOpenCodeProfile, openCodeProfileSettings, openCodeToolRule } from '../../src/providers/opencode/profile.js';
import { createOpenCodeProvider } from '../../src/providers/opencode/provider.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';

const SEND = 'agent-relay-runner send *';

describe('OpenCode: the agent profile projected into the launch', () => {
  it('the adapter declares every profile field', () => {
    expect(createOpenCodeProvider().profileFields).toEqual(OPENCODE_PROFILE_FIELDS);
    expect([...OPENCODE_PROFILE_FIELDS].sort()).toEqual(['allowedTools', 'disallowedTools', 'extraInstructions', 'model', 'permissionMode', 'useHostConfig']);
  });

  it('nothing without a profile', () => {
    expect(openCodeProfileSettings(undefined, {})).toEqual({ overridden: [], unusable: [] });
  });

  it('model: <provider>/<model> as given; a bare name goes to the model provider, and is not projected without one', () => {
    expect(openCodeProfileSettings({ model: 'anthropic/claude-x' }, { modelProviderId: 'fake' })).toMatchObject({ model: 'anthropic/claude-x' });
    expect(openCodeProfileSettings({ model: 'anthropic/claude-x' }, { modelProviderId: 'fake' }).providerModel).toBeUndefined();
    expect(openCodeProfileSettings({ model: 'm2' }, { modelProviderId: 'fake' })).toMatchObject({ model: 'fake/m2', providerModel: 'm2' });
    const none = openCodeProfileSettings({ model: 'm2' }, {});
    expect(none.model).toBeUndefined();
    expect(none.unusable).toEqual(['model m2 (no provider: OpenCode models are <provider>/<model>)']);
  });

  it("model: the host's `model` option or `config.model` wins", () => {
    for (const host of [{ model: 'fake/host' }, { config: { model: 'fake/host' } }]) {
      const out = openCodeProfileSettings({ model: 'm2' }, { ...host, modelProviderId: 'fake' });
      expect(out.model).toBeUndefined();
      expect(out.overridden).toEqual(['model']);
    }
  });

  it('permission modes map to OpenCode rules; `send` stays allowed where shell commands are asked or denied', () => {
    const rules = (mode: string) => openCodeProfileSettings({ permissionMode: mode }, {}).permission;
    expect(rules('default')).toEqual(OPENCODE_DEFAULT_PERMISSION);
    expect(rules('untrusted')).toEqual(OPENCODE_DEFAULT_PERMISSION);
    expect(rules('acceptEdits')).toEqual({ bash: { '*': 'ask', [SEND]: 'allow' }, edit: 'allow', webfetch: 'ask' });
    expect(rules('workspace-write')).toEqual(rules('acceptEdits'));
    expect(rules('plan')).toEqual({ bash: { '*': 'deny', [SEND]: 'allow' }, edit: 'deny', webfetch: 'ask' });
    expect(rules('read-only')).toEqual(rules('plan'));
    expect(rules('dontAsk')).toEqual({ bash: { '*': 'deny', [SEND]: 'allow' }, edit: 'deny', webfetch: 'deny' });
    for (const mode of ['bypassPermissions', 'never', 'danger-full-access']) expect(rules(mode)).toEqual({ bash: 'allow', edit: 'allow', webfetch: 'allow' });
    const unknown = openCodeProfileSettings({ permissionMode: 'yolo' }, {});
    expect(unknown.permission).toBeUndefined();
    expect(unknown.unusable[0]).toMatch(/^permissionMode yolo \(not one of default, /);
    // Not a mode: a name on Object.prototype.
    expect(openCodeProfileSettings({ permissionMode: 'toString' }, {}).unusable).toHaveLength(1);
  });

  it("permission mode: the host's `permission` option or `config.permission` wins", () => {
    const own = { bash: 'allow' } as const;
    expect(openCodeProfileSettings({ permissionMode: 'plan' }, { permission: own })).toEqual({ overridden: ['permissionMode'], unusable: [] });
    expect(openCodeProfileSettings({ permissionMode: 'plan' }, { config: { permission: own } })).toEqual({ overridden: ['permissionMode'], unusable: [] });
  });

  it('tool names: Claude names map to OpenCode keys, `Name(pattern)` to a pattern, `:*` to a wildcard', () => {
    expect(openCodeToolRule('Bash')).toEqual({ tool: 'bash' });
    expect(openCodeToolRule('Write')).toEqual({ tool: 'edit' });
    expect(openCodeToolRule('WebFetch')).toEqual({ tool: 'webfetch' });
    expect(openCodeToolRule('relay_reply')).toEqual({ tool: 'relay_reply' });
    expect(openCodeToolRule('Bash(git status:*)')).toEqual({ tool: 'bash', pattern: 'git status *' });
    expect(openCodeToolRule('bash(npm test)')).toEqual({ tool: 'bash', pattern: 'npm test' });
    expect(openCodeToolRule('Bash(*)')).toEqual({ tool: 'bash' });
  });

  it("tool lists add to the rules in force (the mode's, else the host's, else the defaults); disallowed wins", () => {
    const base = openCodeProfileSettings({ allowedTools: ['Edit', 'Bash(git status:*)'], disallowedTools: ['WebFetch', 'edit'] }, {});
    expect(base.permission).toEqual({ bash: { '*': 'ask', [SEND]: 'allow', 'git status *': 'allow' }, edit: 'deny', webfetch: 'deny' });
    const onHost = openCodeProfileSettings({ disallowedTools: ['bash'] }, { permission: { read: 'ask', bash: 'allow' } });
    expect(onHost.permission).toEqual({ read: 'ask', bash: 'deny' });
    const onMode = openCodeProfileSettings({ permissionMode: 'bypassPermissions', disallowedTools: ['Bash'] }, {});
    expect(onMode.permission).toEqual({ bash: 'deny', edit: 'allow', webfetch: 'allow' });
    // An allowed pattern does not reopen a tool denied as a whole.
    const denied = openCodeProfileSettings({ permissionMode: 'bypassPermissions', disallowedTools: ['Bash'], allowedTools: ['Bash(ls)'] }, {});
    expect(denied.permission?.bash).toBe('deny');
    // The defaults are not modified in place.
    expect(OPENCODE_DEFAULT_PERMISSION.bash).toEqual({ '*': 'ask', [SEND]: 'allow' });
    // The host's `config.permission` replaces the whole key: the lists cannot apply.
    expect(openCodeProfileSettings({ allowedTools: ['read'], disallowedTools: ['bash'] }, { config: { permission: {} } })).toEqual({
      overridden: ['allowedTools', 'disallowedTools'],
      unusable: [],
    });
  });

  it('extra instructions become an instructions file, after the host config’s own', () => {
    expect(openCodeProfileSettings({ extraInstructions: 'Be terse.' }, { config: { instructions: ['a.md'] } }).instructions).toBe('Be terse.');
    const config = openCodeConfig({ permission: {}, mcp: {}, config: { instructions: ['a.md'] }, instructions: ['/run/p.md'] });
    expect(config.instructions).toEqual(['a.md', '/run/p.md']);
    expect(openCodeConfig({ permission: {}, mcp: {}, instructions: ['/run/p.md'] }).instructions).toEqual(['/run/p.md']);
    expect(openCodeConfig({ permission: {}, mcp: {} }).instructions).toBeUndefined();
  });

  it("useHostConfig: the host's own XDG dirs unless the host named a stateDir", () => {
    expect(openCodeProfileSettings({ useHostConfig: true }, {}).hostDirs).toBe(true);
    expect(openCodeProfileSettings({ useHostConfig: true }, { stateDir: true })).toEqual({ overridden: ['useHostConfig'], unusable: [] });
    expect(openCodeProfileSettings({ useHostConfig: false }, {}).hostDirs).toBeUndefined();
  });

  it('logs what it took, free text only by length', () => {
    const logger = createMemoryLogger({ level: 'debug' });
    const profile = { model: 'm2', disallowedTools: ['bash'], extraInstructions: 'secret-ish text', permissionMode: 'nope' };
    logOpenCodeProfile(logger, profile, openCodeProfileSettings(profile, { modelProviderId: 'fake', model: undefined }));
    const line = logger.lines().join('\n');
    expect(line).toContain('opencode: profile projected as model fake/m2, permission {');
    expect(line).toContain('"bash":"deny"');
    expect(line).toContain('instructions (15 chars)');
    expect(line).toContain('not projected: permissionMode nope');
    expect(line).not.toContain('secret-ish');
  });
});
