import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProviderError } from '../../errors/index.js';
import { VersionCheck } from '../kit/version.js';
import { RELAY_TOOLS_ENV_NAMES, RELAY_TOOLS_SERVER, relayToolsServer, sendScriptCommand } from '../kit/relay-tools.js';

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

/** The `--allowedTools` rule for the `send` fallback found on PATH; it also allows the PATH-free script. */
const SEND_RULE = 'Bash(agent-relay-runner send:*)';

/**
 * What `--allowedTools` gets by default: the agent may answer relay messages without asking —
 * every relay tool (`mcp__relay`: all tools of the `relay` MCP server) and the `send` fallback.
 */
export const DEFAULT_ALLOWED_TOOLS: readonly string[] = [`mcp__${RELAY_TOOLS_SERVER}`, SEND_RULE];

/**
 * How the Claude adapters give the agent its relay tools (docs/providers.md, "Relay tools").
 * @public
 */
export interface ClaudeRelayToolsOptions {
  /**
   * Register the relay tools' MCP server with Claude Code (`--mcp-config`); `false` leaves the
   * agent only the `send` fallback.
   * @defaultValue `true`
   */
  relayTools?: boolean;
  /**
   * Add `--strict-mcp-config`: Claude Code then loads no MCP server but the relay tools (none of the
   * user's or the project's own). Off by default: the agent is the user's Claude Code working on
   * the user's project, whose MCP servers it may need; turn it on for a reproducible, isolated agent.
   * @defaultValue `false`
   */
  strictMcpConfig?: boolean;
}

/** The launch flags both Claude adapters share: the hooks plugin, relay tools, allowed tools, extra args, resume. */
export function claudeLaunchArgs(
  pluginDir: string | false,
  allowedTools: readonly string[],
  extraArgs: readonly string[],
  resumeSessionId: string | undefined,
  relay: ClaudeRelayToolsOptions & { env: Readonly<Record<string, string>> } = { relayTools: false, env: {} },
): string[] {
  const args: string[] = [];
  if (pluginDir !== false) args.push('--plugin-dir', pluginDir);
  if (relay.relayTools !== false) {
    args.push('--mcp-config', claudeMcpConfig());
    if (relay.strictMcpConfig) args.push('--strict-mcp-config');
  }
  const allowed = [...allowedTools];
  // Allowing `send` allows it by whichever path: the PATH-free script the turn text names, too.
  const scratch = relay.env.AGENT_RELAY_SCRATCH_DIR;
  if (allowed.includes(SEND_RULE) && scratch) allowed.push(`Bash(${sendScriptCommand(scratch)}:*)`);
  if (allowed.length > 0) args.push('--allowedTools', allowed.join(','));
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

/**
 * The `--mcp-config` value registering the relay tools. It holds no secret, so it can go on the
 * command line: the control port and token are left out and reach the server from Claude Code's
 * own environment, which its stdio MCP servers inherit.
 */
export function claudeMcpConfig(): string {
  const spec = relayToolsServer({});
  const env = Object.fromEntries(Object.entries(spec.env).filter(([name]) => !RELAY_TOOLS_ENV_NAMES.includes(name)));
  // alwaysLoad: the tools are in the prompt from the first turn (Claude Code waits for the server, at
  // most 5 s, instead of starting the turn without them).
  return JSON.stringify({ mcpServers: { [RELAY_TOOLS_SERVER]: { type: 'stdio', command: spec.command, args: spec.args, env, alwaysLoad: true } } });
}
