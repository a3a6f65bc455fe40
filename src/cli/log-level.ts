/**
 * `agent-relay-runner log-level [level]`: read or change the runner's log level through its
 * control port. The runner validates the level (400 with the valid ones).
 */
import { Command } from 'commander';
import { addControlOptions, callControl, resolveControlTarget, unexpectedAnswer, type ControlFlags } from './control-client.js';
import { processOutput, type CliOutput } from './common.js';

interface LogLevelFlags extends ControlFlags {
  json?: boolean;
}

/** Build the `log-level` command. */
export function logLevelCommand(output: CliOutput = processOutput): Command {
  const command = new Command('log-level')
    .description("show the runner's log level, or set it (debug, info, warn, error, fatal)")
    .argument('[level]', 'the new level; omit to show the current one')
    .option('--json', 'print the result as one JSON line');
  addControlOptions(command);
  return command.action(async (level: string | undefined, flags: LogLevelFlags) => {
    const target = resolveControlTarget(flags);
    const answer = level === undefined ? await callControl(target, 'GET', '/log-level') : await callControl(target, 'POST', '/log-level', { level });
    const current = (answer.body as { level?: unknown } | undefined)?.level;
    if (typeof current !== 'string') throw unexpectedAnswer('/log-level');
    if (flags.json) output.json({ level: current });
    else output.line(level === undefined ? `log level: ${current}` : `log level set to ${current}`);
  });
}
