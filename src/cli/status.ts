/**
 * `agent-relay-runner status`: the runner's current status from its control port (`GET /status`).
 */
import { Command } from 'commander';
import { addControlOptions, callControl, resolveControlTarget, unexpectedAnswer, type ControlFlags } from './control-client.js';
import { cliClock, processOutput, type CliOutput } from './common.js';

interface StatusFlags extends ControlFlags {
  json?: boolean;
}

/** The fields of `GET /status` the human output shows (unknown fields are ignored). */
interface StatusBody {
  state?: string;
  connected?: boolean;
  lastActivityAt?: number;
  openSubagents?: number;
  sessionId?: string;
  providerVersion?: string;
  providerWarning?: string;
  context?: { usedTokens?: number; windowTokens?: number };
  detail?: string;
}

/** Build the `status` command. */
export function statusCommand(output: CliOutput = processOutput): Command {
  const command = new Command('status').description("show the runner's status (from its control port)").option('--json', 'print the raw status as one JSON line');
  addControlOptions(command);
  return command.action(async (flags: StatusFlags) => {
    const answer = await callControl(resolveControlTarget(flags), 'GET', '/status');
    const body = answer.body as (StatusBody & Record<string, unknown>) | undefined;
    if (typeof body?.state !== 'string') throw unexpectedAnswer('/status');
    if (flags.json) {
      output.json(body);
      return;
    }
    for (const [label, value] of statusRows(body)) output.line(`${label.padEnd(14)}${value}`);
  });
}

/** Label/value rows of a status, for humans. */
export function statusRows(status: StatusBody): Array<[string, string]> {
  const rows: Array<[string, string]> = [['state', status.state ?? 'unknown']];
  if (status.connected !== undefined) rows.push(['relay', status.connected ? 'connected' : 'disconnected']);
  if (typeof status.lastActivityAt === 'number') rows.push(['last activity', `${ago(cliClock.now() - status.lastActivityAt)} ago`]);
  if (status.openSubagents) rows.push(['subagents', String(status.openSubagents)]);
  if (status.sessionId) rows.push(['session', status.sessionId]);
  if (status.providerVersion) rows.push(['provider', status.providerVersion]);
  if (status.providerWarning) rows.push(['warning', status.providerWarning]);
  const ctx = status.context;
  if (ctx && typeof ctx.usedTokens === 'number') {
    rows.push(['context', `${ctx.usedTokens} tokens${typeof ctx.windowTokens === 'number' ? ` of ${ctx.windowTokens}` : ''}`]);
  }
  if (status.detail) rows.push(['detail', status.detail]);
  return rows;
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m}m` : `${Math.round(m / 60)}h`;
}
