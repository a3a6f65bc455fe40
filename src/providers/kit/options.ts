import type { ProviderCapabilities } from '../../ports/provider.js';
/**
 * Options every process-backed provider shares (Claude Code headless, Codex, the demo agent, and
 * any provider built on the kit in `src/providers/kit/`).
 * @remarks Each provider documents its own defaults for the timings; the working directory comes
 * from the launch, not from here.
 * @public
 */
export interface ProcessProviderOptions {
  /**
   * Arguments appended to every launch, before the launch's own `extraArgs`.
   * @defaultValue `[]`
   */
  extraArgs?: readonly string[];
  /**
   * Variables set on top of the launch environment (e.g. an API base URL or key variable).
   * @defaultValue `{}`
   */
  env?: Readonly<Record<string, string>>;
  /** Oldest accepted CLI version; an older one is a `ProviderError` from `checkVersion()`. */
  minVersion?: string;
  /**
   * Newest CLI version this provider was tested with; a newer one is accepted, logged at WARN and
   * reported as a `warning` event when the session starts.
   */
  testedVersion?: string;
  /** How long `stop()` waits after closing stdin before it signals the process group. */
  stopGraceMs?: number;
  /** How long `stop()` waits after SIGTERM before SIGKILL. */
  killGraceMs?: number;
  /** How long `checkVersion()` waits for the version command. */
  versionTimeoutMs?: number;
  /** Events kept while nobody subscribed yet; the first subscriber receives them. */
  bufferEvents?: number;
}

/** {@link ProcessProviderOptions} with every timing resolved. */
export interface ProcessSettings {
  extraArgs: string[];
  env: Record<string, string>;
  minVersion: string | undefined;
  testedVersion: string | undefined;
  stopGraceMs: number;
  killGraceMs: number;
  versionTimeoutMs: number;
  bufferEvents: number;
}

/** A provider's own defaults for the shared options. */
export type ProcessDefaults = Pick<ProcessSettings, 'stopGraceMs' | 'killGraceMs' | 'versionTimeoutMs'> &
  Partial<Pick<ProcessSettings, 'bufferEvents' | 'minVersion' | 'testedVersion'>>;

/** Resolve the shared options against a provider's defaults. */
export function resolveProcessOptions(options: ProcessProviderOptions, defaults: ProcessDefaults): ProcessSettings {
  return {
    extraArgs: [...(options.extraArgs ?? [])],
    env: { ...(options.env ?? {}) },
    minVersion: options.minVersion ?? defaults.minVersion,
    testedVersion: options.testedVersion ?? defaults.testedVersion,
    stopGraceMs: options.stopGraceMs ?? defaults.stopGraceMs,
    killGraceMs: options.killGraceMs ?? defaults.killGraceMs,
    versionTimeoutMs: options.versionTimeoutMs ?? defaults.versionTimeoutMs,
    bufferEvents: options.bufferEvents ?? defaults.bufferEvents ?? 1_000,
  };
}

/**
 * What a process-backed provider with a structured channel usually can do: JSON turns in, its own
 * events out (not the hooks), resume by id, one turn at a time. Providers that differ spell their own.
 */
export const STRUCTURED_PROVIDER_CAPABILITIES: ProviderCapabilities = Object.freeze({
  structuredInput: true,
  resume: true,
  interactive: false,
  hookDriven: false,
  midTurnMessages: 'queue',
});
