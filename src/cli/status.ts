/**
 * `agent-relay-runner status`: the runner's current status from its control port (`GET /status`).
 */
import { Command } from 'commander';
import { addControlOptions, callControl, resolveControlTarget, unexpectedAnswer, type ControlFlags } from './control-client.js';
import { cliClock, processOutput, shellLine, type CliOutput } from './common.js';

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
    // How a human watches the agent (interactive providers); a runner without the route just has none.
    const terminal = await callControl(resolveControlTarget(flags), 'GET', '/terminal').then(
      (t) => t.body as TerminalBody | undefined,
      () => undefined,
    );
    for (const [label, value] of statusRows(body, terminal)) output.line(`${label.padEnd(14)}${value}`);
  });
}

/** What `GET /terminal` answers. */
interface TerminalBody {
  kind?: string;
  command?: unknown;
}

/** Label/value rows of a status (and the terminal to attach to, when there is one), for humans. */
export function statusRows(status: StatusBody, terminal?: TerminalBody): Array<[string, string]> {
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
  const command = terminal?.command;
  if (Array.isArray(command) && command.length > 0 && command.every((w) => typeof w === 'string')) {
    rows.push([command.includes('-r') ? 'attach (ro)' : 'attach', shellLine(command)]);
  }
  return rows;
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m}m` : `${Math.round(m / 60)}h`;
}
