/**
 * `run --provider opencode`: its flags reach what the OpenCode provider would spawn (a spawner that
 * records the request and refuses), bad values are usage errors, and foreign flags are refused.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkProviderFlags, providerFor } from '../../src/cli/run-providers.js';
import type { ProviderDeps } from '../../src/ports/provider.js';
import type { SpawnRequest } from '../../src/ports/process-spawner.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';

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

const fromCli = (keys: string[]) => (key: string) => (keys.includes(key) ? 'cli' : undefined);

describe('run --provider opencode', () => {
  it('path, model, permission rules, config and extra args reach `opencode acp`; the host’s own XDG dirs by default; --resume loads on the first start', async () => {
    const provider = await providerFor({
      provider: 'opencode',
      opencodePath: '/opt/opencode',
      model: 'local/qwen',
      opencodePermission: ['bash=allow', 'edit=deny', 'bash=ask'],
      opencodeConfig: '{"provider":{"local":{"npm":"@ai-sdk/openai-compatible","options":{"baseURL":"http://127.0.0.1:1/v1"},"models":{"qwen":{}}}}}',
      cliArg: ['--log-level', 'WARN'],
      resume: 'ses_1',
    });
    expect(provider.name).toBe('opencode');
    const { deps, spawned } = recordingDeps();
    await expect(provider.start({ cwd: '/work', env: { PATH: '/bin', XDG_DATA_HOME: '/home/me/.local/share' } }, deps)).rejects.toThrow(/cannot start opencode acp/);
    const request = spawned[0]!;
    expect(request.command).toBe('/opt/opencode');
    expect(request.args).toEqual(['acp', '--log-level', 'WARN']);
    expect(request.cwd).toBe('/work');
    const env = request.env ?? {};
    // The user's own data dir (login, sessions): not replaced.
    expect(env['XDG_DATA_HOME']).toBe('/home/me/.local/share');
    expect(env['TMPDIR']).toMatch(/agent-relay-opencode-tmp-/);
    const config = JSON.parse(env['OPENCODE_CONFIG_CONTENT'] ?? '{}') as Record<string, unknown>;
    expect(config).toMatchObject({ model: 'local/qwen', small_model: 'local/qwen', permission: { bash: 'ask', edit: 'deny' }, autoupdate: false });
    expect(config.provider).toMatchObject({ local: { npm: '@ai-sdk/openai-compatible' } });
    // The run's TMPDIR is removed when the process could not start.
    expect((await readdir(tmpdir())).includes(env['TMPDIR']!.split('/').at(-1)!)).toBe(false);
  });

  it('--opencode-state-dir gives OpenCode its own XDG dirs there', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arr-oc-cli-'));
    try {
      const provider = await providerFor({ provider: 'opencode', opencodeStateDir: dir });
      const { deps, spawned } = recordingDeps();
      await expect(provider.start({ cwd: '/work', env: {} }, deps)).rejects.toThrow();
      const env = spawned[0]?.env ?? {};
      expect(env['XDG_DATA_HOME']).toBe(join(dir, 'data'));
      expect(env['XDG_CONFIG_HOME']).toBe(join(dir, 'config'));
      expect(env['TMPDIR']?.startsWith(join(dir, 'tmp-'))).toBe(true);
      // The default rules: shell (but the relay's send), edits and web fetches asked for (relayed).
      expect(JSON.parse(env['OPENCODE_CONFIG_CONTENT'] ?? '{}')).toMatchObject({ permission: { bash: { '*': 'ask', 'agent-relay-runner send *': 'allow' }, edit: 'ask', webfetch: 'ask' } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('bad rule or config values are usage errors; foreign flags are refused either way', async () => {
    await expect(providerFor({ provider: 'opencode', opencodePermission: ['bash=maybe'] })).rejects.toThrow(/--opencode-permission wants tool=ask\|allow\|deny, got "bash=maybe"/);
    await expect(providerFor({ provider: 'opencode', opencodePermission: ['=allow'] })).rejects.toThrow(/--opencode-permission wants/);
    await expect(providerFor({ provider: 'opencode', opencodeConfig: '{nope' })).rejects.toThrow(/--opencode-config wants a JSON object, got "\{nope" \(not JSON\)/);
    await expect(providerFor({ provider: 'opencode', opencodeConfig: '[1]' })).rejects.toThrow(/--opencode-config wants a JSON object/);
    expect(() => checkProviderFlags({ provider: 'opencode', sandbox: 'read-only' }, fromCli(['sandbox']))).toThrow(/--sandbox does not apply to --provider opencode \(only codex\)/);
    expect(() => checkProviderFlags({ provider: 'codex', opencodePermission: ['bash=allow'] }, fromCli(['opencodePermission']))).toThrow(
      /--opencode-permission does not apply to --provider codex \(only opencode\)/,
    );
    expect(() => checkProviderFlags({ provider: 'opencode', model: 'a/b', cliArg: ['x'], resume: 's' }, fromCli(['model', 'cliArg', 'resume']))).not.toThrow();
  });
});
