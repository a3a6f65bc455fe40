import { ProviderError } from '../../errors/index.js';
import type { AskForApproval } from './protocol/v2/AskForApproval.js';
import type { SandboxMode } from './protocol/v2/SandboxMode.js';

// The Codex CLI's configuration as the adapter passes it: `-c key=value` overrides, and the public
// restatements of the protocol's approval and sandbox types.

/**
 * A Codex `model_providers` entry the adapter configures on the command line (e.g. a local model
 * server, or the fake OpenAI server in tests).
 * @public
 */
export interface CodexModelProvider {
  /** Provider id used as `model_provider` (letters, digits, `_`, `-`). */
  id: string;
  /** Base URL of the OpenAI-compatible API, e.g. `http://127.0.0.1:4000/v1`. */
  baseUrl: string;
  /** Name of the environment variable holding its API key (the value is never logged). */
  envKey?: string;
  /** Display name. @defaultValue the id */
  name?: string;
  /** Wire protocol. @defaultValue `responses` */
  wireApi?: 'responses';
}

/**
 * When Codex asks for approval: the pinned protocol's `AskForApproval`, restated here so the
 * public API does not expose generated files (a compile-time check keeps the two equal).
 * @public
 */
export type CodexApprovalPolicy =
  | 'untrusted'
  | 'on-request'
  | 'never'
  | {
      granular: {
        sandbox_approval: boolean;
        rules: boolean;
        skill_approval: boolean;
        request_permissions: boolean;
        mcp_elicitations: boolean;
      };
    };

/**
 * Sandbox of the agent's commands: the pinned protocol's `SandboxMode`.
 * @public
 */
export type CodexSandboxMode = 'read-only' | 'workspace-write' | 'danger-full-access';

// Fails to compile when a regenerated protocol changes either type.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const protocolTypesMatch: [Same<CodexApprovalPolicy, AskForApproval>, Same<CodexSandboxMode, SandboxMode>] = [true, true];
void protocolTypesMatch;

/** The options that become `-c` overrides. */
export interface CodexConfigOptions {
  model?: string | undefined;
  modelProvider?: CodexModelProvider | undefined;
  config?: Readonly<Record<string, string>> | undefined;
}

/** A stdio MCP server to register: what the provider kit's relay-tools helper gives. */
export interface CodexMcpServer {
  /** Absolute path of the executable. */
  command: string;
  /** Its arguments. */
  args: readonly string[];
  /** Variables it needs. */
  env: Readonly<Record<string, string>>;
}

/**
 * The `-c` overrides that register the relay tools' MCP server as `mcp_servers.<name>`.
 *
 * - Secrets never reach argv (`ps` shows Codex's command line): the variables named in `forward`
 *   (the control port and token) are listed in `env_vars`, which makes Codex copy them from its own
 *   environment into the server's (Codex starts MCP servers with a cleared environment plus a short
 *   allow-list; `env_vars` exists since openai/codex PR #5246, October 2025, and 0.169.0 honours it).
 *   Only the other, non-secret variables go into the `env` table.
 * - `default_tools_approval_mode = "approve"`: the tools only reach this agent's own runner (as
 *   `agent-relay-runner send` does, which Claude's default `allowedTools` pre-approves). In Codex's
 *   default `auto` mode a tool that may reach the outside world (no annotations, or
 *   `openWorldHint: true`, as `reply` is annotated) asks first, through an MCP elicitation the
 *   runner would have to relay: the agent's way back would then wait on a human each time.
 * - The server runs outside Codex's command sandbox, so it reaches the loopback control port with
 *   the default `workspace-write` sandbox, which `send` cannot.
 */
export function mcpServerArgs(name: string, server: CodexMcpServer, forward: readonly string[]): string[] {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new ProviderError(`invalid MCP server name "${name}"`);
  const plain = Object.entries(server.env).filter(([key]) => !forward.includes(key));
  const entries: Array<[string, string]> = [
    ['command', tomlString(server.command)],
    ['args', `[${server.args.map(tomlString).join(', ')}]`],
    ['env_vars', `[${forward.map(tomlString).join(', ')}]`],
    ['default_tools_approval_mode', tomlString('approve')],
    // Started once per app-server; a loaded machine may need longer than Codex's 10 s default.
    ['startup_timeout_sec', '30'],
  ];
  if (plain.length > 0) entries.push(['env', `{ ${plain.map(([key, value]) => `${tomlString(key)} = ${tomlString(value)}`).join(', ')} }`]);
  return entries.flatMap(([key, value]) => ['-c', `mcp_servers.${name}.${key}=${value}`]);
}

/** TOML string literal (basic string with escapes). */
function tomlString(value: string): string {
  return JSON.stringify(value);
}

/** The `-c key=value` arguments for the options. */
export function configArgs(options: CodexConfigOptions): string[] {
  const entries: Array<[string, string]> = [
    // No network calls of our own making: a runner host decides about updates and telemetry.
    ['check_for_update_on_startup', 'false'],
    ['analytics.enabled', 'false'],
    ['feedback.enabled', 'false'],
  ];
  if (options.model !== undefined) entries.push(['model', tomlString(options.model)]);
  const provider = options.modelProvider;
  if (provider) {
    if (!/^[A-Za-z0-9_-]+$/.test(provider.id)) throw new ProviderError(`invalid Codex model provider id "${provider.id}"`);
    const fields = [`name = ${tomlString(provider.name ?? provider.id)}`, `base_url = ${tomlString(provider.baseUrl)}`, `wire_api = ${tomlString(provider.wireApi ?? 'responses')}`];
    if (provider.envKey !== undefined) fields.push(`env_key = ${tomlString(provider.envKey)}`);
    entries.push([`model_providers.${provider.id}`, `{ ${fields.join(', ')} }`]);
    entries.push(['model_provider', tomlString(provider.id)]);
  }
  for (const [key, value] of Object.entries(options.config ?? {})) entries.push([key, value]);
  return entries.flatMap(([key, value]) => ['-c', `${key}=${value}`]);
}
