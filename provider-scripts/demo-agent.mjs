#!/usr/bin/env node
/**
 * demo-agent — the scripted demo provider of agent-relay-runner.
 *
 * A real child process that answers user turns deterministically, emitting the same kinds of events
 * a real provider does. The `demo` command and the runner's integration tests drive it; it has no
 * dependencies so it starts fast (tests spawn it many times).
 *
 * Usage:
 *   node demo-agent.mjs                     start a new session (random session id)
 *   node demo-agent.mjs --resume <id>       start with session id <id> (source "resume"); nothing else is remembered
 *   node demo-agent.mjs --reply-prefix <p>  answer "<p> <line>" instead of "Echo: <line>"
 *   node demo-agent.mjs --version           print "demo-agent <version>" and exit 0
 * Unknown arguments are reported as a `warning` event, never fatal.
 *
 * Protocol: JSON lines.
 *   stdin   {"type":"user","deliveryId":"...","text":"...","sender":{...}}
 *           {"type":"interrupt"}
 *           {"type":"permission_decision","requestId":"...","behavior":"allow"|"deny","message":"..."}
 *   stdout  events shaped like the runner's ProviderEvent:
 *           version, session, turn.started {deliveryId, turnId, prompt}, reasoning, tool, permission,
 *           subagent, assistant, turn.completed {turnId, finalText | interrupted}, usage, warning.
 * A garbled or unknown stdin line yields a `warning` event; it never crashes the agent.
 * When stdin closes the agent exits 0 at once (pending turns are abandoned): that is how the
 * runner stops it gracefully.
 *
 * Answers (directives may appear anywhere in the turn text):
 *   default            "Echo: <last non-empty line>", directives removed from that line (the runner
 *                      prepends a context block and a sender header, so only the last line is echoed)
 *   [slow:<ms>]        the turn takes <ms> milliseconds (interruptible)
 *   [tool:<name>]      a tool step: tool started, then completed (repeatable)
 *   [tool-fail:<name>] a tool step that fails: tool started, then failed
 *   [permission:<t>]   emits a `permission` event for tool <t> and waits for the decision, then
 *                      answers "permission allowed" or "permission denied: <message>"
 *   [subagent]         a subagent start … stop around the turn's work
 *   [env:<NAME>]       answers "env NAME=<value>" (or "env NAME is unset")
 *   [env]              answers "env" and then its whole environment, one NAME=value a line
 *   [cwd]              answers "cwd <working directory>"
 *   [garbage]          writes one line that is not JSON to stdout (to test the adapter's parser)
 *   [crash]            exits with code 1 mid-turn (after turn.started and reasoning)
 *   [exit]             completes the turn, then exits 0
 * Every turn emits turn.started, one reasoning step, assistant, turn.completed and usage, in that
 * order (tool/permission/subagent events in between). Turns that arrive mid-turn are queued and
 * answered in order. {"type":"interrupt"} ends the current turn with turn.completed
 * {interrupted: true} (a pending permission request is abandoned); with no turn running it is ignored.
 */
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';

const VERSION = '1.0.0';
const WINDOW_TOKENS = 200_000;

// --- arguments -------------------------------------------------------------------------------
const argv = process.argv.slice(2);
let resumeId;
let replyPrefix = 'Echo:';
let versionOnly = false;
const unknownArgs = [];
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i];
  if (arg === '--version' || arg === '-v') {
    versionOnly = true;
  } else if (arg === '--resume' && i + 1 < argv.length) {
    resumeId = argv[++i];
  } else if (arg === '--reply-prefix' && i + 1 < argv.length) {
    replyPrefix = argv[++i];
  } else {
    unknownArgs.push(arg);
  }
}

// --- output ----------------------------------------------------------------------------------
let dying = false;
// The runner may be gone (EPIPE); there is nobody left to answer.
process.stdout.on('error', () => process.exit(0));

function emit(event) {
  if (dying) return;
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function exitAfterFlush(code) {
  dying = true;
  // The write callback fires after every earlier write was flushed, so no event is lost on exit.
  process.stdout.write('', () => process.exit(code));
}

// --- turns -----------------------------------------------------------------------------------
const ABORTED = Symbol('aborted');
const queue = [];
let current; // { turnId, controller }
let turnCounter = 0;
let usedTokens = 0;
const pendingPermissions = new Map(); // requestId -> resolve(decision | ABORTED)

const DIRECTIVE = /\[(?:slow|tool|tool-fail|permission|env):[^\]]*\]|\[(?:subagent|crash|exit|garbage|cwd|env)\]/g;

function lastLine(text) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const last = lines.length > 0 ? lines[lines.length - 1] : '';
  return last.replace(DIRECTIVE, ' ').replace(/\s+/g, ' ').trim();
}

function parseDirectives(text) {
  const slow = /\[slow:(\d+)\]/.exec(text);
  const permission = /\[permission:([^\]]+)\]/.exec(text);
  const env = /\[env:([A-Za-z_][A-Za-z0-9_]*)\]/.exec(text);
  const tools = [];
  for (const m of text.matchAll(/\[(tool|tool-fail):([^\]]+)\]/g)) tools.push({ name: m[2], fail: m[1] === 'tool-fail' });
  return {
    slowMs: slow ? Number(slow[1]) : 0,
    permissionTool: permission ? permission[1] : undefined,
    envName: env ? env[1] : undefined,
    tools,
    subagent: text.includes('[subagent]'),
    crash: text.includes('[crash]'),
    exit: text.includes('[exit]'),
    garbage: text.includes('[garbage]'),
    cwd: text.includes('[cwd]'),
    envAll: text.includes('[env]'),
  };
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(ABORTED);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(undefined);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(ABORTED);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function waitForPermission(requestId, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(ABORTED);
    const onAbort = () => {
      pendingPermissions.delete(requestId);
      resolve(ABORTED);
    };
    pendingPermissions.set(requestId, (decision) => {
      signal.removeEventListener('abort', onAbort);
      pendingPermissions.delete(requestId);
      resolve(decision);
    });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function estimateTokens(text) {
  return Math.ceil(text.length / 4);
}

async function runTurn(message) {
  const turnId = `turn-${++turnCounter}`;
  const controller = new AbortController();
  current = { turnId, controller };
  const text = message.text;
  const d = parseDirectives(text);
  const line = lastLine(text);
  const started = { type: 'turn.started', turnId, prompt: text };
  if (typeof message.deliveryId === 'string') started.deliveryId = message.deliveryId;
  emit(started);

  const subagentId = `subagent-${turnCounter}`;
  if (d.subagent) emit({ type: 'subagent', phase: 'start', id: subagentId });
  const finish = (payload) => {
    if (d.subagent) emit({ type: 'subagent', phase: 'stop', id: subagentId });
    emit({ type: 'turn.completed', turnId, ...payload });
  };

  emit({ type: 'reasoning', text: line === '' ? 'Thinking about an empty message.' : `Thinking about: ${line}` });
  if (d.garbage) process.stdout.write('demo-agent: this line is deliberately not JSON {\n');
  if (d.crash) {
    process.stderr.write('demo-agent: crashing on request ([crash])\n');
    exitAfterFlush(1);
    return new Promise(() => undefined); // never settles: the process is going away
  }
  for (const tool of d.tools) {
    emit({ type: 'tool', name: tool.name, summary: `demo step using ${tool.name}`, status: 'started' });
    emit({ type: 'tool', name: tool.name, summary: `demo step using ${tool.name}`, status: tool.fail ? 'failed' : 'completed' });
  }

  let reply;
  if (d.permissionTool !== undefined) {
    const requestId = `perm-${turnCounter}-${randomUUID().slice(0, 8)}`;
    emit({ type: 'permission', requestId, tool: d.permissionTool, summary: `demo wants to use ${d.permissionTool}` });
    const decision = await waitForPermission(requestId, controller.signal);
    if (decision === ABORTED) return finish({ interrupted: true });
    reply =
      decision.behavior === 'allow'
        ? 'permission allowed'
        : `permission denied: ${typeof decision.message === 'string' && decision.message !== '' ? decision.message : 'no reason given'}`;
  }
  if (d.slowMs > 0 && (await sleep(d.slowMs, controller.signal)) === ABORTED) return finish({ interrupted: true });

  if (reply === undefined && d.envName !== undefined) {
    const value = process.env[d.envName];
    reply = value === undefined ? `env ${d.envName} is unset` : `env ${d.envName}=${value}`;
  }
  if (reply === undefined && d.envAll) {
    reply = ['env', ...Object.entries(process.env).map(([name, value]) => `${name}=${value}`)].join('\n');
  }
  if (reply === undefined && d.cwd) reply = `cwd ${process.cwd()}`;
  reply ??= line === '' ? replyPrefix : `${replyPrefix} ${line}`;

  emit({ type: 'assistant', text: reply });
  finish({ finalText: reply });
  usedTokens += estimateTokens(text) + estimateTokens(reply);
  emit({ type: 'usage', usedTokens, windowTokens: WINDOW_TOKENS });
  if (d.exit) exitAfterFlush(0);
}

function pump() {
  if (current || dying || queue.length === 0) return;
  const message = queue.shift();
  runTurn(message).then(
    () => {
      current = undefined;
      pump();
    },
    (error) => {
      // A bug in this script: say so on stdout (the runner logs warnings) and keep serving.
      current = undefined;
      emit({ type: 'warning', message: `demo-agent: turn failed: ${error instanceof Error ? error.message : String(error)}` });
      pump();
    },
  );
}

// --- input -----------------------------------------------------------------------------------
function warnLine(reason, line) {
  const shown = line.length > 200 ? `${line.slice(0, 200)}…` : line;
  emit({ type: 'warning', message: `demo-agent: ${reason}: ${shown}` });
}

function handleLine(line) {
  if (dying || line.trim() === '') return;
  let message;
  try {
    message = JSON.parse(line);
  } catch {
    return warnLine('ignored stdin line that is not JSON', line);
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    return warnLine('ignored stdin line that is not a JSON object', line);
  }
  switch (message.type) {
    case 'user':
      if (typeof message.text !== 'string') return warnLine('ignored user turn without a text string', line);
      queue.push(message);
      return pump();
    case 'interrupt':
      // Only the running turn is interrupted; queued turns still get answered.
      current?.controller.abort();
      return;
    case 'permission_decision': {
      const resolve = typeof message.requestId === 'string' ? pendingPermissions.get(message.requestId) : undefined;
      if (!resolve) return warnLine('ignored decision for no pending permission request', line);
      if (message.behavior !== 'allow' && message.behavior !== 'deny') {
        return warnLine('ignored permission decision without behavior allow|deny', line);
      }
      return resolve({ behavior: message.behavior, message: message.message });
    }
    default:
      return warnLine('ignored stdin line of unknown type', line);
  }
}

if (versionOnly) {
  // No process.exit(): exiting naturally lets stdout flush even where pipes are asynchronous.
  process.stdout.write(`demo-agent ${VERSION}\n`);
} else {
  emit({ type: 'version', version: VERSION });
  emit({ type: 'session', sessionId: resumeId ?? randomUUID(), source: resumeId ? 'resume' : 'startup' });
  if (unknownArgs.length > 0) emit({ type: 'warning', message: `demo-agent: ignored unknown arguments: ${unknownArgs.join(' ')}` });

  const input = createInterface({ input: process.stdin, crlfDelay: Infinity });
  input.on('line', handleLine);
  input.on('close', () => exitAfterFlush(0));
}
