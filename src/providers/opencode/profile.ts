import type { Logger } from '../../ports/logger.js';
import type { ProviderProfile, ProviderProfileField } from '../../ports/provider.js';
import { COMPONENT } from '../kit/text.js';
import { OPENCODE_DEFAULT_PERMISSION, SEND_PATTERN, type OpenCodePermissionRule } from './config.js';

/** Every profile field: OpenCode has a config key for each (docs/providers.md "Profile projection"). */
export const OPENCODE_PROFILE_FIELDS: readonly ProviderProfileField[] = ['model', 'permissionMode', 'allowedTools', 'disallowedTools', 'extraInstructions', 'useHostConfig'];

type Action = 'ask' | 'allow' | 'deny';
type Rules = Record<string, OpenCodePermissionRule>;

// `agent-relay-runner send …` is the agent's way to answer on the relay: every mode that asks or
// denies shell commands still lets it through, as the default rules do.
const SEND = SEND_PATTERN;
const shell = (rest: Action): OpenCodePermissionRule => (rest === 'allow' ? 'allow' : { '*': rest, [SEND]: 'allow' });

/**
 * Permission modes (Claude's and Codex's names, so one relay profile serves every provider) and
 * the OpenCode rules each stands for. OpenCode has no sandbox: read-only modes deny shell commands.
 */
const MODES: Readonly<Record<string, Rules>> = {
  default: { ...OPENCODE_DEFAULT_PERMISSION },
  untrusted: { ...OPENCODE_DEFAULT_PERMISSION },
  'on-request': { ...OPENCODE_DEFAULT_PERMISSION },
  acceptEdits: { bash: shell('ask'), edit: 'allow', webfetch: 'ask' },
  'workspace-write': { bash: shell('ask'), edit: 'allow', webfetch: 'ask' },
  plan: { bash: shell('deny'), edit: 'deny', webfetch: 'ask' },
  'read-only': { bash: shell('deny'), edit: 'deny', webfetch: 'ask' },
  dontAsk: { bash: shell('deny'), edit: 'deny', webfetch: 'deny' },
  bypassPermissions: { bash: 'allow', edit: 'allow', webfetch: 'allow' },
  never: { bash: 'allow', edit: 'allow', webfetch: 'allow' },
  'danger-full-access': { bash: 'allow', edit: 'allow', webfetch: 'allow' },
};

/** The permission modes a profile may name for OpenCode. */
export const OPENCODE_PERMISSION_MODES: readonly string[] = Object.keys(MODES);

// Claude Code's tool names (the ones relay profiles are usually written with) → OpenCode's.
const TOOL_NAMES: Readonly<Record<string, string>> = {
  Bash: 'bash',
  Edit: 'edit',
  Write: 'edit',
  MultiEdit: 'edit',
  NotebookEdit: 'edit',
  Read: 'read',
  Grep: 'grep',
  Glob: 'glob',
  LS: 'list',
  WebFetch: 'webfetch',
  WebSearch: 'websearch',
  Task: 'task',
  TodoWrite: 'todowrite',
};

/** The host's explicit OpenCode choices (they win over the profile). */
export interface OpenCodeHostChoices {
  /** The `model` option. */
  model?: string | undefined;
  /** The `permission` option (undefined: not given, the defaults apply). */
  permission?: Readonly<Rules> | undefined;
  /** The `config` option (its `model`, `permission`, `instructions` keys count as explicit). */
  config?: Readonly<Record<string, unknown>> | undefined;
  /** The id of the `modelProvider` option, to qualify a bare model name. */
  modelProviderId?: string | undefined;
  /** True when the host named a `stateDir` (or `false`). */
  stateDir?: boolean;
}

/** What one launch takes from the profile. */
export interface OpenCodeProfileProjection {
  /** `model` (and `small_model`) of the config, as `<provider>/<model>`. */
  model?: string;
  /** A bare model name to add to the model provider's `models` (OpenCode only runs listed models). */
  providerModel?: string;
  /** The permission rules to use instead of the host's / the defaults. */
  permission?: Rules;
  /** Text for an instructions file (OpenCode's `instructions` config takes file paths). */
  instructions?: string;
  /** Use the host's own `XDG_*` dirs (`useHostConfig`). */
  hostDirs?: boolean;
  /** Profile values kept out because the host chose (for the log). */
  overridden: string[];
  /** Profile values OpenCode has no setting for (for the log). */
  unusable: string[];
}

/** A profile's tool entry as a permission key and an optional pattern: `Bash(git status:*)` → `bash`, `git status *`. */
export function openCodeToolRule(entry: string): { tool: string; pattern?: string } {
  const match = /^([^()]+)\((.*)\)$/.exec(entry.trim());
  const name = (match?.[1] ?? entry).trim();
  const tool = TOOL_NAMES[name] ?? name;
  // Claude's `prefix:*` is a prefix match; OpenCode writes it as a wildcard.
  const pattern = match?.[2]?.replace(/:\*$/, ' *');
  return pattern === undefined || pattern === '' || pattern === '*' ? { tool } : { tool, pattern };
}

/** `rules` with `action` set for each entry: a whole tool, or one pattern added after the tool's others (OpenCode takes the last match). */
function setRules(rules: Rules, entries: readonly string[], action: Action): void {
  for (const entry of entries) {
    const { tool, pattern } = openCodeToolRule(entry);
    if (pattern === undefined) {
      rules[tool] = action;
      continue;
    }
    const current = rules[tool] ?? 'ask';
    // A tool already denied as a whole stays denied: an allowed pattern must not reopen it.
    if (current === 'deny' && action !== 'deny') continue;
    const map: Record<string, Action> = typeof current === 'string' ? { '*': current } : { ...current };
    delete map[pattern];
    rules[tool] = { ...map, [pattern]: action };
  }
}

/**
 * Project the relay's profile onto an OpenCode launch. `model`: `<provider>/<model>` as given; a
 * bare name goes to the configured model provider (and is added to its models), and without one
 * is not projected. `permissionMode`: a Claude or Codex mode name mapped to OpenCode rules
 * ({@link OPENCODE_PERMISSION_MODES}). `allowedTools` / `disallowedTools`: `allow` / `deny` rules
 * on top of the rules in force (disallowed wins). `extraInstructions`: an instructions file.
 * `useHostConfig`: the host's own `XDG_*` dirs when the host named no `stateDir`.
 * Precedence: an explicit host option wins over the profile, the profile over the defaults.
 */
export function openCodeProfileSettings(profile: ProviderProfile | undefined, host: OpenCodeHostChoices): OpenCodeProfileProjection {
  const out: OpenCodeProfileProjection = { overridden: [], unusable: [] };
  if (!profile) return out;
  const config = host.config ?? {};
  if (profile.model !== undefined) {
    if (host.model !== undefined || config.model !== undefined) out.overridden.push('model');
    else if (profile.model.includes('/')) out.model = profile.model;
    else if (host.modelProviderId !== undefined) {
      out.model = `${host.modelProviderId}/${profile.model}`;
      out.providerModel = profile.model;
    } else out.unusable.push(`model ${profile.model} (no provider: OpenCode models are <provider>/<model>)`);
  }
  // The host's rules in `config.permission` replace the whole key: nothing from the profile survives them.
  const configRules = config.permission !== undefined;
  let rules: Rules | undefined;
  const mode = profile.permissionMode;
  if (mode !== undefined) {
    const mapped = Object.hasOwn(MODES, mode) ? MODES[mode] : undefined;
    if (mapped === undefined) out.unusable.push(`permissionMode ${mode} (not one of ${OPENCODE_PERMISSION_MODES.join(', ')})`);
    else if (host.permission !== undefined || configRules) out.overridden.push('permissionMode');
    else rules = { ...mapped };
  }
  const allowed = profile.allowedTools ?? [];
  const denied = profile.disallowedTools ?? [];
  if (allowed.length + denied.length > 0) {
    if (configRules) {
      if (allowed.length) out.overridden.push('allowedTools');
      if (denied.length) out.overridden.push('disallowedTools');
    } else {
      rules ??= { ...(host.permission ?? OPENCODE_DEFAULT_PERMISSION) };
      setRules(rules, allowed, 'allow');
      setRules(rules, denied, 'deny');
    }
  }
  if (rules !== undefined) out.permission = rules;
  // Instructions add up in OpenCode (every listed file joins the system prompt): no override.
  if (profile.extraInstructions !== undefined) out.instructions = profile.extraInstructions;
  if (profile.useHostConfig === true) {
    if (host.stateDir) out.overridden.push('useHostConfig');
    else out.hostDirs = true;
  }
  return out;
}

/** Log what a launch took from the profile and what it left out (free text only by length). */
export function logOpenCodeProfile(logger: Logger, profile: ProviderProfile | undefined, projection: OpenCodeProfileProjection): void {
  if (!profile) return;
  const taken: string[] = [];
  if (projection.model !== undefined) taken.push(`model ${projection.model}`);
  if (projection.permission !== undefined) taken.push(`permission ${JSON.stringify(projection.permission)}`);
  if (projection.instructions !== undefined) taken.push(`instructions (${projection.instructions.length} chars)`);
  if (projection.hostDirs) taken.push("the host's own XDG dirs");
  const kept = projection.overridden.length ? `; host options kept over the profile's ${projection.overridden.join(', ')}` : '';
  const unusable = projection.unusable.length ? `; not projected: ${projection.unusable.join(', ')}` : '';
  logger.info(COMPONENT, `opencode: profile projected as ${taken.join(', ') || 'nothing'}${kept}${unusable}`);
}
