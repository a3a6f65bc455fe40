/**
 * Shared setup of the Claude Code end-to-end tests: the pinned CLI (installed by e2e/install.sh),
 * a fake Anthropic server, the reference relay, a real runner with the headless Claude adapter,
 * an isolated HOME / CLAUDE_CONFIG_DIR, an `agent-relay-runner` shim on PATH for the Bash tool,
 * and a recording proxy in front of the control port that keeps every hook payload.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLAUDE_BIN, REPO_ROOT } from './clis.js';
import { createRunner, type Runner, type RunnerOptions } from '../../src/create-runner.js';
import { createRelayDevServer, type RelayDevServer } from '../../src/testing/relay-dev-server/index.js';
import { createClaudeCodeProvider, type ClaudeCodeProviderOptions } from '../../src/providers/claude/headless.js';
import { createFakeAnthropicServer, type FakeAnthropicScript, type FakeAnthropicServer } from '../../src/testing/fake-anthropic-server.js';
import type { MemoryLogger } from '../../src/testing/memory-logger.js';
import { e2eLogger, keepLog } from './logs.js';
import type { DeliveryEvent } from '../../src/core/delivery.js';
import type { MirrorEvent, TimelineEvent } from '../../src/core/runner.js';

export { CLAUDE_BIN, CLAUDE_VERSION, ensureClis, REPO_ROOT } from './clis.js';
const TSX_LOADER = join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs');
const CLI_SOURCE = join(REPO_ROOT, 'src', 'cli', 'main.ts');
const CLI_BUILT = join(REPO_ROOT, 'dist', 'cli', 'main.js');

/** One hook call Claude Code made (through the recording proxy). */
export interface RecordedHook {
  path: string;
  payload: unknown;
  status: number;
  response: string;
}

export interface ClaudeRig {
  relay: RelayDevServer;
  model: FakeAnthropicServer;
  runner: Runner;
  logger: MemoryLogger;
  dir: string;
  work: string;
  configDir: string;
  deliveries: DeliveryEvent[];
  mirrors: MirrorEvent[];
  timeline: TimelineEvent[];
  hooks: RecordedHook[];
  /** The environment given to the runner (the same object: a change before `start()` reaches the provider). */
  env: Record<string, string | undefined>;
  close(): Promise<void>;
}

/**
 * A proxy in front of the runner's control port: Claude's hooks (and the `send` shim) talk to it,
 * it forwards verbatim and records what passed.
 */
async function startRecordingProxy(target: () => string | undefined, hooks: RecordedHook[]): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const base = target();
      if (!base) {
        res.writeHead(503).end();
        return;
      }
      const url = new URL(req.url ?? '/', base);
      const upstream = httpRequest(
        url,
        { method: req.method, headers: { ...req.headers, host: url.host } },
        (up) => {
          const parts: Buffer[] = [];
          up.on('data', (c: Buffer) => parts.push(c));
          up.on('end', () => {
            const text = Buffer.concat(parts).toString('utf8');
            let payload: unknown = body.toString('utf8');
            try {
              payload = JSON.parse(payload as string);
            } catch {
              // keep the raw text
            }
            hooks.push({ path: req.url ?? '/', payload, status: up.statusCode ?? 0, response: text });
            res.writeHead(up.statusCode ?? 502, up.headers);
            res.end(text);
          });
        },
      );
      upstream.on('error', () => res.writeHead(502).end());
      upstream.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

export async function startClaudeRig(
  script: FakeAnthropicScript,
  overrides: Partial<RunnerOptions> = {},
  providerOptions: ClaudeCodeProviderOptions = {},
  /** `sendShim: false`: no `agent-relay-runner` on PATH (the agent must use the relay tools or the runner's absolute send script). */
  rigOptions: { sendShim?: boolean } = {},
): Promise<ClaudeRig> {
  const dir = await mkdtemp(join(tmpdir(), 'arr-claude-'));
  const work = join(dir, 'work');
  const home = join(dir, 'home');
  const configDir = join(home, '.claude');
  const bin = join(dir, 'bin');
  await mkdir(work, { recursive: true });
  await mkdir(configDir, { recursive: true });
  await mkdir(bin, { recursive: true });
  // The agent's `agent-relay-runner send` from Claude's Bash tool: the built CLI when there is
  // one, else the source through tsx (no build needed to run the e2e tests).
  const shim = join(bin, 'agent-relay-runner');
  await writeFile(
    shim,
    `#!/bin/sh\nif [ -f '${CLI_BUILT}' ]; then exec '${process.execPath}' '${CLI_BUILT}' "$@"; fi\nexec '${process.execPath}' --import 'file://${TSX_LOADER}' '${CLI_SOURCE}' "$@"\n`,
  );
  await chmod(shim, 0o755);

  const model = await createFakeAnthropicServer(script);
  const relay = await createRelayDevServer();
  const logger = e2eLogger();
  const hooks: RecordedHook[] = [];
  let runner: Runner | undefined;
  const proxy = await startRecordingProxy(() => runner?.controlUrl, hooks);
  const env: Record<string, string | undefined> = {
    PATH: rigOptions.sendShim === false ? (process.env.PATH ?? '') : `${bin}:${process.env.PATH ?? ''}`,
    HOME: home,
    CLAUDE_CONFIG_DIR: configDir,
    ANTHROPIC_BASE_URL: model.url,
    ANTHROPIC_API_KEY: 'sk-ant-e2e-dummy',
    // No traffic beyond the fake model server.
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_AUTOUPDATER: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  };
  runner = createRunner({
    name: 'claude-worker',
    relayUrl: relay.url,
    apiKey: relay.apiKey,
    provider: createClaudeCodeProvider({
      command: CLAUDE_BIN,
      // Hooks and the shim reach the runner through the recording proxy.
      env: { AGENT_RELAY_RUNNER_PORT: String(proxy.port) },
      ...providerOptions,
    }),
    cwd: work,
    dataDir: join(dir, 'data'),
    logger,
    env,
    control: { token: 'claude-e2e-control-token' },
    outbox: { baseDelayMs: 50, maxDelayMs: 500, pollIntervalMs: 200 },
    heartbeatMs: 500,
    obligationRefreshMs: 300,
    ...overrides,
  });
  const rig: ClaudeRig = {
    relay,
    model,
    runner,
    logger,
    dir,
    work,
    configDir,
    deliveries: [],
    mirrors: [],
    timeline: [],
    hooks,
    env,
    async close() {
      await rig.runner.stop().catch(() => {});
      await keepLog(logger, { deliveries: rig.deliveries, mirrors: rig.mirrors, hooks: rig.hooks.map((h) => h.path) });
      await new Promise<void>((r) => proxy.server.close(() => r()));
      proxy.server.closeAllConnections();
      await model.close().catch(() => {});
      await relay.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  runner.on('delivery', (e) => rig.deliveries.push(e));
  runner.on('mirror', (e) => rig.mirrors.push(e));
  runner.on('timeline', (e) => rig.timeline.push(e));
  return rig;
}

/** Where recorded hook payloads go when RECORD_CLAUDE_HOOK_FIXTURES=1. */
export const HOOK_FIXTURE_DIR = join(REPO_ROOT, 'test', 'fixtures', 'claude-hooks');

/** Save hook payloads as fixtures (only when asked: tests must not rewrite the repo on every run). */
export async function maybeSaveHookFixtures(named: Record<string, unknown>): Promise<void> {
  if (process.env.RECORD_CLAUDE_HOOK_FIXTURES !== '1') return;
  await mkdir(HOOK_FIXTURE_DIR, { recursive: true });
  for (const [name, payload] of Object.entries(named)) {
    await writeFile(join(HOOK_FIXTURE_DIR, `${name}.json`), `${JSON.stringify(payload, null, 2)}\n`);
  }
}

/** The runner's note on a message whose earlier turn was interrupted (a provider crash): issue 10, item 1. */
export const RETRY_NOTE = /previous attempt at this message was interrupted/;

/** The text of each user message of a model request, oldest first (tool results included). */
export function userTexts(body: unknown): string[] {
  const messages = (body as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(messages)) return [];
  const textOf = (content: unknown): string => {
    if (typeof content === 'string') return content;
    if (!Array.isArray(content)) return '';
    return content
      .map((b: { text?: unknown; content?: unknown; type?: unknown }) =>
        typeof b?.text === 'string' ? b.text : b?.type === 'tool_result' ? textOf(b.content) : '',
      )
      .join('\n');
  };
  return messages.filter((m: { role?: unknown }) => m?.role === 'user').map((m: { content?: unknown }) => textOf(m.content));
}

/**
 * The fake model of the restart tests. The slow message holds until the CLI is killed; its retry
 * (the runner's interrupted-attempt note) is answered. "Are you back?" is answered from the history
 * the CLI resumed: the original attempt as well as the retry — a fresh session would carry the
 * retry alone — proves the session itself came back.
 */
export function restartScript(call: { lastUserText: string; body: unknown }): { blocks: Array<{ type: 'text'; text: string }>; holdMs?: number } {
  const last = call.lastUserText;
  const say = (t: string) => ({ blocks: [{ type: 'text' as const, text: t }] });
  if (last.includes('take your time')) return RETRY_NOTE.test(last) ? say('Finished the slow one on retry.') : { ...say('never finished'), holdMs: 120_000 };
  // A fresh session carries the slow message once (its retry); a resumed one twice (the original too).
  const copies = userTexts(call.body).join('\n').split('take your time').length - 1;
  return say(copies >= 2 ? 'I remember the slow one.' : 'I lost my memory.');
}
