import semver from 'semver';
import type { Clock } from '../../ports/clock.js';
import type { ProcessExit, SpawnedProcess } from '../../ports/process-spawner.js';
import type { ProviderDeps } from '../../ports/provider.js';
import { isRunnerError, ProviderError } from '../../errors/index.js';
import { describeError } from '../../shared/describe-error.js';
import { COMPONENT, settlesWithin, shorten } from './text.js';

/** Outcome of {@link probeVersion}. */
export type VersionProbe =
  | { kind: 'ok'; version: string }
  | { kind: 'timeout' }
  | { kind: 'failed'; exit: ProcessExit; detail: string };

/**
 * Wait for a spawned `--version` process and find the first `x.y.z` in its stdout. A process that
 * does not answer within `timeoutMs` is killed (SIGKILL) and reported as `timeout`.
 */
export async function probeVersion(child: SpawnedProcess, timeoutMs: number, clock: Clock): Promise<VersionProbe> {
  const out: string[] = [];
  const err: string[] = [];
  child.stdout.onLine((line) => out.push(line));
  child.stderr.onLine((line) => err.push(line));
  if (!(await settlesWithin(child.exited, timeoutMs, clock))) {
    await child.kill({ signal: 'SIGKILL' });
    return { kind: 'timeout' };
  }
  const exit = await child.exited;
  const match = /(\d+\.\d+\.\d+\S*)/.exec(out.join('\n'));
  if (exit.code !== 0 || !match?.[1]) {
    return { kind: 'failed', exit, detail: shorten(err.join(' ').trim() || out.join(' ').trim() || 'no output') };
  }
  return { kind: 'ok', version: match[1] };
}

/**
 * Compare two CLI versions with `semver`, pre-release and build suffixes ignored (a `0.170.0-alpha`
 * counts as `0.170.0`): -1, 0 or 1. The one version compare of the package.
 * @internal
 */
export function compareVersions(a: string, b: string): number {
  const pa = semver.coerce(a);
  const pb = semver.coerce(b);
  if (!pa || !pb) throw new ProviderError(`cannot compare versions ${JSON.stringify(a)} and ${JSON.stringify(b)}`, { data: { a, b } });
  return semver.compare(pa, pb);
}

/** How a found version relates to the supported range. */
export type VersionVerdict = { kind: 'ok' } | { kind: 'too-old' } | { kind: 'untested' };

/** Place `version` in the range [minVersion, testedVersion] (either end optional). */
export function judgeVersion(version: string, minVersion: string | undefined, testedVersion: string | undefined): VersionVerdict {
  if (minVersion !== undefined && compareVersions(version, minVersion) < 0) return { kind: 'too-old' };
  if (testedVersion !== undefined && compareVersions(version, testedVersion) > 0) return { kind: 'untested' };
  return { kind: 'ok' };
}

/** What {@link VersionCheck} runs and how it names the CLI in messages. */
export interface VersionCommand {
  /** Human name in messages, e.g. `Claude Code`. */
  displayName: string;
  /** The executable. */
  command: string;
  /** Arguments that print the version. @defaultValue `['--version']` */
  args?: readonly string[];
  /**
   * Full environment of the version command (the spawner does not merge).
   * @defaultValue this process's environment
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** Oldest accepted version; older rejects. */
  minVersion: string | undefined;
  /** Newest tested version; newer is accepted with a warning. */
  testedVersion: string | undefined;
  /** How long to wait for the answer. */
  timeoutMs: number;
}

/**
 * Runs a provider's version command and judges the answer: older than the minimum is a
 * `ProviderError`, newer than the newest tested version is accepted but logged at WARN and kept as
 * a warning the next session reports as a `warning` event (so status and log both show it).
 */
export class VersionCheck {
  #warning: string | undefined;

  constructor(private readonly spec: VersionCommand) {}

  /** The warning about an untested version, if the last check found one. */
  get warning(): string | undefined {
    return this.#warning;
  }

  /** Run the check; resolves the version or rejects with `ProviderError`. */
  async run(deps: ProviderDeps): Promise<string> {
    const { displayName, command, minVersion, testedVersion, timeoutMs } = this.spec;
    const args = [...(this.spec.args ?? ['--version'])];
    const line = [command, ...args].join(' ');
    let child: SpawnedProcess;
    try {
      child = await deps.spawner.spawn({ command, args, ...(this.spec.env ? { env: this.spec.env } : {}) });
    } catch (error) {
      throw new ProviderError(`${displayName} not found: cannot run "${line}" (${describeError(error)})`, {
        data: { command, ...(isRunnerError(error) ? { causeCode: error.code } : {}) },
        cause: error,
      });
    }
    const probe = await probeVersion(child, timeoutMs, deps.clock);
    if (probe.kind === 'timeout') {
      throw new ProviderError(`"${line}" did not answer within ${timeoutMs} ms`, { data: { command } });
    }
    if (probe.kind === 'failed') {
      const { exit, detail } = probe;
      throw new ProviderError(`"${line}" failed (code ${exit.code ?? exit.signal}): ${detail}`, {
        data: { command, code: exit.code, signal: exit.signal },
      });
    }
    const { version } = probe;
    const verdict = judgeVersion(version, minVersion, testedVersion);
    if (verdict.kind === 'too-old') {
      throw new ProviderError(`${displayName} ${version} is too old: agent-relay-runner needs ${minVersion} or newer (${command})`, {
        data: { command, version, minVersion },
      });
    }
    if (verdict.kind === 'untested') {
      this.#warning = `${displayName} ${version} is newer than the newest version agent-relay-runner was tested with (${testedVersion}); it is used, but watch for protocol changes`;
      deps.logger.warn(COMPONENT, this.#warning);
    } else {
      this.#warning = undefined;
      deps.logger.info(COMPONENT, `${displayName} version ${version} (${command})`);
    }
    return version;
  }
}
