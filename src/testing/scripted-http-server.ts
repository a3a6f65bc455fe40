/**
 * The skeleton shared by the scripted fake model servers (Anthropic, OpenAI): a loopback
 * `node:http` server that records every request, sleeps on an injected clock, tracks sockets so
 * `close()` can cut open streams, and answers from a queue or a function script. Internal: each
 * fake server keeps its own wire format and public types.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Clock, TimerHandle } from '../ports/clock.js';
import { ClosedError } from '../errors/index.js';
import { readRequestBody } from '../adapters/http-body.js';
import { describeError } from '../shared/describe-error.js';

const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** One request as received (the fields both fake servers record). */
export interface RecordedHttpRequest {
  seq: number;
  method: string;
  url: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: string;
  body: unknown;
  receivedAt: number;
}

/** What {@link startScriptedHttpServer} needs from a fake server. */
export interface ScriptedHttpServerOptions<R extends RecordedHttpRequest> {
  clock: Clock;
  /** Port to listen on (127.0.0.1). */
  port?: number | undefined;
  /** Called after each request is recorded. */
  onRequest?: ((request: R) => void) | undefined;
  /** Answers one recorded request. */
  route(request: R, res: ServerResponse): Promise<void>;
  /** The JSON body of a 500 answer when `route` throws (in the API's error format). */
  internalErrorBody(message: string): unknown;
  /** Name used in the `ClosedError` of a late `push`. */
  name: string;
}

/** A running skeleton: its port, the recorded requests, a clock sleep and close. */
export interface ScriptedHttpServer<R extends RecordedHttpRequest> {
  readonly port: number;
  readonly requests: R[];
  /** Whether `close()` was called. */
  readonly closed: boolean;
  /** Sleep on the server's clock; pending sleeps are cancelled by `close()`. */
  sleep(ms: number): Promise<void>;
  /** Throw a `ClosedError` if closed (for `push`). */
  assertOpen(): void;
  /** Stop listening and cut open streams. */
  close(): Promise<void>;
}

/** A queue script (answers in order, then `fallback`) or a function script. */
export function createScriptPicker<Call, Resp>(
  script: ((call: Call) => Resp | Promise<Resp>) | readonly Resp[],
  fallback: Resp,
): { pick(call: Call): Promise<Resp>; queue: Resp[] } {
  const queue: Resp[] = typeof script === 'function' ? [] : [...script];
  return {
    queue,
    async pick(call: Call): Promise<Resp> {
      if (typeof script === 'function') return script(call);
      return queue.shift() ?? fallback;
    },
  };
}

/** Start the skeleton on 127.0.0.1 and resolve once it listens. */
export async function startScriptedHttpServer<R extends RecordedHttpRequest>(options: ScriptedHttpServerOptions<R>): Promise<ScriptedHttpServer<R>> {
  const { clock } = options;
  const requests: R[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<TimerHandle>();
  let closed = false;

  const sleep = (ms: number): Promise<void> =>
    ms <= 0
      ? Promise.resolve()
      : new Promise((resolve) => {
          const timer = clock.setTimeout(() => {
            timers.delete(timer);
            resolve();
          }, ms);
          timers.add(timer);
        });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const rawBody = await readBody(req);
    const url = req.url ?? '/';
    const path = url.split('?')[0] ?? url;
    let body: unknown;
    try {
      body = rawBody === '' ? undefined : JSON.parse(rawBody);
    } catch {
      body = undefined;
    }
    const recorded: RecordedHttpRequest = {
      seq: requests.length + 1,
      method: req.method ?? 'GET',
      url,
      path,
      headers: { ...req.headers },
      rawBody,
      body,
      receivedAt: clock.now(),
    };
    // Both fake servers' request types are exactly these fields.
    const request = recorded as R;
    requests.push(request);
    options.onRequest?.(request);
    await options.route(request, res);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify(options.internalErrorBody(`fake server: ${describeError(error)}`)));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    port,
    requests,
    get closed() {
      return closed;
    },
    sleep,
    assertOpen() {
      if (closed) throw new ClosedError(options.name);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const timer of timers) clock.clearTimeout(timer);
      timers.clear();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await done;
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const body = await readRequestBody(req, MAX_BODY_BYTES);
  if (!body.ok) {
    req.destroy();
    throw new Error('request body too large');
  }
  return body.text;
}
