/**
 * Prints a runner's live events, for humans (one aligned line each) or machines (`--json`: one
 * JSON object per line). Shared by `demo` and `run`.
 */
import type { Runner } from '../create-runner.js';
import type { AgentStatus } from '../core/status.js';
import type { DeliveryEvent } from '../core/delivery.js';
import type { MirrorEvent, TimelineEvent } from '../core/runner.js';
import { cliClock, errorLine, oneLine, type CliOutput } from './common.js';

/** Prints events; `note` and `emit` let a command add its own lines in the same format. */
export interface Reporter {
  /** Whether this reporter prints JSON lines. */
  readonly json: boolean;
  /** A human line of kind `label` (ignored in JSON mode). */
  note(label: string, text: string): void;
  /** One event: a JSON line in JSON mode, else `label` + `text`. */
  emit(type: string, fields: Record<string, unknown>, label: string, text: string): void;
  /** Subscribe to a runner's events; returns the unsubscribe function. */
  attach(runner: Runner): () => void;
}

/** Create a reporter; times in human output are relative to its creation. */
export function createReporter(output: CliOutput, json: boolean): Reporter {
  const t0 = cliClock.now();
  const stamp = () => `+${((cliClock.now() - t0) / 1000).toFixed(2)}s`.padStart(8);
  const human = (label: string, text: string) => output.line(`${stamp()}  ${label.padEnd(9)} ${text}`);
  const reporter: Reporter = {
    json,
    note(label, text) {
      if (!json) human(label, text);
    },
    emit(type, fields, label, text) {
      if (json) output.json({ type, at: cliClock.now(), ...fields });
      else human(label, text);
    },
    attach(runner) {
      // Status events fire on every bit of activity; humans see only changes that matter.
      let lastShown = '';
      let lastWarning: string | undefined;
      const onStatus = (status: AgentStatus) => {
        const key = `${status.state}|${status.openSubagents}|${status.detail ?? ''}`;
        if (json) return output.json({ type: 'status', at: cliClock.now(), status });
        // An untested CLI version: said once on the terminal, not only in the log file.
        if (status.providerWarning !== undefined && status.providerWarning !== lastWarning) human('warning', status.providerWarning);
        lastWarning = status.providerWarning;
        if (key === lastShown) return;
        lastShown = key;
        human('status', describeStatus(status));
      };
      const listeners = {
        status: onStatus,
        delivery: (event: DeliveryEvent) =>
          reporter.emit('delivery', { delivery: event }, 'delivery', `${event.messageId} ${event.state}`),
        mirror: (event: MirrorEvent) =>
          reporter.emit('mirror', { mirror: event }, 'mirror', `${event.entry.padEnd(9)} ${JSON.stringify(oneLine(event.body))}`),
        timeline: (event: TimelineEvent) =>
          reporter.emit('timeline', { timeline: event }, 'timeline', `${event.event}${describeData(event.data)}`),
        ready: (info: { agentId: string; controlUrl?: string }) => {
          // The control port is up before the core says ready; docs/cli.md promises its URL here.
          const controlUrl = info.controlUrl ?? runner.controlUrl;
          reporter.emit('ready', { agentId: info.agentId, ...(controlUrl ? { controlUrl } : {}) }, 'runner', `ready as agent ${info.agentId}`);
        },
        error: (error: Error) => reporter.emit('error', { message: errorLine(error) }, 'error', errorLine(error)),
      };
      runner.on('status', listeners.status);
      runner.on('delivery', listeners.delivery);
      runner.on('mirror', listeners.mirror);
      runner.on('timeline', listeners.timeline);
      runner.on('ready', listeners.ready);
      runner.on('error', listeners.error);
      return () => {
        runner.off('status', listeners.status);
        runner.off('delivery', listeners.delivery);
        runner.off('mirror', listeners.mirror);
        runner.off('timeline', listeners.timeline);
        runner.off('ready', listeners.ready);
        runner.off('error', listeners.error);
      };
    },
  };
  return reporter;
}

/** `busy (2 subagents)`, `error: giving up …`. */
export function describeStatus(status: Pick<AgentStatus, 'state' | 'openSubagents' | 'detail'>): string {
  let text = status.state;
  if (status.openSubagents > 0) text += ` (${status.openSubagents} subagent${status.openSubagents === 1 ? '' : 's'})`;
  if (status.detail) text += `: ${oneLine(status.detail)}`;
  return text;
}

/** ` pid=123 source=resume` — scalar fields only, values shortened. */
export function describeData(data: Record<string, unknown> | undefined): string {
  if (!data) return '';
  const parts: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    if (value === undefined || value === null || typeof value === 'object') continue;
    parts.push(`${key}=${oneLine(String(value), 60)}`);
  }
  return parts.length > 0 ? ` ${parts.join(' ')}` : '';
}
