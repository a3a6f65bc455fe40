import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProviderAdapter, ProviderDeps, ProviderLaunch, ProviderSession } from '../../ports/provider.js';
import { ProviderError } from '../../errors/index.js';
import { describeError } from '../../shared/describe-error.js';
import { resolveProcessOptions, STRUCTURED_PROVIDER_CAPABILITIES, type ProcessProviderOptions } from '../kit/options.js';
import { JsonLinesProcess, spawnProviderProcess } from '../kit/process-session.js';
import { COMPONENT } from '../kit/text.js';
import { VersionCheck } from '../kit/version.js';
import { RELAY_TOOLS_ENV_NAMES, RELAY_TOOLS_SERVER, relayToolsServer, sendScriptCommand } from '../kit/relay-tools.js';
import {
  allowSendScript,
  OPENCODE_DEFAULT_PERMISSION,
  openCodeConfig,
  openCodeEnv,
  type OpenCodeMcpServer,
  type OpenCodeModelProvider,
  type OpenCodePermissionRule,
} from './config.js';
import { OpenCodeSession } from './session.js';
import { OPENCODE_PROFILE_FIELDS, logOpenCodeProfile, openCodeProfileSettings, type OpenCodeProfileProjection } from './profile.js';

export { OPENCODE_DEFAULT_PERMISSION, type OpenCodeMcpServer, type OpenCodeModelProvider, type OpenCodePermissionRule } from './config.js';

/**
 * The oldest `opencode` CLI this adapter speaks to (ACP protocol version 1, `session/load`).
 * @public
 */
export const MIN_OPENCODE_VERSION = '1.18.0';

/**
 * The newest `opencode` CLI this adapter was tested with (the CLI pinned for the end-to-end
 * tests); a newer one runs, with a warning.
 * @public
 */
export const OPENCODE_TESTED_VERSION = '1.18.33';

/**
 * Options of {@link createOpenCodeProvider}. Defaults of the shared options: `stopGraceMs` 3000,
 * `killGraceMs` 3000, `versionTimeoutMs` 20000, `bufferEvents` 1000, `minVersion`
 * {@link MIN_OPENCODE_VERSION}, `testedVersion` {@link OPENCODE_TESTED_VERSION}; `env` is added to
 * the launch environment (e.g. the model provider's API key variable), `extraArgs` to `opencode acp`.
 * @public
 */
export interface OpenCodeProviderOptions extends ProcessProviderOptions {
  /**
   * The `opencode` executable (a name on PATH or a path).
   * @defaultValue `opencode`
   */
  command?: string;
  /**
   * Where OpenCode keeps its data, config, cache and state (`XDG_DATA_HOME` … under it); sessions
   * live there, so a restarted process can load its session. `false` uses the host's own
   * directories (its login, config and sessions).
   * @defaultValue a private (0700) temp dir created on first start and reused by every later start
   * of this adapter
   */
  stateDir?: string | false;
  /** Model as `<provider>/<model>`. @defaultValue the model provider's first model, else OpenCode's own default */
  model?: string;
  /** Model for titles and summaries (`small_model`). @defaultValue `model` */
  smallModel?: string;
  /** An OpenAI-compatible model server to configure and enable (then it is the only one). @defaultValue none */
  modelProvider?: OpenCodeModelProvider;
  /**
   * Permission rules (OpenCode's `permission` config). `ask` rules are relayed: each request goes
   * to the runner's permission relay and its decision answers OpenCode.
   * @defaultValue {@link OPENCODE_DEFAULT_PERMISSION} (ask for `bash`, `edit`, `webfetch`)
   */
  permission?: Readonly<Record<string, OpenCodePermissionRule>>;
  /** Further local MCP servers to configure (`mcp.<name>`). @defaultValue `{}` */
  mcpServers?: Readonly<Record<string, OpenCodeMcpServer>>;
  /**
   * Register the relay tools (`reply`, `send`, `owed`, `attachments`; docs/providers.md "Relay
   * tools") as the MCP server `relay`, so the agent answers with a tool call (OpenCode names them
   * `relay_reply`, …). Registered only when the launch environment has the runner's control port.
   * @defaultValue true
   */
  relayTools?: boolean;
  /** Further config keys, set on top of the ones above (OpenCode's config schema). @defaultValue `{}` */
  config?: Readonly<Record<string, unknown>>;
  /** How long an ACP request other than a prompt may take (startup, session load). @defaultValue 60000 */
  requestTimeoutMs?: number;
}

const CLIENT_VERSION = '1';

/**
 * The OpenCode provider: `opencode acp`, the Agent Client Protocol over stdio (SPEC §9).
 *
 * @remarks
 * Each start spawns `opencode acp` in the agent's cwd with its config inline
 * (`OPENCODE_CONFIG_CONTENT`: model provider, models, permission rules, MCP servers), its own
 * `XDG_*` dirs under {@link OpenCodeProviderOptions.stateDir} and a `TMPDIR` of that run only
 * (removed when the process exits). It sends `initialize`, then `session/load` with the runner's
 * session id (the replayed history is not reported; a `session` event with source `resume`) or
 * `session/new` (source `startup`). A turn is one `session/prompt` with the turn's text; its answer
 * (`stopReason`) ends the turn. Updates map to events: thought chunks → `reasoning`, message
 * chunks → `assistant` (consecutive chunks joined), tool calls → `tool` started / completed /
 * failed; the answer → `usage` and `turn.completed` (the last message as `finalText`; `cancelled`
 * → `interrupted`). `session/request_permission` goes to the runner's permission relay (or, outside
 * a runner, becomes a `permission` event); allow picks OpenCode's allow-once option, anything else
 * reject-once (fail closed). The relay's profile (`launch.profile`) sets the model, the permission
 * rules and an instructions file unless the host chose (docs/providers.md "Profile projection").
 * A turn delivered while another runs is queued. `interrupt()` sends
 * `session/cancel`; `stop()` closes stdin (OpenCode exits), then signals.
 * @public
 */
export function createOpenCodeProvider(options: OpenCodeProviderOptions = {}): ProviderAdapter {
  const command = options.command ?? 'opencode';
  const settings = resolveProcessOptions(options, {
    stopGraceMs: 3_000,
    killGraceMs: 3_000,
    versionTimeoutMs: 20_000,
    minVersion: MIN_OPENCODE_VERSION,
    testedVersion: OPENCODE_TESTED_VERSION,
  });
  if (options.modelProvider && options.modelProvider.models.length === 0) {
    throw new ProviderError('createOpenCodeProvider: modelProvider.models must name at least one model', { data: { id: options.modelProvider.id } });
  }
  const requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
  const version = new VersionCheck({
    displayName: 'OpenCode',
    command,
    minVersion: settings.minVersion,
    testedVersion: settings.testedVersion,
    timeoutMs: settings.versionTimeoutMs,
  });
  const configFor = (launchEnv: Readonly<Record<string, string>>, fromProfile: OpenCodeProfileProjection, instructionsFile: string | undefined): string => {
    const mcp: Record<string, OpenCodeMcpServer> = { ...(options.mcpServers ?? {}) };
    if (options.relayTools !== false && launchEnv.AGENT_RELAY_RUNNER_PORT) mcp[RELAY_TOOLS_SERVER] = relayToolsMcpServer(launchEnv);
    const provider = options.modelProvider;
    const extraModel = fromProfile.providerModel;
    return JSON.stringify(
      openCodeConfig({
        model: options.model ?? fromProfile.model,
        smallModel: options.smallModel,
        modelProvider: provider && extraModel !== undefined && !provider.models.includes(extraModel) ? { ...provider, models: [...provider.models, extraModel] } : provider,
        permission: allowSendScript(
          fromProfile.permission ?? options.permission ?? OPENCODE_DEFAULT_PERMISSION,
          launchEnv.AGENT_RELAY_SCRATCH_DIR ? sendScriptCommand(launchEnv.AGENT_RELAY_SCRATCH_DIR) : undefined,
        ),
        mcp,
        config: options.config,
        instructions: instructionsFile === undefined ? undefined : [instructionsFile],
      }),
    );
  };
  let stateDir: Promise<string | undefined> | undefined =
    options.stateDir === false ? Promise.resolve(undefined) : options.stateDir === undefined ? undefined : Promise.resolve(options.stateDir);

  const resolveStateDir = (): Promise<string | undefined> => {
    // One private dir for the adapter's lifetime: a restarted process must find its session.
    stateDir ??= (async () => {
      const dir = await mkdtemp(join(tmpdir(), 'agent-relay-opencode-'));
      await chmod(dir, 0o700);
      return dir;
    })();
    return stateDir;
  };

  return {
    name: 'opencode',
    capabilities: STRUCTURED_PROVIDER_CAPABILITIES,
    profileFields: OPENCODE_PROFILE_FIELDS,

    checkVersion: (deps: ProviderDeps): Promise<string> => version.run(deps),

    async start(launch: ProviderLaunch, deps: ProviderDeps): Promise<ProviderSession> {
      const fromProfile = openCodeProfileSettings(launch.profile, {
        model: options.model,
        permission: options.permission,
        config: options.config,
        modelProviderId: options.modelProvider?.id,
        stateDir: options.stateDir !== undefined,
      });
      logOpenCodeProfile(deps.logger, launch.profile, fromProfile);
      const state = fromProfile.hostDirs ? undefined : await resolveStateDir();
      if (state !== undefined) for (const sub of ['data', 'config', 'cache', 'state']) await mkdir(join(state, sub), { recursive: true, mode: 0o700 });
      const runTmp = await mkdtemp(join(state ?? tmpdir(), state ? 'tmp-' : 'agent-relay-opencode-tmp-'));
      const removeRunTmp = () => rm(runTmp, { recursive: true, force: true }).catch(() => undefined);
      // OpenCode's `instructions` takes file paths: the profile's text lives in the run's own TMPDIR.
      let instructionsFile: string | undefined;
      if (fromProfile.instructions !== undefined) {
        instructionsFile = join(runTmp, 'relay-profile-instructions.md');
        await writeFile(instructionsFile, fromProfile.instructions, { mode: 0o600 }).catch(async (error: unknown) => {
          await removeRunTmp();
          throw error;
        });
      }
      const hostEnv = { ...launch.env, ...settings.env };
      const env: Record<string, string> = { ...hostEnv, ...openCodeEnv(state, runTmp, configFor(hostEnv, fromProfile, instructionsFile)) };
      let child;
      try {
        child = await spawnProviderProcess(deps, { command, args: ['acp', ...settings.extraArgs, ...(launch.extraArgs ?? [])], cwd: launch.cwd, env }, 'opencode acp');
      } catch (error) {
        await removeRunTmp();
        throw error;
      }
      // The run's TMPDIR holds what OpenCode leaves behind (a 5.5 MB native library per run).
      void child.exited.then(removeRunTmp);
      const resumeNote = launch.resumeSessionId === undefined ? '' : `, loading ${launch.resumeSessionId}`;
      deps.logger.info(COMPONENT, `opencode acp started (pid ${child.pid}, state ${state ?? "the host's own dirs"}${resumeNote})`);
      const proc = new JsonLinesProcess(child, deps, { ...settings, who: 'opencode', ...(version.warning ? { startupWarning: version.warning } : {}) });
      const session = new OpenCodeSession(proc, requestTimeoutMs, launch.cwd);
      try {
        await session.open(launch.resumeSessionId, CLIENT_VERSION);
      } catch (error) {
        await child.kill({ signal: 'SIGKILL' }).catch(() => undefined);
        throw new ProviderError(`opencode acp handshake failed: ${describeError(error)}`, { data: { command, pid: child.pid }, cause: error });
      }
      return session;
    },
  };
}

/**
 * The relay tools' MCP server as OpenCode config. The port and token are written as `{env:NAME}`
 * references that OpenCode fills from its own environment: the config text holds no secret.
 */
function relayToolsMcpServer(launchEnv: Readonly<Record<string, string>>): OpenCodeMcpServer {
  const spec = relayToolsServer(launchEnv);
  const environment: Record<string, string> = { ...spec.env };
  for (const name of RELAY_TOOLS_ENV_NAMES) if (environment[name] !== undefined) environment[name] = `{env:${name}}`;
  return { command: [spec.command, ...spec.args], environment };
}
