import type { Clock } from '../../ports/clock.js';
import { str } from '../kit/json.js';

/** The settled startup states of an MCP server (`McpServerStartupState` of the 0.169 protocol, minus `starting`). */
const SETTLED = new Set(['ready', 'failed', 'cancelled']);

/** A server's startup state as Codex last reported it. */
export interface McpStartupState {
  status: string;
  error: string | undefined;
}

/**
 * The startup states of a thread's MCP servers, from `mcpServer/startupStatus/updated`
 * (`{ name, status, error }`, read loosely: the type is not among the generated protocol files).
 * Codex starts a thread's MCP servers in the background and runs turns meanwhile, so a session
 * that registered the relay tools waits here before it counts as open: a first turn would
 * otherwise call a tool that is not there yet ("unsupported call: mcp__relay…").
 */
export class McpStartupWatch {
  readonly #states = new Map<string, McpStartupState>();
  #changed: (() => void) | undefined;

  /** Record one notification; returns the server name and status for the log, if it was well formed. */
  update(params: Record<string, unknown>): { name: string; status: string } | undefined {
    const name = str(params.name);
    const status = str(params.status);
    if (name === undefined || status === undefined) return undefined;
    this.#states.set(name, { status, error: str(params.error) });
    this.#changed?.();
    return { name, status };
  }

  /**
   * Resolve with the server's settled state, or undefined when `timeoutMs` passed first or `alive()`
   * turned false (checked on every update).
   */
  async settled(name: string, timeoutMs: number, clock: Clock, alive: () => boolean): Promise<McpStartupState | undefined> {
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    try {
      return await new Promise<McpStartupState | undefined>((resolve) => {
        const check = () => {
          const state = this.#states.get(name);
          if (state && SETTLED.has(state.status)) resolve(state);
          else if (!alive()) resolve(undefined);
        };
        this.#changed = check;
        timer = clock.setTimeout(() => resolve(undefined), timeoutMs);
        check();
      });
    } finally {
      if (timer) clock.clearTimeout(timer);
      this.#changed = undefined;
    }
  }

  /** Wake a waiter (the process exited). */
  poke(): void {
    this.#changed?.();
  }
}
