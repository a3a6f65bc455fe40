import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProviderError } from '../../errors/index.js';
import { VersionCheck } from '../kit/version.js';

/**
 * Root of this package, which is also its Claude Code plugin (`.claude-plugin/plugin.json`,
 * `hooks/hooks.json`); passed to Claude Code as `--plugin-dir`.
 * @remarks Resolved relative to this module, three levels below the package root both as
 * `src/providers/claude/common.ts` and as `dist/providers/claude/common.js`. Inside a bundle this
 * module's URL is the bundle's, so the default points at the wrong place (or is `''` when the bundle
 * has no `import.meta.url`): a bundled host passes `pluginDir` (see docs/embedding.md), and a plugin
 * dir without the plugin is a `ProviderError` at start naming the path and the option.
 * @public
 */
export const CLAUDE_PLUGIN_DIR: string = resolvePackageRoot();

/** The package root from this module's URL; `''` when there is no usable URL (a CommonJS bundle). */
function resolvePackageRoot(): string {
  try {
    return fileURLToPath(new URL('../../../', import.meta.url)).replace(/[\\/]$/, '');
  } catch {
    return '';
  }
}

/**
 * Check that `pluginDir` holds the hooks plugin (`.claude-plugin/plugin.json` and `hooks/hooks.json`)
 * before Claude Code is launched with it: without this, a wrong directory (a bundled host that did
 * not pass `pluginDir`) starts an agent whose hooks silently never fire.
 */
export async function requirePluginDir(pluginDir: string | false, factory: string): Promise<void> {
  if (pluginDir === false) return;
  const hint = `pass the directory holding .claude-plugin/ and hooks/ (this package's root, unpacked from any archive) as the pluginDir option of ${factory}, or false to run without the hooks`;
  if (pluginDir === '') {
    throw new ProviderError(`Claude Code plugin directory unknown (this module has no file URL, e.g. inside a bundle); ${hint}`, {
      data: { pluginDir, option: 'pluginDir' },
    });
  }
  for (const file of [join(pluginDir, '.claude-plugin', 'plugin.json'), join(pluginDir, 'hooks', 'hooks.json')]) {
    try {
      await access(file);
    } catch (error) {
      throw new ProviderError(`Claude Code plugin not found at ${pluginDir} (missing ${file}); ${hint}`, {
        data: { pluginDir, option: 'pluginDir', missing: file },
        cause: error,
      });
    }
  }
}

/**
 * Oldest Claude Code version the adapters are tested with (stream-json input and output,
 * `--plugin-dir`, hook lifecycle lines on stdout).
 * @public
 */
export const CLAUDE_CODE_MIN_VERSION = '2.1.0';

/**
 * Newest Claude Code version the adapters were tested with (the CLI pinned for the end-to-end
 * tests in `e2e/package.json`); a newer one runs, with a warning.
 * @public
 */
export const CLAUDE_CODE_TESTED_VERSION = '2.1.330';

/** What `--allowedTools` gets by default: the agent may answer relay messages without asking. */
export const DEFAULT_ALLOWED_TOOLS: readonly string[] = ['Bash(agent-relay-runner send:*)'];

/** The launch flags both Claude adapters share: the hooks plugin, allowed tools, extra args, resume. */
export function claudeLaunchArgs(
  pluginDir: string | false,
  allowedTools: readonly string[],
  extraArgs: readonly string[],
  resumeSessionId: string | undefined,
): string[] {
  const args: string[] = [];
  if (pluginDir !== false) args.push('--plugin-dir', pluginDir);
  if (allowedTools.length > 0) args.push('--allowedTools', allowedTools.join(','));
  args.push(...extraArgs);
  if (resumeSessionId !== undefined) args.push('--resume', resumeSessionId);
  return args;
}

/** The `claude --version` check both adapters run (same binary, same rule). */
export function claudeVersionCheck(command: string, minVersion: string | undefined, testedVersion: string | undefined, timeoutMs: number): VersionCheck {
  return new VersionCheck({
    displayName: 'Claude Code',
    command,
    minVersion: minVersion ?? CLAUDE_CODE_MIN_VERSION,
    testedVersion: testedVersion ?? CLAUDE_CODE_TESTED_VERSION,
    timeoutMs,
  });
}
