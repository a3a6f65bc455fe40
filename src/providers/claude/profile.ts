import type { Logger } from '../../ports/logger.js';
import type { ProviderLaunch, ProviderProfile, ProviderProfileField } from '../../ports/provider.js';
import { COMPONENT } from '../kit/text.js';

/**
 * The profile fields both Claude adapters project. `useHostConfig` is not one of them: the Claude
 * adapters never isolate the config home (Claude Code reads `CLAUDE_CONFIG_DIR`, else `HOME`, from
 * the environment the host gives it), so there is nothing to switch.
 */
export const CLAUDE_PROFILE_FIELDS: readonly ProviderProfileField[] = ['model', 'permissionMode', 'allowedTools', 'disallowedTools', 'extraInstructions'];

/** What a profile adds to a Claude launch. */
export interface ClaudeProfileProjection {
  /** Flags to append (after the host's own `extraArgs`). */
  args: string[];
  /** Tools to add to the adapter's `--allowedTools` list. */
  allowedTools: string[];
  /** Profile values kept out because the host set the same flag (for the log). */
  overridden: string[];
}

/** True when `args` sets `flag` (`--flag value` or `--flag=value`), under any of its spellings. */
function hasFlag(args: readonly string[], ...spellings: string[]): boolean {
  return args.some((arg) => spellings.some((flag) => arg === flag || arg.startsWith(`${flag}=`)));
}

/**
 * Project the relay's profile onto Claude Code's flags (`--model`, `--permission-mode`,
 * `--disallowedTools`, `--append-system-prompt`; allowed tools join the adapter's `--allowedTools`).
 * Precedence: a flag the host already passes in `hostArgs` (the adapter's and the launch's
 * `extraArgs`) wins and the profile's value is reported in `overridden`; tool lists add to the host's.
 */
export function claudeProfileArgs(profile: ProviderProfile | undefined, hostArgs: readonly string[]): ClaudeProfileProjection {
  const out: ClaudeProfileProjection = { args: [], allowedTools: [], overridden: [] };
  if (!profile) return out;
  const single = (value: string | undefined, field: string, ...flags: [string, ...string[]]): void => {
    if (value === undefined) return;
    if (hasFlag(hostArgs, ...flags)) out.overridden.push(field);
    else out.args.push(flags[0], value);
  };
  single(profile.model, 'model', '--model');
  single(profile.permissionMode, 'permissionMode', '--permission-mode');
  out.allowedTools.push(...(profile.allowedTools ?? []));
  if (profile.disallowedTools?.length) {
    if (hasFlag(hostArgs, '--disallowedTools', '--disallowed-tools')) out.overridden.push('disallowedTools');
    // One comma-joined value: the flag is variadic, so a separate word per tool would also work, but
    // a single word cannot swallow a following argument.
    else out.args.push('--disallowedTools', profile.disallowedTools.join(','));
  }
  single(profile.extraInstructions, 'extraInstructions', '--append-system-prompt', '--append-system-prompt-file');
  return out;
}

/** Log what a launch took from the profile (values only where they are short and not free text). */
export function logClaudeProfile(logger: Logger, who: string, profile: ProviderProfile | undefined, projection: ClaudeProfileProjection): void {
  if (!profile) return;
  const taken = [...projection.args.filter((arg) => arg.startsWith('--')), ...(projection.allowedTools.length ? ['--allowedTools (+profile)'] : [])];
  const kept = projection.overridden.length ? `; host options kept over the profile's ${projection.overridden.join(', ')}` : '';
  logger.info(COMPONENT, `${who}: profile projected as ${taken.join(' ') || 'nothing'}${kept}`);
}

/**
 * The launch with the profile's flags appended to its `extraArgs` (after `optionArgs`, the
 * adapter's own `extraArgs`, which with the launch's decide what the host set explicitly). The
 * profile's allowed tools go in a second `--allowedTools` flag: Claude Code adds up repeated
 * `--allowedTools` flags (checked with 2.1.330: tools of both flags ran without a prompt).
 * Logs what it took.
 */
export function withClaudeProfile(launch: ProviderLaunch, optionArgs: readonly string[], logger: Logger, who: string): ProviderLaunch {
  if (!launch.profile) return launch;
  const projection = claudeProfileArgs(launch.profile, [...optionArgs, ...(launch.extraArgs ?? [])]);
  logClaudeProfile(logger, who, launch.profile, projection);
  const allowed = projection.allowedTools.length > 0 ? ['--allowedTools', projection.allowedTools.join(',')] : [];
  const extra = [...projection.args, ...allowed];
  return extra.length > 0 ? { ...launch, extraArgs: [...(launch.extraArgs ?? []), ...extra] } : launch;
}
