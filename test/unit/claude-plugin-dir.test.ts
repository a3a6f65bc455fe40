import { describe, expect, it } from 'vitest';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { ProviderError } from '../../src/errors/index.js';
import type { ProviderDeps } from '../../src/ports/provider.js';
import { CLAUDE_PLUGIN_DIR, requirePluginDir } from '../../src/providers/claude/common.js';
import { createClaudeCodeProvider } from '../../src/providers/claude/headless.js';
import { createClaudeInteractiveProvider } from '../../src/providers/claude/interactive.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';

/** Deps whose spawner fails the test if anything is launched: the check must come first. */
const deps = (): ProviderDeps => ({
  logger: createMemoryLogger(),
  clock: createSystemClock(),
  spawner: {
    spawn: () => {
      throw new Error('spawned although the plugin dir is missing');
    },
  },
});

describe('Claude plugin dir', () => {
  it('the default is this package root, which holds the plugin', async () => {
    await expect(requirePluginDir(CLAUDE_PLUGIN_DIR, 'createClaudeCodeProvider')).resolves.toBeUndefined();
    await expect(requirePluginDir(false, 'createClaudeCodeProvider')).resolves.toBeUndefined();
  });

  it('a directory without the plugin is a ProviderError naming the path and the pluginDir option, before anything is spawned', async () => {
    for (const adapter of [
      createClaudeCodeProvider({ pluginDir: '/nonexistent/plugin' }),
      createClaudeInteractiveProvider({ pluginDir: '/nonexistent/plugin' }),
    ]) {
      const error = await adapter.start({ cwd: process.cwd(), env: {} }, deps()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderError);
      expect((error as Error).message).toMatch(/plugin not found at \/nonexistent\/plugin .*pluginDir option of createClaude/);
      expect((error as ProviderError).data).toMatchObject({ pluginDir: '/nonexistent/plugin', option: 'pluginDir' });
    }
  });

  it('an unresolved default (a bundle without import.meta.url) is a ProviderError, not a plugin dir of ""', async () => {
    const error = await requirePluginDir('', 'createClaudeCodeProvider').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as Error).message).toMatch(/directory unknown.*pluginDir option/);
  });
});
