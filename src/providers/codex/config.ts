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
