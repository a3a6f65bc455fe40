#!/usr/bin/env node
/**
 * `agent-relay-runner`: the command-line face of the library (`docs/cli.md`).
 * demo · relay · run · chat · send · status · log-level · monitor — each a thin layer over the library,
 * the reference relay or the control port.
 */
import { EXIT_FAILURE, errorLine, processOutput } from './common.js';
import { buildProgram } from './program.js';

/** Parse `argv` and run; errors print one line on stderr and set exit code 1. */
async function main(argv: readonly string[]): Promise<void> {
  try {
    await buildProgram().parseAsync([...argv]);
  } catch (error) {
    processOutput.error(`agent-relay-runner: ${errorLine(error)}`);
    process.exitCode = EXIT_FAILURE;
  }
}

// `agent-relay-runner demo --json | head` closes our stdout early: that is the reader's choice, not
// a crash. Stop writing there and let the command finish (and clean up) normally.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});

void main(process.argv);
