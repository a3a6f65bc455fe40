import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ProviderProfile, ProviderProfileField } from '../../ports/provider.js';
import type { Logger } from '../../ports/logger.js';
import { COMPONENT } from '../kit/text.js';
import type { CodexApprovalPolicy, CodexSandboxMode } from './config.js';

/**
 * The profile fields the Codex adapter projects. Tool lists are not among them: the app-server
 * has no per-tool allow or deny list for its built-in tools (approval policy and sandbox decide).
 */
export const CODEX_PROFILE_FIELDS: readonly ProviderProfileField[] = ['model', 'permissionMode', 'extraInstructions', 'useHostConfig'];

const APPROVAL_POLICIES: ReadonlySet<string> = new Set(['untrusted', 'on-request', 'never']);
const SANDBOX_MODES: ReadonlySet<string> = new Set(['read-only', 'workspace-write', 'danger-full-access']);

/** The host's explicit Codex options (undefined: not given, so a profile value may fill it). */
export interface CodexHostChoices {
  model?: string | undefined;
  /** True when the host's `-c` overrides set `model` (they win like the `model` option). */
  configModel?: boolean;
  approvalPolicy?: CodexApprovalPolicy | undefined;
  sandbox?: CodexSandboxMode | undefined;
  codexHome?: string | undefined;
  /** True when the host's `-c` overrides set `developer_instructions`. */
  configInstructions?: boolean;
}

/** What one launch takes from the profile. */
export interface CodexProfileProjection {
  /** `model` of `thread/start` / `thread/resume`. */
  model?: string;
  approvalPolicy?: CodexApprovalPolicy;
  sandbox?: CodexSandboxMode;
  /** `developerInstructions` of `thread/start` / `thread/resume`. */
  developerInstructions?: string;
  /** `CODEX_HOME` to use instead of the adapter's private one (the host's own). */
  codexHome?: string;
  /** Profile values kept out because the host chose (for the log). */
  overridden: string[];
  /** Profile values Codex has no setting for (for the log). */
  unusable: string[];
}

/**
 * Project the relay's profile onto a Codex launch. `permissionMode` names an approval policy
 * (`untrusted`, `on-request`, `never`) or a sandbox mode (`read-only`, `workspace-write`,
 * `danger-full-access`); anything else is not projected. `useHostConfig` selects the host's own
 * `CODEX_HOME` (the launch environment's, else `~/.codex`) when the host named none.
 * Precedence: an explicit host option wins over the profile, the profile over the adapter defaults.
 */
export function codexProfileSettings(profile: ProviderProfile | undefined, host: CodexHostChoices, env: Record<string, string>): CodexProfileProjection {
  const out: CodexProfileProjection = { overridden: [], unusable: [] };
  if (!profile) return out;
  if (profile.model !== undefined) {
    if (host.model !== undefined || host.configModel) out.overridden.push('model');
    else out.model = profile.model;
  }
  const mode = profile.permissionMode;
  if (mode !== undefined) {
    if (APPROVAL_POLICIES.has(mode)) {
      if (host.approvalPolicy !== undefined) out.overridden.push('permissionMode');
      else out.approvalPolicy = mode as CodexApprovalPolicy;
    } else if (SANDBOX_MODES.has(mode)) {
      if (host.sandbox !== undefined) out.overridden.push('permissionMode');
      else out.sandbox = mode as CodexSandboxMode;
    } else {
      out.unusable.push(`permissionMode ${mode} (neither a Codex approval policy nor a sandbox mode)`);
    }
  }
  if (profile.extraInstructions !== undefined) {
    if (host.configInstructions) out.overridden.push('extraInstructions');
    else out.developerInstructions = profile.extraInstructions;
  }
  if (profile.useHostConfig === true) {
    if (host.codexHome !== undefined) out.overridden.push('useHostConfig');
    else out.codexHome = env.CODEX_HOME || join(env.HOME || homedir(), '.codex');
  }
  for (const list of ['allowedTools', 'disallowedTools'] as const) {
    if (profile[list]?.length) out.unusable.push(`${list} (Codex has no per-tool list)`);
  }
  return out;
}

/** Log what a launch took from the profile and what it left out (free text only by length). */
export function logCodexProfile(logger: Logger, profile: ProviderProfile | undefined, projection: CodexProfileProjection): void {
  if (!profile) return;
  const taken: string[] = [];
  if (projection.model !== undefined) taken.push(`model ${projection.model}`);
  if (projection.approvalPolicy !== undefined) taken.push(`approvalPolicy ${JSON.stringify(projection.approvalPolicy)}`);
  if (projection.sandbox !== undefined) taken.push(`sandbox ${projection.sandbox}`);
  if (projection.developerInstructions !== undefined) taken.push(`developerInstructions (${projection.developerInstructions.length} chars)`);
  if (projection.codexHome !== undefined) taken.push(`CODEX_HOME ${projection.codexHome} (the host's own)`);
  const kept = projection.overridden.length ? `; host options kept over the profile's ${projection.overridden.join(', ')}` : '';
  const unusable = projection.unusable.length ? `; not projected: ${projection.unusable.join(', ')}` : '';
  logger.info(COMPONENT, `codex: profile projected as ${taken.join(', ') || 'nothing'}${kept}${unusable}`);
}

/** The thread settings of a projection (what `thread/start` / `thread/resume` carry). */
export function threadSettings(projection: CodexProfileProjection): Pick<CodexProfileProjection, 'model' | 'approvalPolicy' | 'sandbox' | 'developerInstructions'> {
  const { model, approvalPolicy, sandbox, developerInstructions } = projection;
  return {
    ...(model === undefined ? {} : { model }),
    ...(approvalPolicy === undefined ? {} : { approvalPolicy }),
    ...(sandbox === undefined ? {} : { sandbox }),
    ...(developerInstructions === undefined ? {} : { developerInstructions }),
  };
}
