/**
 * A scripted stand-in for `codex app-server` behind the ProcessSpawner port: it answers the
 * handshake, `thread/start` and `turn/start` (announcing each turn with `turn/started`), records
 * every message the adapter writes, and lets a test end turns and ask for approvals as Codex does
 * on the wire (JSON-RPC lines). No process, no timers of its own.
 */
import type { ProcessExit, ProcessSpawner, SpawnedProcess, SpawnRequest } from '../../src/ports/process-spawner.js';

type Listener = (line: string) => void;
type Message = { id?: number | string; method?: string; params?: Record<string, unknown>; result?: unknown; error?: unknown };

export interface FakeAppServer {
  spawner: ProcessSpawner;
  /** Every message the adapter wrote, in order. */
  written: Message[];
  /** The spawn requests seen. */
  spawns: SpawnRequest[];
  /** The texts of every `turn/start` the adapter sent, in order. */
  turnTexts(): string[];
  /** Ids of the turns started so far, in order (`turn-1`, `turn-2`, …). */
  turnIds: string[];
  /** End a turn: an agent message (when `text` is given), then `turn/completed` with `status`. */
  completeTurn(turnId: string, options?: { text?: string; status?: 'completed' | 'interrupted' | 'failed' }): void;
  /** Ask for approval of a file change in `turnId` (v2); returns the request id. */
  askFileChange(turnId: string, path: string): number;
  /** The answer the adapter wrote to server request `id`, if any. */
  answerTo(id: number): Message | undefined;
  /** Let the adapter's pending promise callbacks run. */
  settle(): Promise<void>;
}

/**
 * @param options.mcpStartup - what a registered `relay` MCP server does after `thread/start`:
 * report `ready` (default) or `failed`, or never report (a server that hangs)
 */
export function createFakeAppServer(options: { mcpStartup?: 'ready' | 'failed' | 'never' } = {}): FakeAppServer {
  const stdout = new Set<Listener>();
  const written: Message[] = [];
  const spawns: SpawnRequest[] = [];
  const turnIds: string[] = [];
  let nextServerRequest = 1000;
  let resolveExit!: (exit: ProcessExit) => void;
  const exited = new Promise<ProcessExit>((r) => (resolveExit = r));
  const emit = (message: Record<string, unknown>) => {
    const line = JSON.stringify({ jsonrpc: '2.0', ...message });
    for (const listener of stdout) listener(line);
  };
  const onMessage = (message: Message) => {
    written.push(message);
    if (message.id === undefined || message.method === undefined) return;
    switch (message.method) {
      case 'initialize':
        return emit({ id: message.id, result: { userAgent: 'fake' } });
      case 'thread/start':
      case 'thread/resume': {
        emit({ id: message.id, result: { thread: { id: 'thread-1' } } });
        // As Codex does: the thread's MCP servers start after the thread, in the background.
        const registered = spawns.some((s) => s.args.some((a) => a.startsWith('mcp_servers.relay.command=')));
        const outcome = options.mcpStartup ?? 'ready';
        if (!registered || outcome === 'never') return;
        emit({ method: 'mcpServer/startupStatus/updated', params: { threadId: 'thread-1', name: 'relay', status: 'starting', error: null, failureReason: null } });
        queueMicrotask(() =>
          emit({ method: 'mcpServer/startupStatus/updated', params: { threadId: 'thread-1', name: 'relay', status: outcome, error: outcome === 'failed' ? 'handshake failed' : null, failureReason: null } }),
        );
        return;
      }
      case 'turn/start': {
        const turnId = `turn-${turnIds.length + 1}`;
        turnIds.push(turnId);
        // As Codex does: the turn is announced before the request is answered.
        emit({ method: 'turn/started', params: { threadId: 'thread-1', turn: { id: turnId, items: [], status: 'inProgress' } } });
        return emit({ id: message.id, result: { turn: { id: turnId, items: [], status: 'inProgress' } } });
      }
      case 'turn/interrupt':
        return emit({ id: message.id, result: {} });
      default:
        return emit({ id: message.id, error: { code: -32601, message: `fake: ${message.method}` } });
    }
  };
  const child: SpawnedProcess = {
    pid: 4242,
    async write(text: string) {
      for (const line of text.split('\n')) if (line.trim()) onMessage(JSON.parse(line) as Message);
    },
    endInput: () => resolveExit({ code: 0, signal: null }),
    stdout: { onLine: (l) => (stdout.add(l), () => stdout.delete(l)) },
    stderr: { onLine: () => () => undefined },
    exited,
    kill: async () => (resolveExit({ code: null, signal: 'SIGKILL' }), exited),
  };
  const server: FakeAppServer = {
    spawner: { spawn: async (request) => (spawns.push(request), child) },
    written,
    spawns,
    turnIds,
    turnTexts: () =>
      written
        .filter((m) => m.method === 'turn/start')
        .map((m) => ((m.params?.input as Array<{ text: string }>) ?? []).map((i) => i.text).join('')),
    completeTurn(turnId, options = {}) {
      if (options.text !== undefined) {
        emit({ method: 'item/completed', params: { threadId: 'thread-1', turnId, item: { type: 'agentMessage', id: `msg-${turnId}`, text: options.text } } });
      }
      emit({ method: 'turn/completed', params: { threadId: 'thread-1', turn: { id: turnId, items: [], status: options.status ?? 'completed', error: null } } });
    },
    askFileChange(turnId, path) {
      const id = nextServerRequest++;
      const itemId = `patch-${id}`;
      emit({ method: 'item/started', params: { threadId: 'thread-1', turnId, item: { type: 'fileChange', id: itemId, changes: [{ path, kind: { type: 'add' }, diff: '' }], status: 'inProgress' } } });
      emit({ id, method: 'item/fileChange/requestApproval', params: { threadId: 'thread-1', turnId, itemId, reason: null } });
      return id;
    },
    answerTo: (id) => written.find((m) => m.id === id && m.method === undefined),
    settle: async () => {
      for (let i = 0; i < 5; i++) await new Promise<void>((r) => queueMicrotask(r));
    },
  };
  return server;
}
