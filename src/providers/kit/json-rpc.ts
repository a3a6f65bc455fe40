import type { Clock } from '../../ports/clock.js';
import { ProviderError } from '../../errors/index.js';
import { describeError } from '../../shared/describe-error.js';
import { asObject, str, type Json } from './json.js';
import type { JsonLinesProcess } from './process-session.js';
import { COMPONENT } from './text.js';


interface PendingRequest {
  method: string;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<Clock['setTimeout']> | undefined;
}

/** Options of one {@link JsonRpcClient.request}. */
export interface JsonRpcRequestOptions {
  /** How long to wait for the answer; `false`: as long as the process lives. @defaultValue the client's `requestTimeoutMs` */
  timeoutMs?: number | false;
}

/** Where the client hands what the server sends on its own. */
export interface RpcHandlers {
  /** A server → client request (it waits for {@link JsonRpcClient.respond}). */
  onServerRequest(id: number | string, method: string, params: unknown): void;
  /** A notification. */
  onNotification(method: string, params: unknown): void;
}

/**
 * A JSON-RPC 2.0 client over the JSON lines of a {@link JsonLinesProcess} (`codex app-server`,
 * `opencode acp`, any agent speaking JSON-RPC on stdio): numbered requests with a timeout on the
 * clock, notifications, answers to server requests, and the routing of what comes back. Requests
 * still open when the process exits are rejected (call {@link JsonRpcClient.failAll} from `onExit`).
 * Messages name the process by its `who` (`codex`, `opencode`).
 */
export class JsonRpcClient {
  readonly #pending = new Map<number, PendingRequest>();
  #nextId = 1;

  constructor(
    private readonly proc: JsonLinesProcess,
    private readonly requestTimeoutMs: number,
  ) {}

  get #who(): string {
    return this.proc.settings.who;
  }

  /** Route one stdout object; a string return says it is not a JSON-RPC message. */
  route(message: Json, handlers: RpcHandlers): string | void {
    const method = str(message.method);
    const id = message.id;
    const hasId = typeof id === 'number' || typeof id === 'string';
    if (method !== undefined && hasId) handlers.onServerRequest(id, method, message.params);
    else if (method !== undefined) handlers.onNotification(method, message.params);
    else if (hasId) this.#onResponse(id, message);
    else return 'a JSON-RPC message without method or id';
  }

  /** Reject every request still waiting (the process is gone). */
  failAll(): void {
    for (const [id, pending] of this.#pending) {
      this.proc.deps.clock.clearTimeout(pending.timer);
      pending.reject(new ProviderError(`${this.#who} exited before answering ${pending.method}`, { data: { pid: this.proc.pid } }));
      this.#pending.delete(id);
    }
  }

  /** Send a notification. */
  notify(method: string, params?: unknown): Promise<void> {
    return this.proc.writeRaw(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }, `send ${method}`);
  }

  /** Send a request; resolves with its result, rejects with `ProviderError` (error answer, timeout, exit). */
  request(method: string, params: unknown, options: JsonRpcRequestOptions = {}): Promise<unknown> {
    return this.send(method, params, options).result;
  }

  /**
   * Send a request and tell apart the two moments a long request has: `sent` settles once the line
   * was written (a turn was handed over), `result` with the answer (the turn ended). `timeoutMs`
   * `false` waits for the answer as long as the process lives (a turn may take hours).
   */
  send(method: string, params: unknown, options: JsonRpcRequestOptions = {}): { sent: Promise<void>; result: Promise<unknown> } {
    const { proc } = this;
    if (proc.exit) {
      const error = new ProviderError(`cannot call ${method}: ${this.#who} is not running`, { data: { pid: proc.pid } });
      const rejected = Promise.reject(error);
      rejected.catch(() => undefined);
      return { sent: rejected, result: rejected };
    }
    const id = this.#nextId++;
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    let sent!: Promise<void>;
    const result = new Promise<unknown>((resolve, reject) => {
      let timer: ReturnType<Clock['setTimeout']> | undefined;
      if (timeoutMs !== false) {
        timer = proc.deps.clock.setTimeout(() => {
          this.#pending.delete(id);
          reject(new ProviderError(`${this.#who} did not answer ${method} within ${timeoutMs} ms`, { data: { pid: proc.pid, method } }));
        }, timeoutMs);
        timer.unref();
      }
      this.#pending.set(id, { method, resolve, reject, timer });
      sent = proc.writeRaw({ jsonrpc: '2.0', id, method, params }, `send ${method} to ${this.#who}`);
      sent.catch((error: unknown) => {
        proc.deps.clock.clearTimeout(timer);
        this.#pending.delete(id);
        reject(error);
      });
    });
    return { sent, result };
  }

  /** Answer a server request. */
  respond(id: number | string, result: unknown): void {
    this.#answer(id, { jsonrpc: '2.0', id, result }, 'answer');
  }

  /** Refuse a server request (by default -32601, method not supported). */
  respondError(id: number | string, message: string, code = -32601): void {
    this.#answer(id, { jsonrpc: '2.0', id, error: { code, message } }, 'error answer');
  }

  #answer(id: number | string, message: Json, what: string): void {
    if (this.proc.exit) return;
    this.proc.writeRaw(message, `write ${what}`).catch((error: unknown) => {
      this.proc.deps.logger.warn(COMPONENT, `${this.#who} (pid ${this.proc.pid}): ${what} to request ${String(id)} not written: ${describeError(error)}`);
    });
  }

  #onResponse(id: number | string, message: Json): void {
    const pending = typeof id === 'number' ? this.#pending.get(id) : undefined;
    if (!pending) {
      this.proc.deps.logger.debug(COMPONENT, `${this.#who} (pid ${this.proc.pid}): response to unknown request ${String(id)}`);
      return;
    }
    this.#pending.delete(id as number);
    this.proc.deps.clock.clearTimeout(pending.timer);
    const error = asObject(message.error);
    if (error) {
      pending.reject(
        new ProviderError(`${this.#who} ${pending.method} failed: ${str(error.message) ?? JSON.stringify(error)}`, { data: { pid: this.proc.pid, method: pending.method } }),
      );
      return;
    }
    pending.resolve(message.result);
  }
}
