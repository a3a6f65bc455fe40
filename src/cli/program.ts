/**
 * The `agent-relay-runner` program: every command, wired to commander. `main.ts` runs it.
 */
import { Command } from 'commander';
import { chatCommand } from './chat.js';
import { processOutput, readCliVersion, type CliOutput } from './common.js';
import { demoCommand } from './demo.js';
import { logLevelCommand } from './log-level.js';
import { monitorCommand } from './monitor.js';
import { relayCommand } from './relay.js';
import { runCommand } from './run.js';
import { sendCommand } from './send.js';
import { statusCommand } from './status.js';

/** Build the whole program (exported for tests that drive it in-process). */
export function buildProgram(output: CliOutput = processOutput): Command {
  const program = new Command('agent-relay-runner')
    .description('Run an AI coding agent as a participant on an Agent Relay server.')
    .version(readCliVersion(), '-V, --version', 'print the version')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeErr: (text) => output.error(text.replace(/\n$/, '')) });
  const commands = [
    demoCommand(output),
    relayCommand(output),
    runCommand(output),
    chatCommand(output),
    sendCommand(output),
    statusCommand(output),
    logLevelCommand(output),
    monitorCommand(output),
  ];
  for (const command of commands) {
    // Subcommands built on their own don't inherit the program's settings; copy them over.
    command.copyInheritedSettings(program);
    program.addCommand(command);
  }
  return program;
}
