// The `percpu-stress` command: finds the command, parses its options from
// its spec (src/cli/commands.ts), runs it and chooses the exit code (the
// table in commands.ts, documented in --help and docs/cli.md). Bad input is
// one line on stderr and exit 2, never a stack trace.

import { COMMANDS, EXIT_CODES, HELP_CMD, LIST, SINGLE, START, RUN } from './cli/commands.ts';
import { parse, renderHelp, usageLine, type Command, type Spec } from './cli/options.ts';
import { traceCommand } from './cli/trace-cmd.ts';
import { HarnessError, UsageError, inputErrorOf, oneLine, quote } from './report/errors.ts';
import { runSingle } from './run/main/single.ts';
import { renderSingle } from './render/summary.ts';
import { listCommand, parseRun, runCommand } from './cli/run-cmd.ts';
import { fuzzCommand, replayCommand } from './cli/fuzz-cmd.ts';
import { benchCommand } from './cli/bench-cmd.ts';
import { mergeCommand } from './cli/merge-cmd.ts';
import { classify } from './check/known.ts';
import { ScenarioBudgetError } from './explore/scenario-file.ts';
import { VERSION } from './version.ts';

export function exitCodesText(): string {
  return `exit codes:\n${EXIT_CODES.map(([c, what]) => `  ${String(c).padStart(3)}  ${what}`).join('\n')}`;
}

/** `percpu-stress help`: every command with its one line, and the exit codes. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => usageLine(c as Command<Spec>).length)) + 2;
  const lines = COMMANDS.map((c) => `  ${usageLine(c as Command<Spec>).padEnd(width)}${c.summary}`);
  return `percpu-stress ${VERSION}: a concurrency stress harness for the Linux percpu allocator (2.6.35 and 4.1)\n\ncommands:\n${lines.join('\n')}\n\n` +
    `percpu-stress <command> --help describes a command and its options; --version prints the version.\n\n${exitCodesText()}\n`;
}

export function commandHelp(cmd: Command<Spec>): string {
  return renderHelp(cmd, `${exitCodesText()}\n\nmore: percpu-stress help, docs/cli.md`);
}

function single(argv: string[]): number {
  const { o } = parse(SINGLE, argv);
  const seed = o.seed ?? 1;
  const ops = o.ops ?? 20000;
  const r = runSingle({ seed, ops, backend: o.backend ?? 'vm', kernel: o.kernel });
  const failing = classify(r.violations);
  process.stdout.write(renderSingle(r, { seed, ops, quiet: o.quiet === true, kernel: o.kernel }));
  return failing ? 1 : 0;
}

const RUNNERS: Record<string, (argv: string[]) => Promise<number> | number> = {
  start: (argv) => runCommand(parseRun(START, argv, { durationMs: 20_000, all: true, allKernels: true })),
  run: (argv) => runCommand(parseRun(RUN, argv)),
  fuzz: fuzzCommand,
  replay: replayCommand,
  merge: mergeCommand,
  list: (argv) => {
    const { o } = parse(LIST, argv);
    return listCommand(o.kernel);
  },
  trace: traceCommand,
  single,
  bench: benchCommand,
  help: (argv) => {
    const { positional } = parse(HELP_CMD, argv);
    const name = positional[0];
    if (name === undefined) process.stdout.write(mainHelp());
    else {
      const cmd = COMMANDS.find((c) => c.name === name);
      if (!cmd) throw new UsageError(`help: unknown command ${quote(name)} (try: percpu-stress help)`);
      process.stdout.write(commandHelp(cmd as Command<Spec>));
    }
    return 0;
  },
};

async function main(argv: string[]): Promise<number> {
  // every relative path, output folder and scenario file is resolved against it
  try {
    process.cwd();
  } catch (e) {
    throw new UsageError(`the working directory no longer exists (${(e as NodeJS.ErrnoException).code ?? 'gone'}): cd to one that does`);
  }
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') return RUNNERS.help!([]);
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`percpu-stress ${VERSION} (Linux 2.6.35 percpu semantics), Node ${process.version}\n`);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) throw new UsageError(`unknown command ${quote(name)} (try: percpu-stress help)`);
  // --help anywhere before a lone "--" asks for the command's help
  const end = rest.indexOf('--');
  if ((end < 0 ? rest : rest.slice(0, end)).some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(commandHelp(cmd as Command<Spec>));
    return 0;
  }
  return RUNNERS[name]!(rest);
}

// a reader that goes away (`| head -1`) is not an error: what is left of the output is dropped and
// the command ends with its own verdict. Any other stdout failure (a full disk, /dev/full) is an
// output that could not be written: one line at the end, exit 2. stderr has nowhere to complain to.
let stdoutError: string | null = null;
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') stdoutError ??= e.code ?? e.message;
});
process.stderr.on('error', () => {});

function finish(code: number): void {
  process.exitCode = code;
}

// (checked at exit: a write's error comes after the write returned, possibly after the command did)
process.on('exit', () => {
  if (stdoutError === null || process.exitCode === 3) return;
  process.stderr.write(oneLine(`percpu-stress: cannot write to stdout: ${stdoutError}`));
  process.exitCode = 2;
});

main(process.argv.slice(2)).then(
  (code) => finish(code),
  (e: unknown) => {
    if (e instanceof ScenarioBudgetError) {
      process.stderr.write(oneLine(`percpu-stress: ${e.message}: nothing was proven`));
      finish(5);
      return;
    }
    if (e instanceof HarnessError) {
      process.stderr.write(oneLine(`percpu-stress: harness error: ${e.message}`));
      finish(3);
      return;
    }
    const msg = inputErrorOf(e);
    if (msg !== null) {
      process.stderr.write(oneLine(`percpu-stress: ${msg}`));
      finish(2);
      return;
    }
    process.stderr.write(`percpu-stress: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 3;
  },
);
