import type { Logger, LogLevel } from '../ports/logger.js';
import { LOG_LEVELS } from '../ports/logger.js';
import type { PermissionDecision } from '../ports/provider.js';
import type { RelayMessage } from '../ports/relay-http.js';
import type { CommandFrame, CommandResultFrame, RelayBus } from '../ports/relay-bus.js';
import { describeError } from '../shared/describe-error.js';

/** What the relay can ask of the runner over the bus: the parts each frame is routed to. */
export interface BusTarget {
  /** The runner's own operations. */
  runner: {
    stop(): Promise<void>;
    interrupt(): Promise<void>;
    restartProvider(): Promise<void>;
    setLogLevel(level: LogLevel): void;
    recoverAuth(): Promise<void>;
  };
  /** The provider supervision: whether a session is up, and its id. */
  provider: { readonly session: unknown; readonly sessionId: string | undefined };
  /** The permission relay. */
  permissions: { decide(requestId: string, decision: PermissionDecision): boolean };
  /** Delivery: relay messages and the unread catch-up. */
  inbox: { accept(message: RelayMessage): Promise<void>; catchUp(): Promise<void> };
  /** Publish a timeline event. */
  timeline(event: string, data: Record<string, unknown>): void;
}

/**
 * Bus commands: routes every frame the relay sends over the bus to the runner, and answers each
 * `command` frame with exactly one `command.result`.
 * @returns a function that unsubscribes everything.
 */
export function listenToBus(bus: RelayBus, target: BusTarget, logger: Logger): () => void {
  const offs = [
    bus.on('message.new', (frame) => void target.inbox.accept(frame.message)),
    bus.on('command', (frame) => {
      target.timeline('command', { id: frame.id, name: frame.name });
      void runCommand(frame, target, (result) => bus.send(result));
    }),
    bus.on('permission.decision', (frame) => target.permissions.decide(frame.requestId, frame)),
    bus.on('error', (frame) => {
      logger.warn('bus', `relay error ${frame.code}: ${frame.message}`);
      if (frame.code === 'unauthorized' || frame.code === 'token_expired') void target.runner.recoverAuth().catch(() => {});
    }),
    bus.on('state', (event) => {
      logger.info('bus', event.connected ? 'connected' : `disconnected (${event.reason})`);
      target.timeline('bus.state', { connected: event.connected, reason: event.reason });
      if (event.connected) void target.inbox.catchUp();
    }),
  ];
  return () => {
    for (const off of offs.splice(0)) off();
  };
}

/**
 * Run one `command` frame (stop/exit, interrupt, restart, set_log_level, permission_decision) and
 * answer it. A failing or unknown command is answered `ok: false` with a reason, never thrown.
 */
export async function runCommand(frame: CommandFrame, target: BusTarget, reply: (result: CommandResultFrame) => void): Promise<void> {
  const { runner, provider } = target;
  const ok = (result: unknown) => reply({ type: 'command.result', id: frame.id, ok: true, result });
  const fail = (error: string) => reply({ type: 'command.result', id: frame.id, ok: false, error });
  try {
    switch (frame.name) {
      case 'stop':
      case 'exit':
        ok({ stopping: true });
        await runner.stop();
        return;
      case 'interrupt':
        await runner.interrupt();
        ok({ interrupted: Boolean(provider.session) });
        return;
      case 'restart':
        await runner.restartProvider();
        ok({ restarted: true, sessionId: provider.sessionId ?? null });
        return;
      case 'set_log_level': {
        const level = frame.args.level;
        if (typeof level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(level)) {
          fail(`level must be one of ${LOG_LEVELS.join(', ')}`);
          return;
        }
        runner.setLogLevel(level as LogLevel);
        ok({ level });
        return;
      }
      case 'permission_decision': {
        const { requestId, behavior, message } = frame.args;
        if (typeof requestId !== 'string' || (behavior !== 'allow' && behavior !== 'deny')) {
          fail('permission_decision needs requestId and behavior allow|deny');
          return;
        }
        ok({ applied: target.permissions.decide(requestId, typeof message === 'string' ? { behavior, message } : { behavior }) });
        return;
      }
      default:
        fail(`unknown command ${frame.name}`);
    }
  } catch (error) {
    fail(describeError(error));
  }
}
