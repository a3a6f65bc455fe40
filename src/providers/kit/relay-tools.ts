/**
 * How a provider gives its agent the relay tools (docs/providers.md, "Relay tools"): the MCP
 * server's launch spec, and the `send` fallback as an absolute command. Nothing here depends on
 * `PATH`: Codex runs commands through `bash -lc`, whose login profile may reset it, so every
 * command is named by its absolute path (this Node binary, the package's own files).
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InvalidArgumentError } from '../../errors/index.js';

/**
 * The MCP server name the relay tools are registered under: Claude Code sees `mcp__relay__<tool>`.
 * @public
 */
export const RELAY_TOOLS_SERVER = 'relay';

/** The file name of the `send` script written into the runner's scratch dir. */
export const SEND_SCRIPT_NAME = 'agent-relay-send';

/** The environment variables the relay tools need from the agent's environment (port and token). */
export const RELAY_TOOLS_ENV_NAMES: readonly string[] = ['AGENT_RELAY_RUNNER_PORT', 'AGENT_RELAY_RUNNER_TOKEN'];

/**
 * How to start the relay tools' MCP server (stdio): what goes into the agent CLI's MCP
 * configuration.
 * @public
 */
export interface RelayToolsServerSpec {
  /** Absolute path of the Node binary that runs this library (`process.execPath`). */
  command: string;
  /** Arguments: the server entry (absolute), behind tsx's loader when running from source. */
  args: string[];
  /**
   * The variables the server needs: the control port and token (secrets: write them only into a
   * private file or pass them through the environment, never on a command line), plus
   * `ELECTRON_RUN_AS_NODE=1` under Electron, whose `process.execPath` is the app.
   */
  env: Record<string, string>;
}

/** How this module runs: the built package (`.js`) or the sources under tsx (`.ts`, tests and `tsx` users). */
interface Launcher {
  /** Node arguments before the script (the tsx loader, from source). */
  nodeArgs: string[];
  /** Absolute path of a package file, built or source: `agent-tools/main`, `cli/main`. */
  entry(relative: 'agent-tools/main' | 'cli/main'): string;
}

function launcher(): Launcher {
  const here = fileURLToPath(import.meta.url);
  const root = join(dirname(here), '..', '..'); // dist/ or src/
  if (here.endsWith('.js')) return { nodeArgs: [], entry: (relative) => join(root, `${relative}.js`) };
  // From source: the entries are TypeScript, run through tsx's loader (a dev dependency).
  let loader: string;
  try {
    loader = createRequire(import.meta.url).resolve('tsx');
  } catch {
    throw new InvalidArgumentError('running agent-relay-runner from its TypeScript sources needs tsx installed (the relay tools run through its loader)');
  }
  return { nodeArgs: ['--import', pathToFileURL(loader).href], entry: (relative) => join(root, `${relative}.ts`) };
}

/** `ELECTRON_RUN_AS_NODE=1` when this runs inside Electron (its `process.execPath` is the app, not Node). */
function nodeModeEnv(): Record<string, string> {
  return process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {};
}

/**
 * The relay tools' MCP server launch spec for an agent whose environment is `env` (the provider's
 * launch environment: it carries `AGENT_RELAY_RUNNER_PORT` and `AGENT_RELAY_RUNNER_TOKEN`).
 * @param env - the agent's environment; the port and token are copied into the spec's `env`
 * @public
 */
export function relayToolsServer(env: Readonly<Record<string, string | undefined>>): RelayToolsServerSpec {
  const run = launcher();
  const vars: Record<string, string> = { ...nodeModeEnv() };
  for (const name of RELAY_TOOLS_ENV_NAMES) {
    const value = env[name];
    if (value !== undefined && value !== '') vars[name] = value;
  }
  return { command: process.execPath, args: [...run.nodeArgs, run.entry('agent-tools/main')], env: vars };
}

/** Absolute path of the `send` script in a scratch dir (see {@link writeSendScript}). */
export function sendScriptPath(scratchDir: string): string {
  return join(scratchDir, SEND_SCRIPT_NAME);
}

/**
 * The `send` script as a shell word the turn text can name: quoted only when the path needs it.
 * @param scratchDir - the runner's scratch dir (`AGENT_RELAY_SCRATCH_DIR`)
 * @public
 */
export function sendScriptCommand(scratchDir: string): string {
  const path = sendScriptPath(scratchDir);
  return /^[\w@%+=:,./-]+$/.test(path) ? path : shellQuote(path);
}

/**
 * Write (or rewrite) `<scratchDir>/agent-relay-send`: a shell script that runs
 * `agent-relay-runner send` with this Node binary and this package's CLI, both by absolute path,
 * so it works whatever `PATH` the agent's shell has. It holds no secret: the port and token still
 * come from the agent's environment. Returns the script's absolute path (name it in the context
 * block); the scratch dir is created when missing.
 * @param scratchDir - the runner's scratch dir (`AGENT_RELAY_SCRATCH_DIR`)
 * @public
 */
export function writeSendScript(scratchDir: string): string {
  const run = launcher();
  const path = sendScriptPath(scratchDir);
  const electron = process.versions.electron ? 'ELECTRON_RUN_AS_NODE=1 ' : '';
  const words = [process.execPath, ...run.nodeArgs, run.entry('cli/main'), 'send'].map(shellQuote).join(' ');
  const script = `#!/bin/sh\n# agent-relay-runner send, by absolute path (written by the runner; see docs/providers.md, "Relay tools")\n${electron}exec ${words} "$@"\n`;
  if (!existsSync(scratchDir)) mkdirSync(scratchDir, { recursive: true, mode: 0o700 });
  writeFileSync(path, script, { mode: 0o700 });
  chmodSync(path, 0o700); // writeFileSync keeps an existing file's mode
  return path;
}

/** One word for `sh`: single-quoted, with `'` written as `'\''`. */
function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
