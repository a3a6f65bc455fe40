/**
 * The interactive session's typing and Enter re-press against a scripted tmux (no TUI, fake clock):
 * the orderings seen on a loaded machine, replayed deterministically.
 */
import { describe, expect, it } from 'vitest';
import { createInteractiveSession } from '../../src/providers/claude/interactive-session.js';
import type { Settings, TmuxResult } from '../../src/providers/claude/tmux.js';
import type { ProviderTurn } from '../../src/ports/provider.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';

const RULE = '─'.repeat(40);
const EMPTY_BOX = `Claude Code\n${RULE}\n❯ \n${RULE}\n`;
const boxWith = (text: string) => `Claude Code\n${RULE}\n❯ ${text}\n${RULE}\n`;

function rig() {
  const clock = createFakeClock();
  const logger = createMemoryLogger({ level: 'debug' });
  let screen = EMPTY_BOX;
  const keys: string[] = [];
  const hooks = { onEnter: () => {} };
  const tmux = async (args: string[]): Promise<TmuxResult> => {
    const ok = (stdout = ''): TmuxResult => ({ code: 0, stdout, stderr: '' }) as TmuxResult;
    if (args[0] === 'capture-pane') return ok(screen);
    if (args[0] === 'display-message') return ok('0 ');
    if (args[0] === 'send-keys') keys.push(args.slice(3).join(' '));
    if (args[0] === 'send-keys' && args.at(-1) === 'Enter') hooks.onEnter();
    return ok();
  };
  const settings: Settings = {
    tmux: 'tmux',
    columns: 200,
    rows: 50,
    pollMs: 100,
    readyTimeoutMs: 60_000,
    readyPattern: /─{20,}\n❯[^\S\n]*\n/,
    busyPattern: /esc to interrupt/i,
    submitSettleMs: 1_000,
    stopGraceMs: 1_000,
    tmuxTimeoutMs: 5_000,
    attachReadOnly: true,
  };
  const session = createInteractiveSession({
    deps: { spawner: { spawn: () => Promise.reject(new Error('no processes here')) }, logger, clock },
    settings,
    tmux,
    dir: '/nonexistent/arr-test',
    socket: '/nonexistent/arr-test/socket',
    name: 'arr-test',
    exitFile: '/nonexistent/arr-test/exit',
    pid: 4242,
    startedAt: clock.now(),
  });
  return { clock, logger, session, keys, hooks, setScreen: (s: string) => (screen = s) };
}

const turn: ProviderTurn = { deliveryId: 'd1-m1', text: 'think forever', sender: { from: 'alice', messageId: 'm1', expectsReply: false } };
const enters = (keys: string[]) => keys.filter((k) => k === 'Enter').length;

describe('Claude interactive session: typing and the Enter re-press', () => {
  it('never presses Enter again once the UserPromptSubmit hook confirmed the turn, even if text is back in the box (an interrupt)', async () => {
    const r = rig();
    const delivered = r.session.deliver(turn);
    await r.clock.advanceAsync(100); // a poll: the screen is ready, the turn is typed
    await r.clock.advanceAsync(300); // the paste settles, Enter
    await delivered;
    expect(enters(r.keys)).toBe(1);
    // The hook confirms the turn; then (interrupted before the model answered) Claude puts the
    // prompt back into the input box. That text is not a turn waiting for Enter.
    r.session.dispatch({ type: 'turn.started', prompt: 'think forever' });
    r.setScreen(boxWith('think forever'));
    for (let i = 0; i < 40; i++) await r.clock.advanceAsync(100);
    expect(enters(r.keys)).toBe(1);
  });

  it('never presses Enter again after an interrupt, even without a confirmation', async () => {
    const r = rig();
    const delivered = r.session.deliver(turn);
    await r.clock.advanceAsync(100);
    await r.clock.advanceAsync(300);
    await delivered;
    r.setScreen(boxWith('think forever'));
    void r.session.interrupt();
    for (let i = 0; i < 80; i++) await r.clock.advanceAsync(100);
    expect(enters(r.keys)).toBe(1);
  });

  it('still presses Enter again (bounded) when the typed turn sits in the box unconfirmed', async () => {
    const r = rig();
    const delivered = r.session.deliver(turn);
    await r.clock.advanceAsync(100);
    r.setScreen(boxWith('think forever')); // the TUI took the Enter before the paste
    await r.clock.advanceAsync(300);
    await delivered;
    for (let i = 0; i < 80; i++) await r.clock.advanceAsync(100);
    expect(enters(r.keys)).toBe(3); // the first Enter and at most two more
    expect(r.logger.lines().filter((l) => /still in the input box after Enter/.test(l))).toHaveLength(2);
  });

  it('holds the UserPromptSubmit confirmation that arrives before send-keys returns until deliver() has resolved', async () => {
    const r = rig();
    const order: string[] = [];
    r.session.onEvent((e) => order.push(e.type));
    // Under load the hook for the turn reaches the runner before the tmux call pressing Enter returns.
    r.hooks.onEnter = () => r.session.dispatch({ type: 'turn.started', prompt: 'think forever' });
    const delivered = r.session.deliver(turn).then(() => order.push('delivered'));
    await r.clock.advanceAsync(100);
    await r.clock.advanceAsync(300);
    await delivered;
    await r.clock.advanceAsync(1);
    expect(order).toEqual(['delivered', 'turn.started']);
  });

  it('clears the prompt Claude puts back into the box after an interrupt, also when it comes back late', async () => {
    const r = rig();
    const delivered = r.session.deliver(turn);
    await r.clock.advanceAsync(100);
    await r.clock.advanceAsync(300);
    await delivered;
    r.setScreen(`${EMPTY_BOX}esc to interrupt\n`);
    for (let i = 0; i < 40; i++) await r.clock.advanceAsync(100); // past the re-press window
    const events: string[] = [];
    r.session.onEvent((e) => events.push(e.type));
    const interrupted = r.session.interrupt();
    await r.clock.advanceAsync(1);
    // The spinner goes at once; the prompt comes back into the box 600 ms later (a loaded machine).
    r.setScreen(EMPTY_BOX);
    for (let i = 0; i < 6; i++) await r.clock.advanceAsync(100);
    r.setScreen(boxWith('[Pasted text #1 +10 lines]'));
    for (let i = 0; i < 40; i++) await r.clock.advanceAsync(100);
    await interrupted;
    expect(r.keys.filter((k) => k === 'Escape')).toHaveLength(3); // the interrupt, then Esc Esc to clear
    expect(events).toContain('turn.completed');
  });
});

