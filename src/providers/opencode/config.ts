// What an OpenCode launch is configured with: the inline config (OPENCODE_CONFIG_CONTENT) and the
// environment that keeps each run's files in directories of its own.

/**
 * An OpenAI-compatible model server OpenCode should use (a custom provider entry with
 * `"npm": "@ai-sdk/openai-compatible"`): a local model, a proxy, or the testing kit's fake server.
 * @public
 */
export interface OpenCodeModelProvider {
  /** Provider id in OpenCode's config; models are named `<id>/<model>`. */
  id: string;
  /** Base URL of the Chat Completions API, e.g. `http://127.0.0.1:8080/v1`. */
  baseUrl: string;
  /** Model names this provider offers; the first is the default `model` and `smallModel`. */
  models: readonly string[];
  /**
   * Name of the environment variable holding the API key. OpenCode reads it itself
   * (`{env:NAME}` in the config), so the key never appears in the config text.
   * @defaultValue none (no key is sent)
   */
  apiKeyEnv?: string;
  /** Display name. @defaultValue the id */
  name?: string;
}

/**
 * One OpenCode permission rule: `ask` (relayed to the runner's permission relay), `allow` or
 * `deny`; or, for tools with patterns (`bash`, `edit`, …), a map from pattern to action.
 * @public
 */
export type OpenCodePermissionRule = 'ask' | 'allow' | 'deny' | Readonly<Record<string, 'ask' | 'allow' | 'deny'>>;

/**
 * A local MCP server OpenCode starts (`mcp.<name>` in its config).
 * @public
 */
export interface OpenCodeMcpServer {
  /** The command and its arguments (absolute paths: OpenCode starts it from the agent's cwd). */
  command: readonly string[];
  /** Variables set for the server. @defaultValue `{}` */
  environment?: Readonly<Record<string, string>>;
}

/** The shell pattern that lets `agent-relay-runner send …` run without asking. */
export const SEND_PATTERN = 'agent-relay-runner send *';

/**
 * The permission rules used when none are given: shell commands, file edits and web fetches are
 * asked for (and so relayed) — except `agent-relay-runner send …`, the agent's way to answer on the
 * relay (as Claude Code's default `allowedTools`); reading and searching are not asked for, nor are
 * the relay tools (MCP). OpenCode's own default runs everything without asking.
 * @public
 */
export const OPENCODE_DEFAULT_PERMISSION: Readonly<Record<string, OpenCodePermissionRule>> = Object.freeze({
  bash: Object.freeze({ '*': 'ask', [SEND_PATTERN]: 'allow' }),
  edit: 'ask',
  webfetch: 'ask',
});

/**
 * Rules in which allowing `agent-relay-runner send` also allows the PATH-free send script the turn
 * text names (`<scratch>/agent-relay-send`): the agent answers by whichever path it was told.
 * Rules that do not allow `send` by name are returned as they are.
 */
export function allowSendScript(
  permission: Readonly<Record<string, OpenCodePermissionRule>>,
  scriptCommand: string | undefined,
): Readonly<Record<string, OpenCodePermissionRule>> {
  const bash = permission.bash;
  if (scriptCommand === undefined || typeof bash !== 'object' || bash[SEND_PATTERN] !== 'allow') return permission;
  return { ...permission, bash: { ...bash, [`${scriptCommand} *`]: 'allow' } };
}

/** What {@link openCodeConfig} builds the config from. */
export interface OpenCodeConfigInput {
  model?: string | undefined;
  smallModel?: string | undefined;
  modelProvider?: OpenCodeModelProvider | undefined;
  permission: Readonly<Record<string, OpenCodePermissionRule>>;
  mcp: Readonly<Record<string, OpenCodeMcpServer>>;
  config?: Readonly<Record<string, unknown>> | undefined;
  /** Instruction files (absolute paths) added to the config's `instructions`, after the caller's own. */
  instructions?: readonly string[] | undefined;
}

/**
 * The inline config of a launch (`OPENCODE_CONFIG_CONTENT`): no auto-update, no sharing, the model
 * provider (then only it is enabled), the models, the permission rules, the MCP servers, then the
 * caller's own keys on top; `instructions` files are appended to the caller's.
 */
export function openCodeConfig(input: OpenCodeConfigInput): Record<string, unknown> {
  const config: Record<string, unknown> = { autoupdate: false, share: 'disabled' };
  const provider = input.modelProvider;
  const firstModel = provider?.models[0];
  if (provider) {
    config.provider = {
      [provider.id]: {
        npm: '@ai-sdk/openai-compatible',
        name: provider.name ?? provider.id,
        options: { baseURL: provider.baseUrl, ...(provider.apiKeyEnv ? { apiKey: `{env:${provider.apiKeyEnv}}` } : {}) },
        models: Object.fromEntries(provider.models.map((m) => [m, { name: m }])),
      },
    };
    config.enabled_providers = [provider.id];
  }
  const model = input.model ?? (provider && firstModel !== undefined ? `${provider.id}/${firstModel}` : undefined);
  if (model !== undefined) config.model = model;
  const smallModel = input.smallModel ?? model;
  if (smallModel !== undefined) config.small_model = smallModel;
  config.permission = { ...input.permission };
  const servers = Object.entries(input.mcp);
  if (servers.length > 0) {
    config.mcp = Object.fromEntries(
      servers.map(([name, server]) => [name, { type: 'local', command: [...server.command], environment: { ...(server.environment ?? {}) }, enabled: true }]),
    );
  }
  const merged: Record<string, unknown> = { ...config, ...(input.config ?? {}) };
  if (input.instructions?.length) {
    const own = Array.isArray(merged.instructions) ? (merged.instructions as unknown[]) : [];
    merged.instructions = [...own, ...input.instructions];
  }
  return merged;
}

/**
 * The environment OpenCode runs with: its own `XDG_*` dirs under `stateDir` (sessions, needed to
 * resume, live in its data dir) unless the host's own are wanted, a `TMPDIR` of this run only
 * (OpenCode leaves a 5.5 MB native library there on every run), no update checks or LSP downloads.
 */
export function openCodeEnv(stateDir: string | undefined, tmpDir: string, configText: string): Record<string, string> {
  const env: Record<string, string> = {
    TMPDIR: tmpDir,
    OPENCODE_CONFIG_CONTENT: configText,
    OPENCODE_DISABLE_AUTOUPDATE: '1',
    OPENCODE_DISABLE_LSP_DOWNLOAD: '1',
  };
  if (stateDir !== undefined) {
    env.XDG_DATA_HOME = `${stateDir}/data`;
    env.XDG_CONFIG_HOME = `${stateDir}/config`;
    env.XDG_CACHE_HOME = `${stateDir}/cache`;
    env.XDG_STATE_HOME = `${stateDir}/state`;
  }
  return env;
}
