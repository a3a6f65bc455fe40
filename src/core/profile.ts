import type { ProviderProfile, ProviderProfileField } from '../ports/provider.js';
import type { AgentProfile } from '../ports/relay-http.js';

// The agent profile (SPEC §7) split in two: the relay feature switches the runner applies itself,
// and the provider part each adapter projects into its launch (ProviderLaunch.profile).

const PROVIDER_FIELDS: readonly ProviderProfileField[] = ['model', 'permissionMode', 'allowedTools', 'disallowedTools', 'extraInstructions', 'useHostConfig'];

/** The provider part of a profile: only the fields the relay set (empty lists count as unset). */
export function providerProfile(profile: AgentProfile | undefined): ProviderProfile | undefined {
  if (!profile) return undefined;
  const out: ProviderProfile = {};
  if (profile.model !== undefined) out.model = profile.model;
  if (profile.permissionMode !== undefined) out.permissionMode = profile.permissionMode;
  if (profile.allowedTools?.length) out.allowedTools = [...profile.allowedTools];
  if (profile.disallowedTools?.length) out.disallowedTools = [...profile.disallowedTools];
  if (profile.extraInstructions !== undefined) out.extraInstructions = profile.extraInstructions;
  if (profile.useHostConfig !== undefined) out.useHostConfig = profile.useHostConfig;
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The one-line report SPEC §7 asks for: which parts of the profile reach the agent and which do
 * not. `fields` are the ones the provider projects (its `profileFields`); a provider can still
 * keep a host option over a profile value, and logs that itself when it launches.
 */
export function profileReport(profile: AgentProfile, provider: string, fields: readonly ProviderProfileField[] | undefined): string {
  const projected: string[] = [];
  const skipped: string[] = [];
  const given = providerProfile(profile) ?? {};
  for (const field of PROVIDER_FIELDS) {
    const value = given[field];
    if (value === undefined) continue;
    const shown = field === 'extraInstructions' ? `${field} (${String(value).length} chars)` : `${field} ${Array.isArray(value) ? value.join(',') : String(value)}`;
    if (fields?.includes(field)) projected.push(shown);
    else skipped.push(`${shown} (the ${provider} provider does not take it)`);
  }
  for (const [feature, on] of Object.entries(profile.features)) (on ? projected : skipped).push(`${feature}${on ? '' : ' (off)'}`);
  return `projected: ${projected.join(', ') || 'nothing'}; not projected: ${skipped.join(', ') || 'nothing'}`;
}
