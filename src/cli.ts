// The `percpu-stress` command. It parses arguments, calls into run/ and
// report/, renders, and chooses the exit code: 0 clean, 1 violation found,
// 2 bad input. It never prints a stack trace for bad input and never leaves
// a half-written output file.

import { ConfigError } from './shm/config.ts';
import { traceCommand } from './cli/trace-cmd.ts';
import { UsageError, parseArgs, type ArgSpec } from './cli-args.ts';
import { quote } from './report/errors.ts';
import { runSingle, type SingleResult } from './run/main/single.ts';
import { renderSingle } from './render/summary.ts';
import { listCommand, parseRun, runCommand } from './cli/run-cmd.ts';
import { fuzzCommand, replayCommand } from './cli/fuzz-cmd.ts';
import { benchCommand } from './cli/bench-cmd.ts';
import { mergeCommand } from './cli/merge-cmd.ts';
import { classify } from './check/known.ts';
import { VERSION } from './version.ts';

const HELP = `percpu-stress: a concurrency stress harness for the Linux percpu allocator (2.6.35)

usage:
  percpu-stress start                      the default job (npm start): run all, 20 s budget
  percpu-stress run <scenario|all|FILE> [--cpus N] [--seed S | --seeds 1..5] [--duration D | --ops N]
                    [--backend vm|km] [--inject BUG] [--watchdog D]
                    [--strategy os|random|pct|pos|urw] [--depth d] [--schedule STRING]
                    [--sizes MIX] [--suppressions FILE] [--strict-known]
                    [--json FILE] [--junit FILE] [--trace-out FILE] [--html FILE]
                    [--lockdep-out DIR] [--quiet | --verbose]
                                            seeded race scenarios on real threads
  percpu-stress list                       scenarios, historical bugs, known issues, size mixes
  percpu-stress fuzz [scenario|all|FILE] [--budget D] [--strategy portfolio|pct|pos|urw|random|os] [--depth d]
                     [--cpus N] [--ops N] [--seed S] [--keep-going] [--out DIR]
                     [--inject BUG] [--shrink-budget D] [--runs N] [--watchdog D]
                     [--sizes MIX] [--suppressions FILE] [--strict-known] [--json FILE] [--trace-out FILE]
                     [--jobs N] [--shard i/n] [--feedback] [--junit FILE] [--html FILE] [--quiet]
                                            many short controlled runs; shrink and write a repro
  percpu-stress merge FILES... [--json FILE] [--junit FILE] [--html FILE] [--out DIR] [--quiet]
                                            combine the --json results of fuzz --shard i/n
  percpu-stress replay <repro.json> [--inject BUG] [--watchdog D] [--explain [--all]] [--trace-out FILE]
                       [--html FILE] [--lockdep-out DIR] [--json FILE] [--junit FILE] [--backend vm|km] [--quiet]
                                            re-execute a repro exactly
  percpu-stress bench [--json FILE] [--quick]
                                            throughput, scheduling speed, time to detect each bug
  percpu-stress single [--seed S] [--ops N] [--backend vm|km]
                                            seeded single-CPU run with the invariant checker
  percpu-stress trace [FILE]               replay percpu requests on one CPU, streamed: JSON lines or
                                            the kernel's percpu tracepoint text (stdin by default)
  percpu-stress help                       this text; <command> --help for one command, --version

durations: 500ms, 20s, 2m; --duration is the budget of the whole command,
split evenly across its scenarios

exit codes: 0 clean (known issues of the 2.6.35 baseline and suppressed findings
do not count), 1 violation found (replay: the recorded one again), 2 bad input
or an output file that could not be written, 3 internal error, 4 replay ended
with a different violation, 5 a run could not finish in its budget (nothing
proven), 130 interrupted (SIGINT), 143 terminated (SIGTERM); both after a
partial report`;

type Command = (argv: string[]) => Promise<number> | number;

const SINGLE_SPEC: ArgSpec = {
  seed: 'int',
  ops: 'int',
  backend: ['vm', 'km'],
  quiet: 'flag',
};

function single(argv: string[], defaults: { ops: number }): number {
  const a = parseArgs(argv, SINGLE_SPEC, 0);
  const seed = (a.options.seed as number | undefined) ?? 1;
  const ops = (a.options.ops as number | undefined) ?? defaults.ops;
  if (ops < 1) throw new UsageError('--ops must be at least 1');
  const r: SingleResult = runSingle({ seed, ops, backend: (a.options.backend as 'vm' | 'km' | undefined) ?? 'vm' });
  const failing = classify(r.violations);
  process.stdout.write(renderSingle(r, { seed, ops, quiet: a.options.quiet === true }));
  return failing ? 1 : 0;
}

const COMMANDS: Record<string, Command> = {
  trace: traceCommand,
  single: (argv) => single(argv, { ops: 20000 }),
  start: (argv) => runCommand(parseRun(argv, { scenarios: [], durationMs: 20_000 })),
  run: (argv) => runCommand(parseRun(argv)),
  list: listCommand,
  fuzz: fuzzCommand,
  replay: replayCommand,
  bench: benchCommand,
  merge: mergeCommand,
  help: () => {
    process.stdout.write(HELP + '\n');
    return 0;
  },
};

/** The usage block of one command, cut from HELP (one source for both). */
export function commandHelp(name: string): string {
  const lines = HELP.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`  percpu-stress ${name} `) || l === `  percpu-stress ${name}`);
  if (start < 0) return HELP;
  let end = start + 1;
  while (end < lines.length && lines[end]!.startsWith('      ')) end++;
  const tail = HELP.slice(HELP.indexOf('\ndurations:'));
  return `usage:\n${lines.slice(start, end).join('\n')}\n${tail}\n\nmore: README.md, or percpu-stress help`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') return COMMANDS.help!([]);
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`percpu-stress ${VERSION} (Linux 2.6.35 percpu semantics), Node ${process.version}\n`);
    return 0;
  }
  if (COMMANDS[name] && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(commandHelp(name) + '\n');
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) throw new UsageError(`unknown command ${quote(name)} (try: percpu-stress help)`);
  return cmd(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError || e instanceof ConfigError) {
      process.stderr.write(`percpu-stress: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`percpu-stress: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 3;
  },
);
