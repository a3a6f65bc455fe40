import { fileURLToPath } from 'node:url';
import { VersionCheck } from '../kit/version.js';

/**
 * Root of this package, which is also its Claude Code plugin (`.claude-plugin/plugin.json`,
 * `hooks/hooks.json`); passed to Claude Code as `--plugin-dir`.
 * @remarks Resolved relative to this module, three levels below the package root both as
 * `src/providers/claude/common.ts` and as `dist/providers/claude/common.js`.
 * @public
 */
export const CLAUDE_PLUGIN_DIR: string = fileURLToPath(new URL('../../../', import.meta.url)).replace(/[\\/]$/, '');

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
