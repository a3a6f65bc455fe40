import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { ProcessExit } from '../../ports/process-spawner.js';
import type { ProviderDeps, ProviderEvent, ProviderSession, ProviderTurn, TerminalAttachSpec } from '../../ports/provider.js';
import { ProviderError } from '../../errors/index.js';
import { describeError } from '../../shared/describe-error.js';
import { EventFanout } from '../kit/events.js';
import { COMPONENT, sleep } from '../kit/text.js';
import { sanitizeTypedText, screenTail, type HeldTurn, type Settings, type TmuxResult } from './tmux.js';

/** The input box holds text (a human's draft, or a prompt Claude put back after an interrupt). */
const INPUT_NOT_EMPTY = /─{20,}\n❯[^\S\n]*\S/;
/** How long `interrupt()` waits for the running turn to leave the screen. */
const INTERRUPT_SETTLE_MS = 5_000;
/** After an interrupt, how long to watch for the prompt Claude puts back into the input box. */
const PUT_BACK_WATCH_MS = 2_000;
/** After Enter, how long before looking whether the typed turn still sits in the input box. */
const SUBMIT_CONFIRM_MS = 1_500;
/** At most this many extra Enters for one turn. */
const SUBMIT_RETRIES = 2;

/** What the interactive session needs from `start()`. */
export interface SessionParts {
  deps: ProviderDeps;
  settings: Settings;
  tmux: (args: string[], input?: string) => Promise<TmuxResult>;
  dir: string;
  socket: string;
  name: string;
  exitFile: string;
  pid: number | undefined;
  startedAt: number;
  /** A warning to report first (an untested CLI version), if any. */
  startupWarning?: string;
}

/**
 * An interactive Claude session. `dispatch` feeds its listeners from outside (the provider's hook
 * routes); everything about turns comes from the hooks.
 * @internal
 */
export interface ClaudeInteractiveSession extends ProviderSession {
  /** Deliver an event to this session's listeners. */
  dispatch(event: ProviderEvent): void;
}

/** The session over one tmux server: types held turns when the screen is ready, watches for the exit. */
export function createInteractiveSession(p: SessionParts): ClaudeInteractiveSession {
  const { deps, settings, tmux, name } = p;
  const { logger, clock } = deps;
  const events = new EventFanout(logger, 'claude-interactive', p.pid, 1_000);
  const held: HeldTurn[] = [];
  let exitRecord: ProcessExit | undefined;
  let stopping: Promise<ProcessExit> | undefined;
  let typing = false;
  let busyUntil = 0;
  let polling = false;
  let settling = false;
  let resolveExit: (exit: ProcessExit) => void = () => {};
  const exited = new Promise<ProcessExit>((resolve) => {
    resolveExit = resolve;
  });

  /**
   * Turns the UserPromptSubmit hook confirmed, and interrupts: after either, text in the input box
   * is not the typed turn waiting for Enter (it was submitted, or it is an interrupted prompt
   * Claude put back), so the Enter re-press must not fire.
   */
  let confirmedTurns = 0;
  let interrupts = 0;
  /**
   * Events held while a turn is being typed. Claude can run the UserPromptSubmit hook for the
   * turn before the `send-keys Enter` call returns (seen under load), that is before `deliver()`
   * resolves; the runner only counts a turn as consumed once it was injected, so the events wait
   * until the caller of `deliver()` has seen it resolve (one timer tick), and keep their order.
   */
  let heldEvents: ProviderEvent[] | undefined;
  const dispatch = (event: ProviderEvent): void => {
    if (event.type === 'turn.started') confirmedTurns += 1;
    if (heldEvents) heldEvents.push(event);
    else events.dispatch(event);
  };
  const releaseEvents = (): void => {
    clock.setTimeout(() => {
      const pending = heldEvents ?? [];
      heldEvents = undefined;
      for (const event of pending) events.dispatch(event);
    }, 0);
  };
  if (p.startupWarning !== undefined) dispatch({ type: 'warning', message: p.startupWarning, topic: 'version' });

  const capture = async (): Promise<string | undefined> => {
    const result = await tmux(['capture-pane', '-p', '-t', name]).catch(() => undefined);
    return result && result.code === 0 ? result.stdout : undefined;
  };

  const finish = (exit: ProcessExit): void => {
    if (exitRecord) return;
    exitRecord = exit;
    clock.clearInterval(timer);
    for (const h of held.splice(0)) h.reject(new ProviderError(`cannot deliver ${h.turn.deliveryId}: claude exited`, { data: { pid: p.pid } }));
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    logger.info(COMPONENT, `claude (tmux session ${name}) exited with ${how}`);
    // The server has nothing left to serve; the private directory goes with it.
    void tmux(['kill-server'])
      .catch(() => undefined)
      .finally(() => rm(p.dir, { recursive: true, force: true }).catch(() => undefined))
      .finally(() => resolveExit(exit));
  };

  /** The pane's exit, when it is dead or gone; undefined while Claude runs (or tmux could not tell). */
  const paneExit = async (): Promise<ProcessExit | undefined> => {
    const result = await tmux(['display-message', '-p', '-t', name, '#{pane_dead} #{pane_dead_status}']).catch(() => undefined);
    if (!result) return undefined;
    if (result.code !== 0) return readExitFile() ?? { code: null, signal: 'SIGHUP' }; // session gone
    const [dead, status] = result.stdout.trim().split(' ');
    if (dead !== '1') return undefined;
    const code = Number.parseInt(status ?? '', 10);
    return readExitFile() ?? { code: Number.isFinite(code) ? code : null, signal: Number.isFinite(code) ? null : 'SIGKILL' };
  };

  /** Claude ended: say why when it was not asked to (its last screen), then settle. */
  const settle = async (exit: ProcessExit): Promise<void> => {
    if (exitRecord || settling) return;
    settling = true;
    if (!stopping && exit.code !== 0) {
      const screen = await capture();
      if (screen !== undefined && screen.trim() !== '') {
        const message = `claude-interactive: Claude Code exited (${exit.code ?? exit.signal}); its last screen:\n${screenTail(screen)}`;
        logger.warn(COMPONENT, message);
        dispatch({ type: 'warning', message });
      }
    }
    finish(exit);
  };

  const readExitFile = (): ProcessExit | undefined => {
    if (!existsSync(p.exitFile)) return undefined;
    const code = Number.parseInt(readFileSync(p.exitFile, 'utf8').trim(), 10);
    return { code: Number.isFinite(code) ? code : null, signal: null };
  };

  /** Type one turn: paste (bracketed), then Enter. */
  const type = async (h: HeldTurn): Promise<void> => {
    const buffer = `arr-${h.turn.deliveryId}`.replace(/[^A-Za-z0-9_-]/g, '_');
    const loaded = await tmux(['load-buffer', '-b', buffer, '-'], sanitizeTypedText(h.turn.text));
    if (loaded.code !== 0) throw new ProviderError(`tmux load-buffer failed: ${loaded.stderr}`, { data: { deliveryId: h.turn.deliveryId } });
    const pasted = await tmux(['paste-buffer', '-p', '-d', '-b', buffer, '-t', name]);
    if (pasted.code !== 0) throw new ProviderError(`tmux paste-buffer failed: ${pasted.stderr}`, { data: { deliveryId: h.turn.deliveryId } });
    // Let the TUI finish taking the paste before Enter submits it.
    await sleep(clock, 300);
    const entered = await tmux(['send-keys', '-t', name, 'Enter']);
    if (entered.code !== 0) throw new ProviderError(`tmux send-keys failed: ${entered.stderr}`, { data: { deliveryId: h.turn.deliveryId } });
  };

  /**
   * Under load the TUI can take the Enter before it has finished taking the paste, and the turn
   * then sits in the input box, never submitted. Look again after a moment and press Enter once
   * more (at most {@link SUBMIT_RETRIES} times) only while the box still holds text and no turn is
   * running: Enter on an empty box or during a turn is never pressed, so a turn is never sent twice.
   */
  const confirmSubmitted = async (h: HeldTurn, before: { confirmed: number; interrupts: number }): Promise<void> => {
    const settled = () => exitRecord !== undefined || stopping !== undefined || confirmedTurns !== before.confirmed || interrupts !== before.interrupts;
    for (let attempt = 1; attempt <= SUBMIT_RETRIES; attempt++) {
      await sleep(clock, SUBMIT_CONFIRM_MS);
      if (settled()) return;
      const screen = await capture();
      if (settled() || screen === undefined || settings.busyPattern.test(screen) || !INPUT_NOT_EMPTY.test(screen)) return;
      logger.warn(COMPONENT, `claude-interactive: turn ${h.turn.deliveryId} still in the input box after Enter; pressing Enter again (${attempt}/${SUBMIT_RETRIES})`);
      await tmux(['send-keys', '-t', name, 'Enter']);
    }
  };

  const tick = async (): Promise<void> => {
    if (polling || exitRecord) return;
    polling = true;
    try {
      const ended = readExitFile() ?? (await paneExit());
      if (ended) return await settle(ended);
      if (held.length === 0 || typing || stopping) return;
      const screen = await capture();
      if (screen === undefined) return;
      const head = held[0];
      if (!head) return;
      const now = clock.now();
      const busy = settings.busyPattern.test(screen) || now < busyUntil;
      const ready = !busy && settings.readyPattern.test(screen);
      if (!ready) {
        // A running turn is not "not ready": the timeout is for a screen that never offers input.
        if (busy) head.waitingSince = now;
        else if (now - head.waitingSince > settings.readyTimeoutMs) {
          held.shift();
          const message = `claude-interactive: the TUI did not show its input box within ${settings.readyTimeoutMs} ms; screen:\n${screenTail(screen)}`;
          logger.warn(COMPONENT, message);
          dispatch({ type: 'warning', message });
          head.reject(new ProviderError(`cannot deliver ${head.turn.deliveryId}: the Claude Code TUI is not ready for input`, { data: { pid: p.pid } }));
        }
        return;
      }
      held.shift();
      typing = true;
      const before = { confirmed: confirmedTurns, interrupts };
      heldEvents ??= [];
      let released = false;
      try {
        await type(head);
        busyUntil = clock.now() + settings.submitSettleMs;
        logger.debug(COMPONENT, `claude-interactive: typed turn ${head.turn.deliveryId}`);
        // Injected now (the UserPromptSubmit hook may have come already); still typing while confirming.
        head.resolve();
        releaseEvents();
        released = true;
        await confirmSubmitted(head, before);
      } catch (error) {
        head.reject(error instanceof Error ? error : new Error(String(error)));
      } finally {
        if (!released) releaseEvents();
        typing = false;
      }
    } catch (error) {
      logger.warn(COMPONENT, `claude-interactive poll failed: ${describeError(error)}`);
    } finally {
      polling = false;
    }
  };

  const timer = clock.setInterval(() => void tick(), settings.pollMs);
  timer.unref();

  return {
    pid: p.pid,
    exited,
    dispatch,
    deliver(turn: ProviderTurn): Promise<void> {
      if (exitRecord || stopping) {
        return Promise.reject(new ProviderError(`cannot deliver ${turn.deliveryId}: claude is ${stopping ? 'stopping' : 'not running'}`, { data: { pid: p.pid } }));
      }
      return new Promise<void>((resolve, reject) => {
        held.push({ turn, waitingSince: clock.now(), resolve, reject });
        void tick();
      });
    },
    async interrupt(): Promise<void> {
      if (exitRecord || stopping) return;
      interrupts += 1;
      try {
        const before = await capture();
        await tmux(['send-keys', '-t', name, 'Escape']);
        if (before === undefined || !settings.busyPattern.test(before)) return;
        // No hook reports an interrupted turn (Stop does not run), so the adapter ends it once the
        // turn has left the screen.
        const deadline = clock.now() + INTERRUPT_SETTLE_MS;
        let screen: string | undefined;
        while (clock.now() < deadline) {
          await sleep(clock, settings.pollMs);
          screen = await capture();
          if (screen !== undefined && !settings.busyPattern.test(screen)) break;
        }
        // Interrupted before the model answered, Claude puts the prompt back into the input box —
        // under load a moment after the spinner left (seen at load 8), so watch for it a while;
        // clear it (Esc, then "esc again to clear") so it neither blocks nor merges into the next turn.
        const putBackBy = clock.now() + PUT_BACK_WATCH_MS;
        while (screen !== undefined && !INPUT_NOT_EMPTY.test(screen) && clock.now() < putBackBy) {
          await sleep(clock, settings.pollMs);
          screen = await capture();
        }
        if (screen !== undefined && INPUT_NOT_EMPTY.test(screen)) {
          await tmux(['send-keys', '-t', name, 'Escape']);
          await sleep(clock, 300);
          await tmux(['send-keys', '-t', name, 'Escape']);
        }
        busyUntil = clock.now() + settings.submitSettleMs;
        dispatch({ type: 'turn.completed', interrupted: true });
      } catch (error) {
        logger.warn(COMPONENT, `claude-interactive: interrupt not sent: ${describeError(error)}`);
      }
    },
    decidePermission(requestId: string): void {
      // Permission requests arrive through the PermissionRequest hook and are answered there (or
      // left to Claude's own dialog on timeout); nothing reaches the adapter.
      logger.debug(COMPONENT, `claude-interactive: ignored decision for permission request ${requestId} (hooks answer those)`);
    },
    onEvent(listener: (event: ProviderEvent) => void): () => void {
      return events.subscribe(listener);
    },
    attachSpec(): TerminalAttachSpec {
      if (exitRecord) return { kind: 'none' };
      return { kind: 'tmux', command: [settings.tmux, '-S', p.socket, 'attach-session', ...(settings.attachReadOnly ? ['-r'] : []), '-t', name] };
    },
    stop(): Promise<ProcessExit> {
      stopping ??= (async () => {
        if (exitRecord) return exitRecord;
        for (const h of held.splice(0)) h.reject(new ProviderError(`cannot deliver ${h.turn.deliveryId}: claude is stopping`, { data: { pid: p.pid } }));
        // A clean exit runs the SessionEnd hook: Escape clears a running turn or a half-typed line.
        try {
          await tmux(['send-keys', '-t', name, 'Escape']);
          await sleep(clock, 200);
          await tmux(['send-keys', '-t', name, '-l', '/exit']);
          await sleep(clock, 200);
          await tmux(['send-keys', '-t', name, 'Enter']);
        } catch (error) {
          logger.warn(COMPONENT, `claude-interactive: /exit not typed: ${describeError(error)}`);
        }
        const deadline = clock.now() + settings.stopGraceMs;
        while (!exitRecord && clock.now() < deadline) {
          await sleep(clock, settings.pollMs);
          await tick();
        }
        while (settling && !exitRecord) await sleep(clock, settings.pollMs);
        if (!exitRecord) {
          logger.warn(COMPONENT, `claude (tmux session ${name}) did not exit after /exit; killing the tmux server`);
          await tmux(['kill-server']).catch(() => undefined);
          finish(readExitFile() ?? { code: null, signal: 'SIGHUP' });
        }
        return exited;
      })();
      return stopping;
    },
  };
}
