// `percpu-stress trace [FILE]`: stream requests through the single-CPU
// replay (src/run/trace.ts), answers to stdout as they are computed.

import { createReadStream } from 'node:fs';
import { TRACE as TRACE_INPUT, TRACE_LINE_MAX, lines, openInput } from '../io/inputs.ts';
import { UsageError, oneLine } from '../report/errors.ts';
import { TraceReplay } from '../run/main/trace.ts';
import { classify } from '../check/known.ts';
import { parseDetect } from './detect-opts.ts';
import { TRACE } from './commands.ts';
import { parse } from './options.ts';

/** stdout with few writes: answers are gathered up to 64 KiB. */
class Out {
  private parts: string[] = [];
  private bytes = 0;
  closed = false;
  constructor() {
    // the reader went away (`| head`): stop writing, not an error of ours (cli.ts ignores the EPIPE itself)
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') this.closed = true;
    });
  }
  line(s: string): void {
    this.parts.push(s);
    this.bytes += s.length + 1;
    if (this.bytes >= 1 << 16) this.flush();
  }
  flush(): void {
    if (this.parts.length === 0 || this.closed) return;
    process.stdout.write(this.parts.join('\n') + '\n');
    this.parts = [];
    this.bytes = 0;
  }
}

export async function traceCommand(argv: string[]): Promise<number> {
  const { o, positional } = parse(TRACE, argv);
  const detect = parseDetect(o);
  const file = positional[0];
  // a file must be a regular one (a FIFO or a device is refused, never waited on); stdin (-) streams
  const fd = file !== undefined && file !== '-' ? openInput(file, TRACE_INPUT, (why) => new UsageError(why)).fd : 0;
  const input = fd === 0 ? process.stdin : createReadStream('', { fd });
  const out = new Out();
  const replay = new TraceReplay((l) => out.line(l), { kernel: o.kernel, suppressions: detect.suppressions, strictKnown: detect.strictKnown });
  const where = file ?? 'stdin';
  let lineNo = 0;
  try {
    for await (const line of lines(input, TRACE_LINE_MAX, (n) => new UsageError(`${where}:${n}: a line longer than ${TRACE_LINE_MAX / 1024} KB: not a trace`))) {
      replay.feed(line, ++lineNo);
      if (!replay.running || out.closed) break;
    }
  } catch (e) {
    out.flush();
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${where}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    input.destroy();
  }
  const r = replay.finish();
  out.flush();
  for (const n of replay.notes) process.stderr.write(`percpu-stress trace: note: ${n}\n`);
  if (r.inputError) {
    process.stderr.write(oneLine(`percpu-stress trace: ${r.inputError}`));
    return 2;
  }
  if (r.violation) {
    process.stderr.write(r.violation.endsWith('\n') ? r.violation : r.violation + '\n');
    // the one verdict: a known issue whose mechanism fired (a trace cannot be replayed with its fix) or a suppressed finding does not fail
    if (r.found && !classify([r.found], detect)) {
      process.stderr.write(`percpu-stress trace: ${r.found.known ? `known issue ${r.found.known} of the ${o.kernel ?? '2.6.35'} baseline (its mechanism fired)` : 'suppressed'}: the trace stops here, as the kernel would; --strict-known makes it fail\n`);
      return 0;
    }
    return 1;
  }
  return 0;
}
