/**
 * Which provider CLIs the end-to-end tests drive, and which versions they expect.
 *
 * By default the pinned CLIs of e2e/package.json (installed by e2e/install.sh into e2e/node_modules).
 * `AGENT_RELAY_E2E_CLAUDE` / `AGENT_RELAY_E2E_CODEX` / `AGENT_RELAY_E2E_OPENCODE` point the suite at
 * other binaries (`npm run e2e:latest` sets them to the newest published versions); then the
 * matching `…_VERSION` variables say which version those binaries are. Version expectations come
 * from here, never from a regex in a test: a new pin changes one file, e2e/package.json.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const pins = (JSON.parse(readFileSync(join(REPO_ROOT, 'e2e', 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies;

/** The version e2e/package.json pins for `pkg` (an exact version: the lockfile installs it). */
function pinned(pkg: string): string {
  const version = pins[pkg];
  if (!version || !/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`e2e/package.json must pin an exact version of ${pkg}, has ${String(version)}`);
  return version;
}

/** The Claude Code version e2e/package.json pins. */
export const PINNED_CLAUDE_VERSION = pinned('@anthropic-ai/claude-code');
/** The Codex version e2e/package.json pins. */
export const PINNED_CODEX_VERSION = pinned('@openai/codex');
/** The OpenCode version e2e/package.json pins. */
export const PINNED_OPENCODE_VERSION = pinned('opencode-ai');

const env = process.env;
const overrideClaude = env['AGENT_RELAY_E2E_CLAUDE'];
const overrideCodex = env['AGENT_RELAY_E2E_CODEX'];
const overrideOpenCode = env['AGENT_RELAY_E2E_OPENCODE'];

function overrideVersion(binaryVar: string, versionVar: string): string {
  const version = env[versionVar];
  if (!version) throw new Error(`${binaryVar} is set: set ${versionVar} to the version it is (npm run e2e:latest does both)`);
  return version;
}

/** The `claude` binary under test. */
export const CLAUDE_BIN = overrideClaude ?? join(REPO_ROOT, 'e2e', 'node_modules', '.bin', 'claude');
/** The `codex` binary under test. */
export const CODEX_BIN = overrideCodex ?? join(REPO_ROOT, 'e2e', 'node_modules', '.bin', 'codex');
/** The `opencode` binary under test. */
export const OPENCODE_BIN = overrideOpenCode ?? join(REPO_ROOT, 'e2e', 'node_modules', '.bin', 'opencode');
/** The Claude Code version the tests expect `CLAUDE_BIN --version` to report. */
export const CLAUDE_VERSION = overrideClaude ? overrideVersion('AGENT_RELAY_E2E_CLAUDE', 'AGENT_RELAY_E2E_CLAUDE_VERSION') : PINNED_CLAUDE_VERSION;
/** The Codex version the tests expect `CODEX_BIN --version` to report. */
export const CODEX_VERSION = overrideCodex ? overrideVersion('AGENT_RELAY_E2E_CODEX', 'AGENT_RELAY_E2E_CODEX_VERSION') : PINNED_CODEX_VERSION;
/** The OpenCode version the tests expect `OPENCODE_BIN --version` to report. */
export const OPENCODE_VERSION = overrideOpenCode
  ? overrideVersion('AGENT_RELAY_E2E_OPENCODE', 'AGENT_RELAY_E2E_OPENCODE_VERSION')
  : PINNED_OPENCODE_VERSION;

/**
 * Make sure the CLIs under test exist: install the pinned ones when missing (cached by a stamp),
 * nothing to install for overridden ones. Returns one line per CLI, `claude <version line>` and
 * `codex <version line>`.
 */
export function ensureClis(): string {
  if (!overrideClaude || !overrideCodex || !overrideOpenCode) {
    execFileSync('bash', [join(REPO_ROOT, 'e2e', 'install.sh')], { encoding: 'utf8', timeout: 590_000, stdio: ['ignore', 'pipe', 'inherit'] });
  }
  const line = (bin: string) => execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 60_000 }).trim().split('\n')[0];
  return `claude ${line(CLAUDE_BIN)}\ncodex ${line(CODEX_BIN)}\nopencode ${line(OPENCODE_BIN)}\n`;
}
