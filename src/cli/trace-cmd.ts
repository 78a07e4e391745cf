// `percpu-stress trace [FILE]`: stream requests through the single-CPU
// replay (src/run/trace.ts), answers to stdout as they are computed.

import { createReadStream, openSync, fstatSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { UsageError } from '../report/errors.ts';
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
  let fd = 0;
  if (file !== undefined && file !== '-') {
    try {
      fd = openSync(file, 'r');
      if (fstatSync(fd).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    } catch (e) {
      throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const input = fd === 0 ? process.stdin : createReadStream('', { fd });
  const out = new Out();
  const replay = new TraceReplay((l) => out.line(l), { kernel: o.kernel, suppressions: detect.suppressions, strictKnown: detect.strictKnown });
  const rl = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const line of rl) {
      replay.feed(line, ++lineNo);
      if (!replay.running || out.closed) break;
    }
  } catch (e) {
    out.flush();
    throw new UsageError(`cannot read ${file ?? 'stdin'}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    rl.close();
    input.destroy();
  }
  const r = replay.finish();
  out.flush();
  for (const n of replay.notes) process.stderr.write(`percpu-stress trace: note: ${n}\n`);
  if (r.inputError) {
    process.stderr.write(`percpu-stress trace: ${r.inputError}\n`);
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
