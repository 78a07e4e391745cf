// Every command and its options, declared once: the parser, `--help`,
// `percpu-stress help` and docs/cli.md all come from this table.

import { GENERATIONS } from '../run/kernels.ts';
import { KERNELS, MAX_CPUS } from '../shm/config.ts';
import { choice, duration, flag, int, str, type Command, type Spec } from './options.ts';

/** Ops per CPU a run may be asked for (longer runs take --duration). */
export const MAX_OPS = 10_000_000;
/** ops x entities of a controlled run, so that its step count (up to 2000 per op) fits in 32 bits. */
export const MAX_CONTROLLED_OPS = 1_000_000;
/** Worker threads fuzz may start, jobs x (CPUs + 1): four jobs of 64 CPUs (each near 1 GB at its peak). */
export const MAX_FUZZ_THREADS = 260;

/** Every kernel's historical bugs (a command checks the name against the kernel it runs). */
const BUG_NAMES = [...new Set(Object.values(GENERATIONS).flatMap((g) => g.bugs.map((b) => b.name)))];

// options several commands share, declared once
const cpus = (dflt: string) => int('CPUs of the emulated machine, one worker thread each (the kworker runs on one more)', { min: 1, max: MAX_CPUS, default: dflt });
const backend = choice('the first-chunk allocator: vm (pcpu_embed/vmalloc) or km (pcpu_page, kmalloc\'d chunks)', ['vm', 'km'] as const, { default: 'the scenario\'s' });
const kernel = choice('the kernel whose allocator the machine boots: 2.6.35, or 4.1 (the 3.18-4.13 protocol: atomic allocations, the balance work, map extension work)', KERNELS, { default: '2.6.35' });
const inject = choice('switch one historical bug on (`percpu-stress list` names them)', BUG_NAMES, { placeholder: 'BUG' });
const watchdog = duration('a run in which no CPU makes progress for this long is a hang (a lockup or a deadlock)', { min: 200, default: '5s' });
const depth = int('PCT\'s bug depth d: d-1 priority change points per run', { min: 1, max: 17, default: '3' });
const seed = int('the seed: the same seed gives the same programs (and, controlled, the same schedule)', { default: '1' });
const sizes = str('the allocation sizes: a mix name from `percpu-stress list`, or SIZE[:ALIGN],...', { placeholder: 'MIX', default: 'the scenario\'s' });
const suppressions = str('a file of findings not to count (one `kind[:detail] [in fn]` per line, # comments)', { placeholder: 'FILE' });
const strictKnown = flag('count the known issues of the kernel\'s baseline as failures');
const json = (what: string) => str(`write ${what} as JSON`, { placeholder: 'FILE' });
const junit = str('write a JUnit XML report (one test case per scenario and per finding signature)', { placeholder: 'FILE' });
const ktap = str('write a KTAP v1 report (the kernel\'s test result format)', { placeholder: 'FILE' });
const html = str('write an offline HTML report: verdict, findings, the failing interleaving, the lockdep graph', { placeholder: 'FILE' });
const traceOut = str('write the timeline of the failing (or first) controlled run as Trace Event JSON for Perfetto or chrome://tracing', { placeholder: 'FILE' });
const lockdepOut = str('write each run\'s lockdep graph (DOT), /proc/lockdep and /proc/lockdep_chains into this folder (made if missing)', { placeholder: 'DIR' });
const quiet = flag('print only what failed, and the totals');
const ENGINE_NAMES = ['inthread', 'threads'] as const;
/** Who plays a controlled run: its entities as coroutines of one thread, or a worker thread each. */
const engine = (dflt: string, what: string) => choice(`who plays ${what}: inthread (its CPUs and the kworker as coroutines of one thread; a finding is confirmed on real threads before it is reported) or threads (a worker thread each)`, ENGINE_NAMES, { default: dflt });
/** The machine-readable reports every checking command writes. */
const reports = (what: string) => ({ json: json(what), junit, ktap, html });

const DURATIONS = 'durations: 500ms, 20s, 2m (a plain number is seconds)';
const OUTPUTS = 'outputs: missing folders are made; an output that is an input, another output or a file an output folder will receive is refused (exit 2)';
const INPUTS = 'inputs (scenario files, repros, shards, suppressions, traces) are regular files of bounded size; a FIFO or a device is refused';

const runOptions = {
  kernel,
  cpus: cpus('4'),
  seed,
  seeds: str('a seed corpus instead of one seed: 1..5, 3,7,11 or a mix (1..3,10)', { placeholder: 'LIST' }),
  duration: duration('the budget of the whole command, start-up included, split evenly across its runs (free-running only)', { min: 100 }),
  ops: int('operations per CPU in each run', { min: 1, max: MAX_OPS, default: '2000 (when no --duration)' }),
  backend,
  inject,
  watchdog,
  strategy: choice('who decides the interleaving: os (free-running threads) or a controlled scheduler', ['os', 'random', 'pct', 'pos', 'urw'] as const, { default: 'os' }),
  depth,
  engine: engine('inthread', 'a controlled run (free-running runs always take threads)'),
  schedule: str('replay a recorded schedule (the string a controlled run reports) instead of choosing one', { placeholder: 'STRING' }),
  sizes,
  suppressions,
  'strict-known': strictKnown,
  ...reports('every run\'s result'),
  'trace-out': traceOut,
  'lockdep-out': lockdepOut,
  quiet,
  verbose: flag('print each run\'s lock table, percpu_stats and boot log'),
} satisfies Spec;

const RUN_NOTES = [
  DURATIONS,
  OUTPUTS,
  INPUTS,
  'a budget without --duration: 30 s + 0.5 ms per op and entity for each run; a run that reaches it is incomplete (exit 5)',
];

export const RUN: Command<typeof runOptions> = {
  name: 'run', args: '<scenario|all|FILE>', maxPositional: 1,
  summary: 'seeded race scenarios on real threads (or under a controlled scheduler)',
  description: 'Run one scenario, all of them, or a scenario file, once per seed: every CPU a worker thread, the kernel\'s locks emulated in shared memory, lockdep, the lock rules, the race detector and the allocator\'s invariants checking every step.',
  options: runOptions,
  notes: RUN_NOTES,
  examples: [
    { cmd: 'npx percpu-stress run irq-free --cpus 2 --ops 500', what: 'one scenario, free-running, 500 operations per CPU' },
    { cmd: 'npx percpu-stress run all --seeds 1..3 --ops 200 --quiet --junit results.xml', what: 'every scenario under three seeds, a JUnit report for CI' },
    { cmd: 'npx percpu-stress run boot --cpus 2 --ops 100 --inject alloc-irq-restore --quiet', what: 'a historical bug switched on: the run fails', exit: 1 },
  ],
};

// start is run with a 20 s budget: its own defaults, the same options
const startOptions = {
  ...runOptions,
  duration: duration('the budget of the whole command, start-up included, split evenly across its runs', { min: 100, default: '20s' }),
  ops: int('operations per CPU in each run, instead of the time budget', { min: 1, max: MAX_OPS, default: 'none: the 20 s budget decides' }),
  kernel: choice('the kernel whose allocator the machine boots: 2.6.35, or 4.1', KERNELS, { default: 'both, 2.6.35 then 4.1' }),
} satisfies Spec;

export const START: Command<typeof startOptions> = {
  name: 'start', args: '', maxPositional: 0,
  summary: 'the default job (npm start): run all --duration 20s, on both kernels',
  description: 'Run every scenario of both kernels (2.6.35, then 4.1) on a 20 s budget, split evenly across the runs. It takes the options of run; --duration sets another budget, --ops a number of operations instead, --kernel picks one kernel.',
  options: startOptions,
  notes: RUN_NOTES,
  examples: [{ cmd: 'npx percpu-stress start --ops 100 --quiet', what: 'every scenario, 100 operations per CPU instead of 20 s' }],
};

const fuzzOptions = {
  kernel,
  budget: duration('how long to keep starting runs (shrinking a finding has its own budget)', { min: 100, default: '30s' }),
  runs: int('stop after this many runs (whichever of --runs and --budget comes first)', { min: 1 }),
  strategy: choice('the controlled schedulers to rotate through; portfolio: random, PCT at depths 1..d, POS and URW in turn', ['portfolio', 'pct', 'pos', 'urw', 'random', 'os'] as const, { default: 'portfolio' }),
  depth,
  engine: engine('inthread', 'the runs and the shrinking'),
  cpus: cpus('3'),
  seed: int('the campaign\'s seed: run i uses a seed derived from it', { default: '1' }),
  ops: int('operations per CPU in each run', { min: 1, default: 'the scenario\'s, 30 for most' }),
  'keep-going': flag('go on after a finding, one repro per distinct signature'),
  out: str('write repro files into this folder (made if missing)', { placeholder: 'DIR', default: '.' }),
  'shrink-budget': duration('how long to shrink each finding', { min: 0, default: '20s' }),
  inject,
  backend,
  watchdog,
  jobs: int(`campaigns run side by side, each with its own thread (--engine threads: its own CPUs + 1 threads; ${MAX_FUZZ_THREADS} threads at most)`, { min: 1, max: 64, default: '1' }),
  shard: str('run shard i of n of the campaign (merge the --json results with percpu-stress merge)', { placeholder: 'i/n' }),
  feedback: flag('keep a corpus of runs that covered something new and mutate their schedules'),
  sizes,
  suppressions,
  'strict-known': strictKnown,
  ...reports('the campaign\'s result (with its repros, for merge)'),
  'trace-out': traceOut,
  quiet,
} satisfies Spec;

export const FUZZ: Command<typeof fuzzOptions> = {
  name: 'fuzz', args: '[scenario|all|FILE]', maxPositional: 1,
  summary: 'many short controlled runs; each finding shrunk to a minimal repro file',
  description: 'Fuzz alloc/free interleavings: short runs under controlled schedulers rotated over every scenario, strategy and depth, until the budget ends or a run fails. A failing run is shrunk (fewer CPUs, ops and context switches, same signature) and written as a repro file that replay runs exactly. Scenario: all by default.',
  options: fuzzOptions,
  notes: [DURATIONS, OUTPUTS, INPUTS],
  examples: [
    { cmd: 'npx percpu-stress fuzz irq-free --runs 20 --quiet', what: '20 controlled runs of one scenario on the faithful port' },
    { cmd: 'npx percpu-stress fuzz all --runs 40 --shard 1/2 --json shard-1.json --quiet', what: 'shard 1 of 2 of a campaign, for merge' },
    { cmd: 'npx percpu-stress fuzz irq-free --inject single-mutex --runs 20 --out repros --quiet', what: 'a historical bug switched on: fuzz finds it and writes its repro into repros/', exit: 1 },
  ],
};

const replayOptions = {
  kernel: choice('the kernel the repro must have run on (refused when it ran on another)', KERNELS, { default: 'the repro\'s' }),
  inject: choice('replay with this bug switched on instead of the repro\'s', BUG_NAMES, { placeholder: 'BUG', default: 'the repro\'s' }),
  backend,
  watchdog,
  engine: engine('threads', 'the replay'),
  explain: flag('print the interleaving step by step, up to the violation'),
  all: flag('with --explain: the whole run, not only up to the violation'),
  ...reports('the replay\'s result'),
  'trace-out': traceOut,
  'lockdep-out': lockdepOut,
  quiet,
} satisfies Spec;

export const REPLAY: Command<typeof replayOptions> = {
  name: 'replay', args: '<repro.json>', maxPositional: 1,
  summary: 're-execute a repro exactly',
  description: 'Run a repro file\'s programs under its recorded schedule. Exit 1: the recorded violation again; 4: a different one; 0: the run was clean (fixed?).',
  options: replayOptions,
  notes: [OUTPUTS, INPUTS],
  examples: [
    { cmd: 'npx percpu-stress fuzz irq-free --inject single-mutex --runs 20 --quiet', what: 'make a repro (fuzz finds the bug: exit 1)', exit: 1 },
    { cmd: 'npx percpu-stress replay repro-*.json --explain --quiet', what: 'replay it, printing the interleaving up to the violation (exit 1: the recorded violation again)', exit: 1 },
    { cmd: 'npx percpu-stress replay repro-*.json --html report.html --quiet', what: 'the same run as an offline HTML report', exit: 1 },
  ],
};

const mergeOptions = {
  ...reports('the merged campaign'),
  out: str('write the merged findings\' repro files into this folder (made if missing)', { placeholder: 'DIR', default: '.' }),
  'allow-partial': flag('exit as the findings say even when shards are missing or were interrupted (otherwise: exit 6)'),
  quiet,
} satisfies Spec;

export const MERGE: Command<typeof mergeOptions> = {
  name: 'merge', args: 'FILES...', maxPositional: 100_000,
  summary: 'combine the --json results of fuzz --shard i/n',
  description: 'Merge the shard results of one sharded campaign: runs, strategies and known issues summed, findings grouped by signature, each filed where it was first seen with the repro of that run, the residual risk recomputed: the outputs of the campaign run in one piece. A merge that misses shards, or holds an interrupted one, is partial: it exits 6 unless --allow-partial (a finding still makes it 1).',
  options: mergeOptions,
  notes: [OUTPUTS, INPUTS],
  examples: [
    { cmd: 'npx percpu-stress fuzz all --runs 40 --shard 1/2 --json s1.json --quiet', what: 'the first of two shards' },
    { cmd: 'npx percpu-stress fuzz all --runs 40 --shard 2/2 --json s2.json --quiet', what: 'the second' },
    { cmd: 'npx percpu-stress merge s1.json s2.json --json merged.json --junit merged.xml --quiet', what: 'the campaign as if run in one piece' },
  ],
};

const benchOptions = {
  kernel,
  json: str('where to write the results', { placeholder: 'FILE', default: 'bench.json' }),
  quick: flag('one short pass of everything (a smoke test, not a measurement)'),
} satisfies Spec;

export const BENCH: Command<typeof benchOptions> = {
  name: 'bench', args: '', maxPositional: 0,
  summary: 'throughput, runs per second, start-up, memory and time to detect each bug',
  description: 'Measure the harness: ops per CPU-second with and without checks at 1..8 CPUs, controlled-run and fuzz rates, start-up and peak RSS at 8 and 64 CPUs, lockdep\'s cost, the coverage curve, and the time and runs to detect each historical bug and each known issue of the kernel. Ratios and per-CPU-second figures compare across machines.',
  options: benchOptions,
  examples: [{ cmd: 'npx percpu-stress bench --quick --json bench-quick.json', what: 'a smoke test of every measurement (not a measurement)' }],
};

const singleOptions = {
  kernel,
  seed: int('the seed', { default: '1' }),
  ops: int('operations', { min: 1, max: MAX_OPS, default: '20000' }),
  backend: choice('the first-chunk allocator', ['vm', 'km'] as const, { default: 'vm' }),
  quiet,
} satisfies Spec;

export const SINGLE: Command<typeof singleOptions> = {
  name: 'single', args: '', maxPositional: 0,
  summary: 'one CPU, no threads: the allocator and its invariant checker',
  description: 'A seeded single-CPU run on the main thread with the invariant and specification checks after every operation: the port on its own, without concurrency.',
  options: singleOptions,
  examples: [{ cmd: 'npx percpu-stress single --ops 5000 --quiet', what: '5,000 allocations and frees on one CPU, checked after each' }],
};

const traceOptions = {
  kernel,
  suppressions,
  'strict-known': strictKnown,
} satisfies Spec;

export const TRACE: Command<typeof traceOptions> = {
  name: 'trace', args: '[FILE]', maxPositional: 1,
  summary: 'replay recorded percpu requests on one CPU, streamed',
  description: 'Read percpu_alloc_percpu/percpu_free_percpu requests (JSON lines, or the kernel\'s tracepoint text) from FILE or stdin (-), answer each as the kernel (2.6.35, or --kernel 4.1) would, and stop at the first violation. Exit 2 on a malformed line.',
  options: traceOptions,
  examples: [{ cmd: 'printf \'{"op":"alloc","size":8,"align":8}\\n{"op":"free","ref":0}\\n\' | npx percpu-stress trace -', what: 'two requests from stdin, answered as 2.6.35 would' }],
};

const listOptions = { kernel } satisfies Spec;

export const LIST: Command<typeof listOptions> = {
  name: 'list', args: '', maxPositional: 0,
  summary: 'scenarios, historical bugs, known issues, size mixes',
  description: 'List what the other commands can name, for one kernel.',
  options: listOptions,
  examples: [
    { cmd: 'npx percpu-stress list', what: 'the scenarios, bugs, known issues and size mixes of 2.6.35' },
    { cmd: 'npx percpu-stress list --kernel 4.1', what: 'the same for Linux 4.1' },
  ],
};

export const HELP_CMD: Command<Record<string, never>> = {
  name: 'help', args: '[command]', maxPositional: 1,
  summary: 'this list, or one command\'s help (the same as COMMAND --help)',
  description: 'Print the command list, or the help of one command.',
  options: {},
  examples: [{ cmd: 'npx percpu-stress help fuzz', what: 'the options of fuzz' }],
};

export const COMMANDS = [START, RUN, FUZZ, REPLAY, MERGE, LIST, TRACE, SINGLE, BENCH, HELP_CMD] as const;

export const EXIT_CODES: readonly [number, string][] = [
  [0, 'clean: no violation (known issues of the kernel\'s baseline and suppressed findings do not count)'],
  [1, 'a violation was found (replay: the recorded one again)'],
  [2, 'bad input (an option, a scenario file, a repro, a shard, a suppressions file, trace input) or an output that could not be written'],
  [3, 'internal error (a bug of percpu-stress: please report it)'],
  [4, 'replay ended with a different violation than the recorded one'],
  [5, 'a run could not finish in its budget, or no fuzz run finished: nothing was proven'],
  [6, 'merge: the merge is partial (shards missing or interrupted) and --allow-partial was not given'],
  [130, 'interrupted (SIGINT), after a partial report marked as such'],
  [143, 'terminated (SIGTERM), after a partial report marked as such'],
];
