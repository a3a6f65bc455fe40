/**
 * `agent-relay-runner send`: what an agent runs to answer on the relay. The message goes to the
 * runner's control port (`POST /send`) and from there through the durable outbox.
 */
import { Command } from 'commander';
import { addControlOptions, callControl, resolveControlTarget, unexpectedAnswer, type ControlFlags } from './control-client.js';
import { processOutput, usageError, type CliOutput } from './common.js';
import { FIELD_LIMITS } from '../protocol/relay-fields.js';

/** Longest message body the relay accepts, in characters (docs/protocol.md, "Limits"). */
const MAX_BODY_CHARS = FIELD_LIMITS.messageBody;
/** Most bytes read from stdin: a body of MAX_BODY_CHARS characters takes at most 3 bytes each. */
const MAX_BODY_BYTES = 3 * MAX_BODY_CHARS;

interface SendFlags extends ControlFlags {
  to: string;
  replyTo?: string;
  json?: boolean;
}

/** Build the `send` command. */
export function sendCommand(output: CliOutput = processOutput): Command {
  const command = new Command('send')
    .description('send a relay message as this agent (through the runner\'s control port and outbox)')
    .argument('[body...]', 'message text; read from stdin when omitted')
    .requiredOption('--to <agent>', 'recipient (agent or user name)')
    .option('--reply-to <messageId>', 'the relay message this answers (clears the reply you owe)')
    .option('--json', 'print the result as one JSON line');
  addControlOptions(command);
  return command.action(async (words: string[], flags: SendFlags) => {
    const target = resolveControlTarget(flags);
    const to = flags.to.trim();
    if (to === '') throw usageError('--to must name a recipient');
    const body = words.length > 0 ? words.join(' ') : await readStdin();
    if (body.trim() === '') throw usageError('the message body is empty: pass it as arguments or on stdin');
    // The relay refuses longer bodies; refused here, the agent learns it now rather than never.
    if (body.length > MAX_BODY_CHARS) {
      throw usageError(`the message body has ${body.length} characters; the relay accepts at most ${MAX_BODY_CHARS}: shorten it or split it into several messages`);
    }
    const replyTo = flags.replyTo?.trim();
    const answer = await callControl(target, 'POST', '/send', { to, body, ...(replyTo ? { replyTo } : {}) });
    const seq = (answer.body as { seq?: unknown } | undefined)?.seq;
    if (typeof seq !== 'number') throw unexpectedAnswer('/send');
    if (flags.json) output.json({ ok: true, seq, to, ...(replyTo ? { replyTo } : {}) });
    else output.line(`queued for ${to} (outbox seq ${seq})${replyTo ? `, replying to ${replyTo}` : ''}`);
  });
}

/** The whole of stdin as UTF-8; a terminal on stdin means the user forgot the body. */
async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw usageError('no message body: pass it as arguments or pipe it on stdin');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw usageError(`the message body is larger than the relay accepts (${MAX_BODY_CHARS} characters)`);
    chunks.push(buffer);
  }
  // A trailing newline from `echo` or a heredoc is not part of the message.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
