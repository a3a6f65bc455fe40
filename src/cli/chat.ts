/**
 * `agent-relay-runner chat --as <name>`: a person on a relay, in the terminal. The person is
 * registered as an agent named <name>; `@worker-1 text` sends to worker-1, plain text goes to the
 * default target. Messages to the person arrive on the bus; session-mirror lines and status of the
 * agents the person talks to come from the reference relay's dev feed (`chat-feed.ts`).
 * `node:readline` keeps the prompt line intact around incoming lines; without a TTY, lines are
 * read from stdin, sent, and the command exits at EOF once answers are in (or `--wait` passed).
 */
import { randomUUID } from 'node:crypto';
import { clearLine, createInterface, cursorTo } from 'node:readline';
import { Command, Option } from 'commander';
import { createFetchRelayHttp, type FetchRelayHttp } from '../adapters/fetch-relay-http.js';
import { createWsRelayBus } from '../adapters/ws-relay-bus.js';
import { RelayUnavailableError, RunnerError } from '../errors/index.js';
import type { RelayBus, RelayMessage } from '../ports/index.js';
import { readFeed, describeAgentState } from './chat-feed.js';
import { clockTime, cliClock, errorLine, oneLine, positiveInt, processOutput, readCliVersion, sleep, type CliOutput } from './common.js';
import { DEFAULT_RELAY_URL, DEV_WORKSPACE_KEY } from './relay.js';

/** How often the dev feed is polled. */
const FEED_POLL_MS = 300;

/** Default bound of the wait for answers after EOF on a non-TTY stdin. */
export const DEFAULT_CHAT_WAIT_MS = 10_000;

interface ChatFlags {
  as: string;
  relay: string;
  key: string;
  to?: string;
  wait: number;
}

/** Build the `chat` command. */
export function chatCommand(output: CliOutput = processOutput): Command {
  return new Command('chat')
    .description('talk to agents on a relay as a person (registered as an agent named --as)')
    .requiredOption('--as <name>', 'your name on the relay (1–64 of A-Z a-z 0-9 _ . -)')
    .addOption(new Option('--relay <url>', 'relay base URL').env('AGENT_RELAY_URL').default(DEFAULT_RELAY_URL))
    .addOption(new Option('--key <key>', 'workspace key (prefer the env var: flags show up in ps)').env('AGENT_RELAY_API_KEY').default(DEV_WORKSPACE_KEY))
    .option('--to <agent>', 'where plain lines go (else write "@agent text")')
    .addOption(
      new Option('--wait <ms>', 'without a terminal: after end of input, wait this long at most for answers')
        .argParser(positiveInt('--wait'))
        .default(DEFAULT_CHAT_WAIT_MS),
    )
    .action(async (flags: ChatFlags) => {
      process.exitCode = await chat(flags, output);
    });
}

/** Who a typed line goes to and what it says; `undefined` target means "no default set". */
export function parseChatLine(line: string, defaultTarget: string | undefined): { to: string | undefined; body: string } {
  const match = /^@([A-Za-z0-9_.-]+)\s+([\s\S]+)$/.exec(line.trim());
  if (match) return { to: match[1], body: match[2]!.trim() };
  return { to: defaultTarget, body: line.trim() };
}

/** Sent messages and what came back for them. */
interface Sent {
  to: string;
  answered: boolean;
}

/** Run a chat; resolves with the exit code. */
async function chat(flags: ChatFlags, output: CliOutput): Promise<number> {
  const name = flags.as.trim();
  const relayUrl = flags.relay.trim().replace(/\/+$/, '');
  const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  let token: string | undefined;
  const http: FetchRelayHttp = createFetchRelayHttp({ baseUrl: relayUrl, token: () => token, apiKey: () => flags.key, clock: cliClock, timeoutMs: 5_000 });
  // Registering an existing name hands out that agent's identity: never take over a live one.
  // Only the reference relay's dev feed can tell; elsewhere the name is the person's to choose well.
  const live = await readFeed(relayUrl, flags.key, Number.MAX_SAFE_INTEGER).catch(() => undefined);
  if (live?.agents.some((a) => a.name === name && a.connected)) {
    throw new RunnerError('INVALID_ARGUMENT', `an agent named ${name} is connected to ${relayUrl} already; chat under another --as`);
  }
  let agentId: string;
  try {
    const registered = await http.register({ name, provider: 'person', runnerVersion: readCliVersion(), metadata: { client: 'agent-relay-runner chat' } });
    token = registered.token;
    agentId = registered.agent.id;
  } catch (error) {
    if (error instanceof RelayUnavailableError) {
      throw new RunnerError('RELAY_UNAVAILABLE', `no relay at ${relayUrl} (${errorLine(error)}); start one with: agent-relay-runner relay`, { cause: error });
    }
    throw new RunnerError('RELAY_HTTP', `the relay at ${relayUrl} refused to register ${name}: ${errorLine(error)}`, { cause: error });
  }

  const rl = createInterface({ input: process.stdin, ...(tty ? { output: process.stdout } : {}), terminal: tty, prompt: `${name}> `, historySize: 500 });
  // On a terminal readline turns Ctrl-C into this event (and only pauses without a listener).
  rl.on('SIGINT', () => rl.close());
  const onSignal = () => rl.close();
  process.once('SIGTERM', onSignal);
  if (!tty) process.once('SIGINT', onSignal);
  // An incoming line must not tear the half-typed one: clear it, print, let readline redraw it.
  const print = (text: string) => {
    if (tty) {
      clearLine(process.stdout, 0);
      cursorTo(process.stdout, 0);
    }
    output.line(text);
    if (tty) rl.prompt(true);
  };
  const say = (who: string, text: string, at = cliClock.now()) => print(`${clockTime(at)}  ${who.padEnd(12)} ${text}`);

  let defaultTarget = flags.to?.trim() || undefined;
  const watched = new Set<string>(defaultTarget ? [defaultTarget] : []);
  const sent = new Map<string, Sent>();
  const owed = new Map<string, string>(); // sender name → the last message of theirs that expects a reply
  const seen = new Set<string>();

  const showIncoming = (message: RelayMessage) => {
    if (seen.has(message.id)) return;
    seen.add(message.id);
    const answered = message.replyTo ? sent.get(message.replyTo) : undefined;
    if (answered) answered.answered = true;
    if (message.expectsReply) owed.set(message.from, message.id);
    const notes = [message.replyTo ? `re ${message.replyTo}` : '', message.expectsReply ? 'expects a reply' : ''].filter(Boolean).join(', ');
    say(message.from, `${message.body}${notes ? `  (${notes})` : ''}`, message.createdAt);
    for (const attachment of message.attachments) say('', `attachment ${attachment.name} (${attachment.size} bytes)`, message.createdAt);
    void http.markRead(agentId, [message.id]).catch(() => {});
  };

  const bus: RelayBus = createWsRelayBus({ url: `${relayUrl.replace(/^http/, 'ws')}/v1/bus`, agentId, token: () => token, clock: cliClock });
  bus.on('message.new', (frame) => showIncoming(frame.message));
  let closing = false;
  bus.on('state', (event) => {
    if (closing) return; // our own close is no news
    if (event.connected) {
      say('relay', `connected to ${relayUrl} as ${name}`);
      // Whatever arrived while the bus was down.
      void http.pollUnread(agentId).then((messages) => messages.forEach(showIncoming), () => {});
    } else {
      const retry = event.retryInMs !== undefined ? `, retry in ${Math.max(1, Math.round(event.retryInMs / 1000))} s` : '';
      say('relay', `disconnected (${event.reason})${retry}`);
    }
  });
  bus.on('error', (frame) => {
    say('relay', `bus error ${frame.code}: ${frame.message}`);
    if (frame.code === 'unauthorized') {
      void http.renewToken(agentId).then((grant) => ((token = grant.token), bus.reconnect('token renewed')), () => {});
    }
  });
  bus.connect();

  const stopFeed = followFeed(relayUrl, flags.key, {
    say,
    watched,
    sent,
    unavailable: () => say('relay', 'this relay shows other agents only the messages sent to them: no session mirror or status here'),
  });

  say('chat', `${name} on ${relayUrl}${defaultTarget ? `; plain lines go to ${defaultTarget}` : ''}. "@agent text" sends to an agent; /help lists commands`);
  if (tty) rl.prompt();

  const pending = new Set<Promise<void>>();
  const send = (to: string, body: string) => {
    watched.add(to);
    const replyTo = owed.get(to);
    owed.delete(to);
    const task = http
      .sendMessage({ to, body, expectsReply: true, occurredAt: cliClock.now(), idempotencyKey: `chat-${randomUUID()}`, ...(replyTo ? { replyTo } : {}) })
      .then(
        ({ message }) => {
          sent.set(message.id, { to, answered: false });
          say('you', `→ ${to}  ${message.id} stored by the relay${replyTo ? `, answering ${replyTo}` : ''}`, message.createdAt);
        },
        (error: unknown) => say('error', `not sent to ${to}: ${errorLine(error)}`),
      );
    pending.add(task);
    void task.finally(() => pending.delete(task));
  };

  let quit: () => void = () => {};
  const ended = new Promise<void>((resolve) => (quit = resolve));
  rl.on('line', (line) => {
    const text = line.trim();
    if (text === '') return tty ? rl.prompt() : undefined;
    if (text.startsWith('/')) {
      const [command, arg] = text.split(/\s+/, 2);
      if (command === '/quit' || command === '/exit') return rl.close();
      if (command === '/to' && arg) {
        defaultTarget = arg;
        watched.add(arg);
        say('chat', `plain lines now go to ${arg}`);
      } else say('chat', '@agent text: send to agent · plain text: send to the default target · /to <agent>: set it · /quit (or Ctrl-D)');
      return;
    }
    const { to, body } = parseChatLine(text, defaultTarget);
    if (!to) return say('chat', 'no default target: write "@agent text", or set one with /to <agent> (or --to)');
    if (tty) {
      // readline leaves the typed line on screen; replace it with a stamped copy.
      process.stdout.moveCursor?.(0, -1);
      say('you', `@${to} ${oneLine(body, 400)}`);
    } else say('you', `@${to} ${oneLine(body, 400)}`);
    send(to, body);
  });
  rl.on('close', () => quit());

  await ended;
  try {
    await Promise.all([...pending]);
    if (!tty) await drain(sent, flags.wait, say);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    stopFeed();
    closing = true;
    await bus.close();
  }
  if (tty) output.line('');
  return 0;
}

/** After EOF without a terminal: wait until every sent message is answered, at most `waitMs`. */
async function drain(sent: Map<string, Sent>, waitMs: number, say: (who: string, text: string) => void): Promise<void> {
  const deadline = cliClock.now() + waitMs;
  while (cliClock.now() < deadline && [...sent.values()].some((s) => !s.answered)) await sleep(50);
  for (const [id, s] of sent) if (!s.answered) say('chat', `no answer from ${s.to} to ${id} within ${waitMs} ms`);
}

interface FeedSinks {
  say: (who: string, text: string, at?: number) => void;
  watched: Set<string>;
  sent: Map<string, Sent>;
  unavailable: () => void;
}

/** Poll the dev feed: mirror lines about the person's messages, status changes of watched agents. */
function followFeed(relayUrl: string, apiKey: string, sinks: FeedSinks): () => void {
  let after: number | undefined;
  let stopped = false;
  const lastState = new Map<string, string>();
  const poll = async () => {
    const page = await readFeed(relayUrl, apiKey, after ?? 0).catch(() => null);
    if (stopped || page === null) return true; // relay unreachable right now: the bus line says so
    if (page === undefined) {
      sinks.unavailable();
      return false;
    }
    for (const agent of page.agents) {
      if (!sinks.watched.has(agent.name)) continue;
      const state = describeAgentState(agent);
      if (lastState.get(agent.name) === state) continue;
      lastState.set(agent.name, state);
      sinks.say(agent.name, `is ${state}`);
    }
    // The first page only sets the cursor: history is not news.
    if (after !== undefined) {
      for (const m of page.messages) {
        const mine = m.replyTo ? sinks.sent.get(m.replyTo) : undefined;
        if (m.kind !== 'session' || !mine) continue;
        if (m.entry === 'reply') mine.answered = true;
        const label = m.entry === 'prompt' ? `took ${m.replyTo} (consumed)` : `[${m.entry ?? 'session'}] ${oneLine(m.body, 400)}`;
        sinks.say(m.from, label, m.createdAt);
      }
    }
    after = after === undefined ? page.lastSeq : (page.messages.at(-1)?.seq ?? after);
    return true;
  };
  void (async () => {
    while (!stopped && (await poll())) await sleep(FEED_POLL_MS);
  })();
  return () => {
    stopped = true;
  };
}
