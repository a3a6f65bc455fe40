/**
 * The providers `agent-relay-runner run` can start, and the flags each one takes. Every flag here
 * reaches a provider option; a flag that does not apply to the chosen provider is a usage error
 * (silently ignoring `--sandbox` on Claude would leave the user believing it took effect).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Option } from 'commander';
import type { ProviderAdapter, ProviderDeps, ProviderLaunch, ProviderSession } from '../ports/provider.js';
import { usageError } from './common.js';

/** Providers the `--provider` flag knows. */
export const PROVIDER_NAMES = ['demo', 'claude', 'claude-interactive', 'codex'] as const;

/** One of {@link PROVIDER_NAMES}. */
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** Claude Code's `--permission-mode` values (as of the tested version). */
export const CLAUDE_PERMISSION_MODES = ['acceptEdits', 'auto', 'bypassPermissions', 'manual', 'dontAsk', 'plan'] as const;

/** Codex approval policies a flag can name (the granular form needs `--codex-config`). */
export const CODEX_APPROVAL_POLICIES = ['untrusted', 'on-request', 'never'] as const;

/** Codex sandbox modes. */
export const CODEX_SANDBOX_MODES = ['read-only', 'workspace-write', 'danger-full-access'] as const;

/** The provider flags of `run`, as commander parses them. */
export interface ProviderFlags {
  provider: ProviderName;
  claudePath?: string;
  codexPath?: string;
  model?: string;
  permissionMode?: (typeof CLAUDE_PERMISSION_MODES)[number];
  allowedTools?: string;
  approvalPolicy?: (typeof CODEX_APPROVAL_POLICIES)[number];
  sandbox?: (typeof CODEX_SANDBOX_MODES)[number];
  codexHome?: string;
  codexConfig?: string[];
  cliArg?: string[];
  resume?: string;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** The provider options of `run`, in the order `--help` shows them. */
export function providerOptions(): Option[] {
  return [
    new Option('--provider <provider>', 'the agent to run').choices(PROVIDER_NAMES).default('demo'),
    new Option('--claude-path <path>', 'the claude executable (claude, claude-interactive)').env('AGENT_RELAY_CLAUDE_PATH').default('claude'),
    new Option('--codex-path <path>', 'the codex executable (codex)').env('AGENT_RELAY_CODEX_PATH').default('codex'),
    new Option('--model <name>', "model name (claude, claude-interactive, codex; default: the CLI's own)"),
    new Option('--permission-mode <mode>', "Claude Code's --permission-mode (claude, claude-interactive; default: Claude's own)").choices(CLAUDE_PERMISSION_MODES),
    new Option('--allowed-tools <tools>', 'comma-separated tools allowed without asking (claude, claude-interactive; default: "mcp__relay,Bash(agent-relay-runner send:*)")'),
    new Option('--approval-policy <policy>', 'when Codex asks for approval, relayed as a permission request (codex)').choices(CODEX_APPROVAL_POLICIES).default('on-request'),
    new Option('--sandbox <mode>', "sandbox of Codex's commands (codex)").choices(CODEX_SANDBOX_MODES).default('workspace-write'),
    new Option('--codex-home <dir>', 'CODEX_HOME: login, config.toml, sessions (codex; default: $CODEX_HOME or ~/.codex, your own login)'),
    new Option('--codex-config <key=value>', 'a Codex -c override, value in TOML; repeatable (codex)').argParser(collect),
    new Option('--cli-arg <arg>', 'an extra argument for the provider CLI; repeatable, write --cli-arg=--flag (claude, claude-interactive, codex)').argParser(collect),
    new Option('--resume <session-id>', 'resume this provider session on the first start (claude, claude-interactive, codex)'),
  ];
}

/** Which providers each provider-specific flag applies to (flags absent here apply to all but demo). */
const APPLIES: Record<string, readonly ProviderName[]> = {
  claudePath: ['claude', 'claude-interactive'],
  permissionMode: ['claude', 'claude-interactive'],
  allowedTools: ['claude', 'claude-interactive'],
  codexPath: ['codex'],
  approvalPolicy: ['codex'],
  sandbox: ['codex'],
  codexHome: ['codex'],
  codexConfig: ['codex'],
  model: ['claude', 'claude-interactive', 'codex'],
  cliArg: ['claude', 'claude-interactive', 'codex'],
  resume: ['claude', 'claude-interactive', 'codex'],
};

/** The flag's spelling on the command line, for messages. */
const flagName = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * Reject flags the chosen provider does not take. Only flags the user set count: defaults and
 * environment values (`getOptionValueSource`) are not an error on another provider.
 */
export function checkProviderFlags(flags: ProviderFlags, sourceOf: (key: string) => string | undefined): void {
  for (const [key, providers] of Object.entries(APPLIES)) {
    if (sourceOf(key) !== 'cli') continue;
    if (!providers.includes(flags.provider)) {
      throw usageError(`${flagName(key)} does not apply to --provider ${flags.provider} (only ${providers.join(', ')})`);
    }
  }
}

/** Parse `key=value` overrides of `--codex-config`. */
function codexConfig(entries: readonly string[]): Record<string, string> {
  const config: Record<string, string> = {};
  for (const entry of entries) {
    const at = entry.indexOf('=');
    if (at <= 0) throw usageError(`--codex-config wants key=value (a TOML value), got "${entry}"`);
    config[entry.slice(0, at).trim()] = entry.slice(at + 1);
  }
  return config;
}

/** `--allowed-tools a,b` as a list (empty string: ask for every tool). */
function toolList(value: string): string[] {
  return value.split(',').map((t) => t.trim()).filter((t) => t.length > 0);
}

/** Build the provider the flags name. */
export async function providerFor(flags: ProviderFlags, env: NodeJS.ProcessEnv = process.env): Promise<ProviderAdapter> {
  const extraArgs = [...(flags.cliArg ?? [])];
  let provider: ProviderAdapter;
  switch (flags.provider) {
    case 'demo': {
      const { createDemoProvider } = await import('../providers/demo/provider.js');
      return createDemoProvider();
    }
    case 'claude':
    case 'claude-interactive': {
      const claudeArgs = [
        ...(flags.model !== undefined ? ['--model', flags.model] : []),
        ...(flags.permissionMode !== undefined ? ['--permission-mode', flags.permissionMode] : []),
        ...extraArgs,
      ];
      const common = {
        command: flags.claudePath ?? 'claude',
        extraArgs: claudeArgs,
        ...(flags.allowedTools !== undefined ? { allowedTools: toolList(flags.allowedTools) } : {}),
      };
      if (flags.provider === 'claude') {
        const { createClaudeCodeProvider } = await import('../providers/claude/headless.js');
        provider = createClaudeCodeProvider(common);
      } else {
        const { createClaudeInteractiveProvider } = await import('../providers/claude/interactive.js');
        provider = createClaudeInteractiveProvider(common);
      }
      break;
    }
    case 'codex': {
      const { createCodexProvider } = await import('../providers/codex/provider.js');
      provider = createCodexProvider({
        command: flags.codexPath ?? 'codex',
        // The host's own CODEX_HOME by default: that is where the user's login lives. The provider's
        // own default (a private temp dir) has no login, so a CLI user's agent could never answer.
        codexHome: flags.codexHome ?? env['CODEX_HOME'] ?? join(homedir(), '.codex'),
        ...(flags.model !== undefined ? { model: flags.model } : {}),
        approvalPolicy: flags.approvalPolicy ?? 'on-request',
        sandbox: flags.sandbox ?? 'workspace-write',
        config: codexConfig(flags.codexConfig ?? []),
        extraArgs,
      });
      break;
    }
  }
  return flags.resume !== undefined ? resumingFirst(provider, flags.resume) : provider;
}

/**
 * The provider, resuming `sessionId` on its first start. Later starts (restarts after a crash)
 * resume whatever session the runner last saw, as usual.
 */
function resumingFirst(provider: ProviderAdapter, sessionId: string): ProviderAdapter {
  let first = true;
  return {
    name: provider.name,
    capabilities: provider.capabilities,
    checkVersion: (deps: ProviderDeps) => provider.checkVersion(deps),
    start(launch: ProviderLaunch, deps: ProviderDeps): Promise<ProviderSession> {
      const resume = first && launch.resumeSessionId === undefined;
      first = false;
      return provider.start(resume ? { ...launch, resumeSessionId: sessionId } : launch, deps);
    },
  };
}
