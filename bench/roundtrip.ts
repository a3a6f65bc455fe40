/**
 * The round trip, per provider: relay send → the agent's answer at the sender, with the fake model
 * answering at once, warm, median of N; and the runner's own share of it broken out.
 *
 * Run with `node --import tsx bench/roundtrip.ts [demo] [claude] [claude-mcp] [claude-interactive]
 * [codex] [codex-mcp] [opencode] [opencode-send]` (default: all; the real CLIs come from
 * e2e/install.sh, `npm run build` must have produced dist/ for the `send` CLI). A run of some cases
 * rewrites bench/results/roundtrip.json with those cases only.
 *
 * The answer is the fake model's tool call, and the time ends when the sender, a second runner
 * registered as `alice`, receives that message on its bus:
 * - `claude`, `claude-interactive`, `codex`, `opencode-send`: the tool call runs
 *   `agent-relay-runner send --to alice --reply-to <id>` by absolute path (Claude's Bash tool,
 *   Codex's shell tool, OpenCode's bash tool); Codex on `danger-full-access` (its default sandbox
 *   refuses the script's loopback connection), OpenCode with that absolute command allowed like its
 *   default rules allow `agent-relay-runner send *`;
 * - `claude-mcp`, `codex-mcp`, `opencode`: the relay tools' MCP `reply` tool (server `relay`:
 *   Claude's `mcp__relay__reply`, Codex's `reply` in namespace `mcp__relay` on its DEFAULT sandbox
 *   and approval policy, OpenCode's `relay_reply` over ACP), its control port pointed at the proxy.
 * OpenCode runs offline against the fake OpenAI server's Chat Completions API (the session's first
 * prompt also brings a title call, in the warm-up), with its own XDG dirs and TMPDIR under the run's
 * temp dir. The demo agent has no tools: its answer is its final text, mirrored by the runner as
 * the reply (`session` entry with `replyTo`), and the time ends when the relay receives that POST.
 *
 * Marks (all `performance.now()` in this one process; relay, both runners and the proxies share it):
 * - `send`: just before `relay.sendToAgent` (the relay is in process: its push is part of A1);
 * - `queued`: the runner's `delivery` event `queued` (frame received, parsed, accepted);
 * - `deliver`: the provider session's `deliver()` called (a wrapper around the adapter);
 * - `toolIn`: the first bytes of `POST /send` (the `send` cases) or `POST /reply` (the MCP cases)
 *   at a TCP proxy in front of the control port (the shim and the MCP server's environment point
 *   at it); for the demo, the `turn.completed` event leaving the adapter;
 * - `relayPost`: the first bytes of the runner's `POST /v1/messages` or `/v1/events/batch` at a
 *   TCP proxy in front of the relay (after `toolIn`) that carries the reply (a `message` item to
 *   alice with this turn's body; the mirror's `session` items may go out before it);
 * - `atSender`: `alice`'s runner accepts the reply (its `delivery` event `queued`).
 * Runner share = (queued → deliver) + (toolIn → relayPost); A1 (send → queued: the relay's push,
 * loopback, the runner's frame parsing) is reported beside it.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createRunner, type Runner } from '../src/create-runner.js';
import type { ProviderAdapter, ProviderEvent, ProviderSession } from '../src/ports/provider.js';
import { silentProvider } from './silent-provider.js';
import { createDemoProvider } from '../src/providers/demo/provider.js';
import { createClaudeCodeProvider } from '../src/providers/claude/headless.js';
import { createClaudeInteractiveProvider } from '../src/providers/claude/interactive.js';
import { createCodexProvider } from '../src/providers/codex/provider.js';
import { createOpenCodeProvider } from '../src/providers/opencode/provider.js';
import { createFakeAnthropicServer, type FakeAnthropicServer } from '../src/testing/fake-anthropic-server.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../src/testing/fake-openai-server.js';
import { createRelayDevServer } from '../src/testing/relay-dev-server/index.js';
import { createMemoryLogger } from '../src/testing/memory-logger.js';

const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const TURNS = Number(process.env.BENCH_TURNS ?? 15);
const root = new URL('..', import.meta.url).pathname;
const CONTROL_TOKEN = 'bench-roundtrip-control-token';
const CLI = join(root, 'dist', 'cli', 'main.js');

/** A TCP pass-through that notes when each HTTP request line goes by, and what followed it. */
interface Proxy {
  port: number;
  /** `at`: when the chunk with the request line arrived; `text`: that request's bytes (latin1, capped). */
  requests: Array<{ at: number; line: string; text: string }>;
  close(): Promise<void>;
}

async function startProxy(targetPort: () => number | undefined): Promise<Proxy> {
  const requests: Proxy['requests'] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const port = targetPort();
    if (!port) return void client.destroy();
    const upstream = connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    // The request this connection is sending: later chunks (the body) are appended to its text.
    let current: Proxy['requests'][number] | undefined;
    client.on('data', (chunk: Buffer) => {
      const at = performance.now();
      const text = chunk.toString('latin1');
      const starts = [...text.matchAll(/^(GET|POST|PUT|PATCH|DELETE) (\S+) HTTP\/1\.1/gm)];
      if (starts.length === 0 && current && current.text.length < 65_536) current.text += text;
      starts.forEach((m, k) => {
        current = { at, line: `${m[1]} ${m[2]}`, text: text.slice(m.index, starts[k + 1]?.index) };
        requests.push(current);
      });
    });
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The adapter, with `deliver()` calls and `turn.completed` events noted. */
function instrumented(inner: ProviderAdapter, marks: { deliver: Map<string, number>; completed: number[] }): ProviderAdapter {
  return {
    ...inner,
    checkVersion: (deps) => inner.checkVersion(deps),
    async start(launch, deps) {
      const session = await inner.start(launch, deps);
      return {
        ...session,
        pid: session.pid,
        exited: session.exited,
        deliver: (turn) => {
          marks.deliver.set(turn.sender?.messageId ?? turn.deliveryId, performance.now());
          return session.deliver(turn);
        },
        interrupt: () => session.interrupt(),
        decidePermission: (id, d) => session.decidePermission(id, d),
        attachSpec: () => session.attachSpec(),
        stop: () => session.stop(),
        onEvent: (listener: (event: ProviderEvent) => void) =>
          session.onEvent((event) => {
            if (event.type === 'turn.completed') marks.completed.push(performance.now());
            listener(event);
          }),
      };
    },
  };
}

interface Sample {
  total: number;
  relayPush: number;
  inject: number;
  agent: number;
  outbound: number;
  toSender: number;
  runnerShare: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] ?? NaN) : ((s[s.length / 2 - 1] ?? 0) + (s[s.length / 2] ?? 0)) / 2;
};
const r1 = (x: number) => Math.round(x * 10) / 10;

type Provider = 'demo' | 'claude' | 'claude-mcp' | 'claude-interactive' | 'codex' | 'codex-mcp' | 'opencode' | 'opencode-send';

/** The cases whose answer is the relay tools' MCP `reply` tool (its control request is `POST /reply`). */
const MCP_CASES: readonly Provider[] = ['claude-mcp', 'codex-mcp', 'opencode'];

/** How each case answers (reported with its numbers). */
const ANSWER: Record<Provider, string> = {
  demo: 'final text mirrored by the runner (no tool)',
  claude: "`agent-relay-runner send` by absolute path from Claude's Bash tool",
  'claude-mcp': "the relay tools' MCP `reply` tool (mcp__relay__reply)",
  'claude-interactive': "`agent-relay-runner send` by absolute path from Claude's Bash tool (TUI in tmux)",
  codex: "`agent-relay-runner send` by absolute path from Codex's shell tool (danger-full-access sandbox)",
  'codex-mcp': "the relay tools' MCP `reply` tool (`reply` in namespace mcp__relay), Codex's default sandbox and approval policy",
  opencode: "the relay tools' MCP `reply` tool (relay_reply), OpenCode over ACP",
  'opencode-send': "`agent-relay-runner send` by absolute path from OpenCode's bash tool",
};

async function measure(name: Provider): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), `arr-bench-rt-${name}-`));
  const relay = await createRelayDevServer();
  const relayPort = Number(new URL(relay.url).port);
  const relayProxy = await startProxy(() => relayPort);
  let runner: Runner | undefined;
  const controlProxy = await startProxy(() => (runner?.controlUrl ? Number(new URL(runner.controlUrl).port) : undefined));
  // The CLI the agent runs, by absolute path, pointed at the control proxy.
  const bin = join(dir, 'bin');
  await mkdir(bin, { recursive: true });
  const shim = join(bin, 'agent-relay-runner');
  await writeFile(shim, `#!/bin/sh\nAGENT_RELAY_RUNNER_PORT=${controlProxy.port} AGENT_RELAY_RUNNER_TOKEN=${CONTROL_TOKEN} exec '${process.execPath}' '${CLI}' "$@"\n`);
  await chmod(shim, 0o755);
  const sendCommand = (id: string, n: string) => `${shim} send --to alice --reply-to ${id} "pong ${n}"`;
  const relayMessage = (text: string) => /\[relay message (\S+) from alice[^\n]*\n(?:[\s\S]*\n)?ping (\d+)/.exec(text);

  const marks = { deliver: new Map<string, number>(), completed: [] as number[] };
  let adapter: ProviderAdapter;
  let model: FakeAnthropicServer | FakeOpenAIServer | undefined;
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: join(dir, 'home') };
  await mkdir(env.HOME!, { recursive: true });
  if (name === 'demo') {
    adapter = createDemoProvider();
  } else if (name === 'claude' || name === 'claude-mcp' || name === 'claude-interactive') {
    const anthropic = await createFakeAnthropicServer((call) => {
      const m = relayMessage(call.lastUserText);
      if (process.env.BENCH_DEBUG) console.error('MODEL CALL', JSON.stringify(call.lastUserText.slice(-300)), Boolean(m));
      if (m && name === 'claude-mcp') return { blocks: [{ type: 'tool_use', name: 'mcp__relay__reply', input: { message_id: m[1]!, body: `pong ${m[2]!}` } }] };
      if (m) return { blocks: [{ type: 'tool_use', name: 'Bash', input: { command: sendCommand(m[1]!, m[2]!), description: 'answer alice' } }] };
      return { blocks: [{ type: 'text', text: 'sent' }] };
    });
    model = anthropic;
    await mkdir(join(env.HOME!, '.claude'), { recursive: true });
    Object.assign(env, {
      CLAUDE_CONFIG_DIR: join(env.HOME!, '.claude'),
      ANTHROPIC_BASE_URL: anthropic.url,
      ANTHROPIC_API_KEY: 'sk-ant-bench-dummy',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
      DISABLE_AUTOUPDATER: '1',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    });
    // The shim is named by absolute path, which the default `Bash(agent-relay-runner send:*)` rule does not match.
    const claudeOptions = { command: join(root, 'e2e/node_modules/.bin/claude'), allowedTools: ['Bash'] };
    if (name === 'claude') {
      adapter = createClaudeCodeProvider(claudeOptions);
    } else if (name === 'claude-mcp') {
      // The relay tools' MCP server inherits Claude's environment: point it (and the hooks) at the proxy.
      adapter = createClaudeCodeProvider({ command: claudeOptions.command, env: { AGENT_RELAY_RUNNER_PORT: String(controlProxy.port) } });
    } else {
      // First-run state the TUI needs before it takes input: onboarding done, the cwd trusted, the dummy key approved.
      const config = {
        hasCompletedOnboarding: true,
        customApiKeyResponses: { approved: ['sk-ant-bench-dummy'.slice(-20)], rejected: [] },
        projects: { [dir]: { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true, allowedTools: [] } },
      };
      await writeFile(join(env.HOME!, '.claude', '.claude.json'), JSON.stringify(config), { mode: 0o600 });
      // The TUI defaults to "auto" permission mode, whose server-side check cannot pass the fake
      // model server and which sets the allowedTools rules aside: use the rule-based default mode.
      adapter = createClaudeInteractiveProvider({ ...claudeOptions, extraArgs: ['--permission-mode', 'default'] });
    }
  } else if (name === 'opencode' || name === 'opencode-send') {
    const openai = await createFakeOpenAIServer((call) => {
      // The session's first prompt also brings a title call (no tools offered): give it a title.
      if (call.toolNames.length === 0) return { output: [{ type: 'text', text: 'A title' }] };
      const m = relayMessage(call.lastUserText);
      if (m && !call.afterToolOutput && name === 'opencode') return { output: [{ type: 'function_call', name: 'relay_reply', arguments: { message_id: m[1]!, body: `pong ${m[2]!}` } }] };
      if (m && !call.afterToolOutput) return { output: [{ type: 'shell', command: sendCommand(m[1]!, m[2]!) }] };
      return { output: [{ type: 'text', text: 'sent' }] };
    });
    model = openai;
    adapter = createOpenCodeProvider({
      command: join(root, 'e2e/node_modules/.bin/opencode'),
      // Its own XDG dirs (and a TMPDIR per run under them, which the provider makes and removes).
      stateDir: join(dir, 'opencode-state'),
      modelProvider: { id: 'fake', baseUrl: openai.baseUrl, models: ['fake-model'], apiKeyEnv: 'FAKE_OPENAI_API_KEY' },
      // AGENT_RELAY_RUNNER_PORT reaches the relay tools' MCP server (`{env:…}` in the config): the proxy.
      env: { FAKE_OPENAI_API_KEY: 'sk-fake-not-a-secret', OPENCODE_DISABLE_MODELS_FETCH: '1', AGENT_RELAY_RUNNER_PORT: String(controlProxy.port) },
      // The default rules allow `agent-relay-runner send *` without asking; the shim is named by
      // absolute path, so allow that path the same way (everything else still asks).
      ...(name === 'opencode-send' ? { permission: { bash: { '*': 'ask', [`${shim} send *`]: 'allow' }, edit: 'ask', webfetch: 'ask' } } : {}),
    });
  } else {
    const openai = await createFakeOpenAIServer((call) => {
      const m = relayMessage(call.lastUserText);
      if (m && !call.afterToolOutput && name === 'codex-mcp') {
        return { output: [{ type: 'function_call', namespace: 'mcp__relay', name: 'reply', arguments: { message_id: m[1]!, body: `pong ${m[2]!}` } }] };
      }
      if (m && !call.afterToolOutput) return { output: [{ type: 'shell', command: sendCommand(m[1]!, m[2]!) }] };
      return { output: [{ type: 'text', text: 'sent' }] };
    });
    model = openai;
    const codexHome = join(dir, 'codex-home');
    await mkdir(codexHome, { recursive: true, mode: 0o700 });
    const codexOptions = {
      command: join(root, 'e2e/node_modules/.bin/codex'),
      codexHome,
      model: 'gpt-fake',
      modelProvider: { id: 'fake', baseUrl: openai.baseUrl, envKey: 'FAKE_OPENAI_API_KEY' },
      config: { 'model_providers.fake.request_max_retries': '0', 'model_providers.fake.stream_max_retries': '0' },
    };
    adapter =
      name === 'codex-mcp'
        ? // Codex's default sandbox (workspace-write) and approval policy (on-request): the MCP tool
          // is pre-approved and its server runs outside the sandbox. The port reaches the server
          // through env_vars from Codex's environment: point it at the proxy.
          createCodexProvider({ ...codexOptions, env: { FAKE_OPENAI_API_KEY: 'sk-fake-not-a-secret', AGENT_RELAY_RUNNER_PORT: String(controlProxy.port) } })
        : // The default workspace-write sandbox blocks the `send` script's loopback connection.
          createCodexProvider({ ...codexOptions, env: { FAKE_OPENAI_API_KEY: 'sk-fake-not-a-secret' }, approvalPolicy: 'never', sandbox: 'danger-full-access' });
  }

  const proxiedRelay = `http://127.0.0.1:${relayProxy.port}`;
  const logger = createMemoryLogger({ level: process.env.BENCH_DEBUG ? 'debug' : 'info' });
  runner = createRunner({
    name: `bench-${name}`,
    relayUrl: proxiedRelay,
    apiKey: relay.apiKey,
    provider: instrumented(adapter, marks),
    cwd: dir,
    dataDir: join(dir, 'data'),
    logger,
    env,
    control: { token: CONTROL_TOKEN },
  });
  const alice = createRunner({
    name: 'alice',
    relayUrl: relay.url,
    apiKey: relay.apiKey,
    provider: silentProvider(),
    cwd: dir,
    dataDir: join(dir, 'alice'),
    logger: createMemoryLogger({ level: 'warn' }),
    env: { PATH: process.env.PATH ?? '' },
  });
  const queued = new Map<string, number>();
  const sent = new Map<string, number>();
  const atAlice = new Map<string, number>();
  runner.on('delivery', (d) => void (d.state === 'queued' && queued.set(d.messageId, performance.now())));
  runner.on('sent', (e) => void (e.replyTo && sent.set(e.replyTo, performance.now())));
  alice.on('delivery', (d) => {
    const n = d.state === 'queued' ? /^pong (\d+)$/.exec(d.excerpt ?? '')?.[1] : undefined;
    if (n) atAlice.set(n, performance.now());
  });

  const samples: Sample[] = [];
  const load: number[] = [];
  try {
    await alice.start();
    await runner.start();
    const agentId = runner.agentId!;
    for (let i = 0; i < WARMUP + TURNS; i++) {
      while (runner.status.state !== 'idle') await new Promise((r) => setTimeout(r, 5));
      const n = String(i);
      const completedBefore = marks.completed.length;
      const t0 = performance.now();
      const message = relay.sendToAgent(agentId, { from: 'alice', body: `ping ${n}` });
      let end = 0;
      let toolIn = 0;
      for (const deadline = t0 + 60_000; ; ) {
        if (name === 'demo') {
          toolIn = marks.completed[completedBefore] ?? 0;
          const post = toolIn ? relayProxy.requests.find((q) => q.at >= toolIn && /^POST \/v1\/(messages|events)/.test(q.line)) : undefined;
          if (post) end = post.at;
        } else {
          end = atAlice.get(n) ?? 0;
        }
        if (end) break;
        if (performance.now() > deadline) {
          if (process.env.BENCH_DEBUG) {
            console.error(logger.lines().slice(-60).join('\n'));
            const spec = (await (await fetch(`${runner.controlUrl}/terminal`, { headers: { authorization: `Bearer ${CONTROL_TOKEN}` } })).json()) as { command?: string[] };
            if (spec.command) console.error(execFileSync(spec.command[0]!, [spec.command[1]!, spec.command[2]!, 'capture-pane', '-p'], { encoding: 'utf8' }));
          }
          throw new Error(`${name}: no answer to turn ${i}`);
        }
        await new Promise((r) => setTimeout(r, 1));
      }
      // The sender may have the reply before the runner's own commit of it (which no longer holds the POST back).
      for (const until = performance.now() + 2_000; name !== 'demo' && !sent.has(message.id) && performance.now() < until; ) await new Promise((r) => setTimeout(r, 1));
      const tQueued = queued.get(message.id) ?? NaN;
      const tDeliver = marks.deliver.get(message.id) ?? NaN;
      const toolRequest = MCP_CASES.includes(name) ? 'POST /reply' : 'POST /send';
      if (name !== 'demo') toolIn = controlProxy.requests.find((q) => q.at >= tDeliver && q.line === toolRequest)?.at ?? NaN;
      // The POST that carries the reply: a `message` item to alice with this turn's body. The
      // mirror's own entries (the prompt, the tool step: `session` items, no `to`) may go out first.
      const carriesReply = (text: string) => name === 'demo' || (text.includes('"to":"alice"') && text.includes(`"body":"pong ${n}"`));
      const tPost = relayProxy.requests.find((q) => q.at >= toolIn && /^POST \/v1\/(messages|events)/.test(q.line) && carriesReply(q.text))?.at ?? NaN;
      const tSent = sent.get(message.id);
      const sample: Sample = {
        total: end - t0,
        relayPush: tQueued - t0,
        inject: tDeliver - tQueued,
        agent: toolIn - tDeliver,
        outbound: tPost - toolIn,
        toSender: end - tPost,
        runnerShare: tDeliver - tQueued + (tPost - toolIn),
      };
      if (tSent !== undefined) (sample as Sample & { durable?: number }).durable = tSent - toolIn;
      if (i >= WARMUP) {
        samples.push(sample);
        load.push(loadavg()[0] ?? NaN);
      }
    }
  } finally {
    await runner.stop().catch(() => {});
    await alice.stop().catch(() => {});
    await model?.close().catch(() => {});
    await controlProxy.close();
    await relayProxy.close();
    await relay.close();
    await rm(dir, { recursive: true, force: true, maxRetries: 5 });
  }
  const pick = (k: keyof Sample | 'durable') => r1(median(samples.map((s) => (s as unknown as Record<string, number>)[k] ?? NaN)));
  return {
    provider: name,
    answer: ANSWER[name],
    turns: samples.length,
    medianMs: {
      total: pick('total'),
      relayPush_sendToQueued: pick('relayPush'),
      runner_queuedToDeliver: pick('inject'),
      agent_deliverToToolIn: pick('agent'),
      runner_toolInToRelayPost: pick('outbound'),
      ...(name === 'demo' ? {} : { runner_toolInToDurable: pick('durable') }),
      relay_postToSender: pick('toSender'),
      runnerShare: pick('runnerShare'),
    },
    runnerShareMaxMs: r1(Math.max(...samples.map((s) => s.runnerShare))),
    loadAverage1m: { min: r1(Math.min(...load)), max: r1(Math.max(...load)) },
  };
}

const ALL: readonly Provider[] = ['demo', 'claude', 'claude-mcp', 'claude-interactive', 'codex', 'codex-mcp', 'opencode', 'opencode-send'];
const wanted = process.argv.slice(2).filter((a): a is Provider => (ALL as readonly string[]).includes(a));
const names = wanted.length > 0 ? wanted : ALL;
if (names.some((n) => n !== 'demo')) execFileSync('bash', [join(root, 'e2e/install.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
const results = [];
for (const name of names) {
  const result = await measure(name);
  console.log(JSON.stringify(result, null, 2));
  results.push(result);
}
const out = {
  bench: 'roundtrip',
  at: new Date().toISOString(),
  machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
  warmup: WARMUP,
  bar: { runnerShareMedianMs: 10 },
  results,
};
await mkdir(join(root, 'bench/results'), { recursive: true });
await writeFile(join(root, 'bench/results/roundtrip.json'), `${JSON.stringify(out, null, 2)}\n`);
