// Fuzzing: many short controlled runs with derived seeds on the reused
// pool, until a violation (or the budget). A failure is shrunk and written
// as a repro file; after clean PCT runs the residual risk for a depth-d bug
// is known, per scenario.
//
// A run's scenario, seed and strategy depend only on its number (jobs and
// shards partition the numbers), and the rotation reaches every (scenario,
// strategy, depth) pair equally: in every block of scenarios x strategies
// runs, each pair once.

import type { RunOptions, RunResult } from '../run/main/runner.ts';
import type { Engine } from '../run/main/engine.ts';
import type { Scenario } from '../../scenarios/lib/scenario.ts';
import { bugByName } from '../run/kernels.ts';
import type { Violation, ViolationKind } from '../report/violation.ts';
import { counts } from '../report/violation.ts';
import { HarnessError, inputErrorOf } from '../report/errors.ts';
import { DEFAULT_KERNEL, type Backend, type KernelVersion } from '../shm/config.ts';
import { Mode, MODE_NAMES } from '../sched/strategy.ts';
import { STEPS_PER_OP } from '../sched/setup.ts';
import { generatePrograms } from '../../scenarios/lib/scenario.ts';
import { shrink } from './shrink.ts';
import { ScenarioBudgetError, extendScenarioDeadline } from './scenario-file.ts';
import { makeRepro, reproFileName, sizeOf, writeRepro, type Repro, type ReproSize } from './repro.ts';
import { decodeSchedule } from '../sched/schedule.ts';
import { COV_BITS_PER_KIND, COV_KINDS, COV_WORDS } from '../shm/coverage.ts';
import type { SizeMix } from '../../scenarios/lib/sizes.ts';
import type { Suppression } from '../check/known.ts';
import { findingWith, signatureOf } from './signature.ts';

export { signatureOf } from './signature.ts';

export interface FuzzOptions {
  scenarios: Scenario[];
  budgetMs: number;
  shrinkBudgetMs: number;
  strategy: Mode;
  depth: number;
  cpus: number;
  /** Ops per CPU per run; 0 = the scenario's own (fuzzOps), else 30. */
  ops: number;
  seed: number;
  keepGoing: boolean;
  outDir: string;
  /** A historical bug to boot (its name), or null. */
  inject: string | null;
  backend?: Backend | undefined;
  /** The kernel generation every run boots (default 2.6.35). */
  kernel?: KernelVersion;
  /** Stop after this many runs (0: only the time budget counts). */
  maxRuns?: number;
  /** Shrink and write a repro file for each failure (default true; the bench only times detection). */
  writeRepro?: boolean;
  /** Free-running runs: the watchdog (default 5 s). */
  watchdogMs?: number;
  onRun?: (runs: number, elapsedMs: number, failing: number) => void;
  /** Asked before each run and each shrink step: stop now (a signal). */
  shouldStop?: () => boolean;
  /** A size mix replacing the scenarios' standard sizes. */
  sizes?: SizeMix;
  suppressions?: readonly Suppression[];
  strictKnown?: boolean;
  /**
   * The run numbers this loop makes: the sequence shared by the jobs of one
   * campaign (default: its own, 0, 1, 2...). Each job takes the next number
   * when it starts a run, so a job whose runs are slower (a scenario whose
   * known issues are verified by a replay each) takes fewer, and none waits
   * for another: which job makes a run never changes what the run is.
   */
  runNumbers?: RunNumbers;
  /** Shared by the jobs of one campaign: no run past this number (a lower failing run was found). */
  limit?: { maxIndex: number };
  /** Shared by the jobs of one campaign: the scenarios whose clean verdict was sampled on the real threads (one run each). */
  sampled?: Set<string>;
  /**
   * Novelty feedback: record each run's coverage, keep the (programs, seed,
   * schedule) of runs that covered something new in a corpus, and make some
   * other runs a mutation of a corpus entry (the schedule replayed with two
   * adjacent slices swapped, a preemption moved, or cut short).
   */
  feedback?: boolean;
  /** Record coverage (and its curve) without feeding it back: the baseline a feedback campaign is compared with. */
  measureCoverage?: boolean;
  /** The absolute time (Date.now()) by which every run must have ended (the campaign's budget, start-up included). */
  deadline?: number;
}

/**
 * A campaign's run numbers, handed out in increasing order: next, next +
 * stride... (a shard's: index - 1 + count * k).
 */
export class RunNumbers {
  constructor(
    private next: number,
    private readonly stride: number,
  ) {}

  peek(): number {
    return this.next;
  }

  take(): number {
    const n = this.next;
    this.next += this.stride;
    return n;
  }
}

/** One entry of the feedback corpus: a run that covered something new. */
interface CorpusEntry {
  scenario: Scenario;
  seed: number;
  ops: number;
  programs: Int32Array[];
  schedule: number[];
}

/** A mutation of a recorded schedule (run-length pairs: action, count), from a run's own PRNG word. */
export function mutateSchedule(sched: readonly number[], r: number): number[] {
  const out = sched.slice();
  const pairs = out.length / 2;
  if (pairs === 0) return out;
  const pick = (n: number): number => {
    r = Math.imul(r ^ (r >>> 15), 0x2c1b3c6d) ^ Math.imul(r ^ (r >>> 12), 0x297a2d39);
    return ((r >>> 0) % n);
  };
  const kind = pick(3);
  const i = pick(pairs);
  if (kind === 0 && pairs >= 2) {
    // swap the order of two adjacent slices of different entities: a racing pair reversed
    const j = i === pairs - 1 ? i - 1 : i;
    if (out[j * 2]! >> 1 !== out[j * 2 + 2]! >> 1) {
      [out[j * 2], out[j * 2 + 2]] = [out[j * 2 + 2]!, out[j * 2]!];
      [out[j * 2 + 1], out[j * 2 + 3]] = [out[j * 2 + 3]!, out[j * 2 + 1]!];
      return out;
    }
  }
  if (kind <= 1 && i + 1 < pairs) {
    // move a preemption by a few steps: one slice longer, the next shorter
    const d = 1 + pick(3);
    const sign = pick(2) === 0 ? 1 : -1;
    const a = out[i * 2 + 1]! + sign * d;
    const b = out[i * 2 + 3]! - sign * d;
    if (a >= 1 && b >= 1) {
      out[i * 2 + 1] = a;
      out[i * 2 + 3] = b;
      return out;
    }
  }
  // cut the schedule short: past its end, no more preemptions
  return out.slice(0, Math.max(2, i * 2));
}

export interface FuzzFinding {
  /**
   * The first failing run of the signature, where the finding is filed and
   * its repro comes from (its number, scenario, seed and strategy): the same
   * however the campaign is split into jobs and shards.
   */
  scenario: string;
  seed: number;
  run: number;
  strategy: string;
  /** Milliseconds from the start of fuzzing to the failing run that produced the repro. */
  detectMs: number;
  /** The first failing run with this signature, and when it came (the repro's run: kept for readers of older files). */
  firstRun: number;
  firstDetectMs: number;
  violation: Violation;
  /** The repro file written, or '' (none written: see reproError). */
  reproPath: string;
  /** The repro itself (what the file holds; a shard carries it to merge). */
  repro: Repro | null;
  /** Why the repro file could not be written (the finding stands; its repro is in the JSON result). */
  reproError?: string;
  /** Wall time spent shrinking it (JUnit reports it as part of the finding's time). */
  shrinkMs?: number;
  original: ReproSize;
  minimal: ReproSize;
  schedule: string;
  shrinkRuns: number;
  /** Why shrinking did not finish, if it failed (the repro is then the original failing run's). */
  shrinkError?: string;
  /** What groups findings under --keep-going: kind, lock classes held, function. */
  signature: string;
  /** Failing runs with this signature (the repro is of the smallest one shrunk). */
  occurrences: number;
}

/** The portfolio's rotation: PCT at depths 3, 2, 1 (3: the requested depth), POS, URW and a random walk. */
const PORTFOLIO: readonly (readonly [Mode, number])[] = [[Mode.pct, 0], [Mode.pos, 0], [Mode.urw, 0], [Mode.pct, 2], [Mode.random, 0], [Mode.pct, 1]];

/** The strategies (with PCT depths) a campaign rotates through. */
export function strategiesOf(o: { strategy: Mode; depth: number }): { mode: Mode; depth: number }[] {
  if (o.strategy !== Mode.portfolio) return [{ mode: o.strategy, depth: o.depth }];
  return PORTFOLIO.map(([mode, d]) => ({ mode, depth: d || o.depth }));
}

export interface RunPlan {
  scenario: number;
  mode: Mode;
  depth: number;
}

/**
 * What run number `run` of a campaign does: its scenario (an index) and its
 * strategy. Every block of scenarios x strategies runs makes each pair once
 * (scenario = run mod S, strategy shifted by the scenario within the
 * block); with an injected bug, every other run goes to the scenario that
 * exposes it best, under every strategy in turn, and the runs between them
 * make the pairs of every scenario.
 */
export function planRun(o: { strategy: Mode; depth: number; scenarios: readonly Scenario[]; inject?: string | null; kernel?: KernelVersion }, run: number): RunPlan {
  const strategies = strategiesOf(o);
  const P = strategies.length;
  const S = o.scenarios.length;
  const best = o.inject ? bugByName(o.kernel ?? DEFAULT_KERNEL, o.inject)?.scenario : undefined;
  const favourite = best && S > 1 ? o.scenarios.findIndex((s) => s.name === best) : -1;
  let scenario: number, strategy: number;
  if (favourite >= 0 && run % 2 === 0) {
    scenario = favourite;
    strategy = (run / 2) % P;
  } else {
    const j = favourite >= 0 ? (run - 1) / 2 : run;
    const pair = j % (S * P);
    scenario = pair % S;
    strategy = (Math.floor(pair / S) + scenario) % P;
  }
  return { scenario, ...strategies[strategy]! };
}

/** The strategy and PCT depth of run number `run` of a campaign over these scenarios. */
export function strategyForRun(o: { strategy: Mode; depth: number; scenarios?: readonly Scenario[] }, run: number): { mode: Mode; depth: number } {
  const { mode, depth } = planRun({ ...o, scenarios: o.scenarios ?? [{ name: '', description: '', config: () => ({}), program: () => new Int32Array(0) }] }, run);
  return { mode, depth };
}

export function strategyLabel(mode: Mode, depth: number): string {
  return mode === Mode.pct ? `pct/d${depth}` : MODE_NAMES[mode];
}

/** What a campaign did with one scenario. */
export interface ScenarioTally {
  runs: number;
  /** Runs per strategy (PCT per depth; "mutation" for feedback runs). */
  byStrategy: Record<string, number>;
  /** Clean PCT runs at the requested depth whose run stayed inside the range PCT drew its change points from. */
  cleanPct: number;
  /** The largest range of steps PCT drew change points from among those runs (k of the bound). */
  k: number;
  /** PCT runs that outgrew their range even after a recalibrated rerun (not counted). */
  outgrown: number;
  /** Wall time of its runs (JUnit's time of its test case). */
  ms?: number;
}

export interface FuzzResult {
  runs: number;
  cleanRuns: number;
  /** Runs cut by the budget (or a watchdog that saw no progress it could count): they prove nothing. */
  incompleteRuns: number;
  ms: number;
  findings: FuzzFinding[];
  meanSteps: number;
  /** The worst scenario's residual risk for a depth-d bug, or null (no counted PCT run, or the campaign failed). */
  residualRisk: number | null;
  /** Which scenario that is, and its inputs. */
  residual: { scenario: string; cleanPct: number; k: number } | null;
  /** Clean PCT runs at the requested depth, counted, over all scenarios. */
  cleanPctRuns: number;
  /** Runs per strategy (PCT per depth; "mutation" for feedback runs). */
  byStrategy: Record<string, number>;
  /** Runs per scenario and strategy, and the residual risk's inputs per scenario. */
  byScenario: Record<string, ScenarioTally>;
  /** Feedback campaigns: coverage bits set by any run, per kind, and the corpus. */
  coverage?: { bits: number; byKind: number[]; corpus: number; curve: { runs: number; bits: number; corpus: number }[] };
  /** Known issues of the baseline met (fuzzing goes on past them): id -> runs that met it. */
  known: Record<string, number>;
  /** The campaign stopped on bad input met mid-way (a scenario file that threw or looped for one seed): its message. */
  inputError?: string;
  /**
   * Violations a known issue's mechanism claimed whose fix-verification replay
   * was cut by a signal or a budget: neither known nor findings (the report
   * says so; the campaign ends partial, or proves nothing of that run).
   */
  unclassified?: { run: number; scenario: string; seed: number; title: string; mechanism: string; why: string }[];
}

/** The seed of run i: spread over the 32-bit space (splitmix32). */
export function deriveSeed(seed: number, i: number): number {
  let z = (seed * 0x9e3779b9 + i * 0x85ebca6b + 0x632be5ab) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** PCT's guarantee: each run finds a depth-d bug with probability >= 1/(n k^(d-1)). */
export function residualRisk(cleanRuns: number, n: number, k: number, d: number): number {
  const p = 1 / (n * Math.pow(Math.max(k, 1), d - 1));
  return Math.pow(1 - p, cleanRuns);
}

/** The worst scenario's residual risk (or null), from per-scenario tallies. */
export function worstResidual(byScenario: Record<string, ScenarioTally>, entities: number, depth: number, failing: boolean): Pick<FuzzResult, 'residualRisk' | 'residual'> {
  if (failing) return { residualRisk: null, residual: null };
  let worst: FuzzResult['residual'] = null;
  let risk: number | null = null;
  for (const [name, t] of Object.entries(byScenario)) {
    // a scenario PCT never ran proves nothing about it: the claim is void
    const r = t.cleanPct > 0 ? residualRisk(t.cleanPct, entities, t.k, depth) : 1;
    if (risk === null || r > risk) {
      risk = r;
      worst = { scenario: name, cleanPct: t.cleanPct, k: t.k };
    }
  }
  return worst && worst.cleanPct > 0 ? { residualRisk: risk, residual: worst } : { residualRisk: null, residual: worst };
}

/** Which violation a finding is about: the injected bug's expected kind if it showed, else the first that counts. */
export function targetViolation(r: RunResult, inject: string | null, strictKnown = false): Violation {
  return targetViolations(r, inject, strictKnown)[0] ?? r.violations[0]!;
}

/**
 * Every counting violation of a run, one per signature, the injected bug's
 * expected kinds first. --keep-going files a failing run under each of them:
 * a bug that shows in every run does not hide the others behind it, and the
 * filing depends on the run alone (not on the runs before it), so shards
 * merge to the unsharded campaign.
 */
export function targetViolations(r: RunResult, inject: string | null, strictKnown = false): Violation[] {
  const expect: readonly ViolationKind[] = (inject ? bugByName(r.kernel, inject)?.expect : undefined) ?? [];
  // with --strict-known a known issue counts too, unless suppressed
  const counting = r.violations.filter((v) => counts(v) || (strictKnown && v.known !== undefined && !v.suppressed));
  const ordered = [...counting.filter((v) => expect.includes(v.kind)), ...counting.filter((v) => !expect.includes(v.kind))];
  const seen = new Set<string>();
  return ordered.filter((v) => {
    const sig = signatureOf(v);
    if (seen.has(sig)) return false;
    seen.add(sig);
    return true;
  });
}

/** A run of a campaign, started on the engine, and what it was started with. */
interface StartedRun {
  parent: CorpusEntry | null;
  s: Scenario;
  seed: number;
  mode: Mode;
  depth: number;
  controlled: boolean;
  ops: number;
  programs: Int32Array[];
  range: number | undefined;
  base: Omit<RunOptions, 'programs'> & { expectedSteps: number | undefined };
  started: number;
  result: Promise<RunResult>;
}

/**
 * Runs an engine that queues them is handed ahead of the one whose result
 * fuzz looks at: enough to cover the round trip to its thread and back,
 * and for the in-thread engine to send them in batches.
 */
export const RUNS_AHEAD = 32;

/** The order strategies are listed in (portfolio order, then the others). */
export const STRATEGY_ORDER: readonly string[] = ['pct/d3', 'pct/d2', 'pct/d1', 'pos', 'urw', 'random', 'os', 'mutation'];

/**
 * Counts by name in one order, whatever order they were met in: jobs meet
 * strategies and known issues in an order that depends on their speed, and
 * a campaign's JSON must not (strategies by STRATEGY_ORDER, the rest by name).
 */
export function sortedCounts(by: Readonly<Record<string, number>>): Record<string, number> {
  const rank = (k: string): number => {
    const i = STRATEGY_ORDER.indexOf(k);
    return i < 0 ? STRATEGY_ORDER.length : i;
  };
  return Object.fromEntries(Object.entries(by).sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0)));
}

/** Range multiplier over the calibrated run length: PCT draws change points over the whole run. */
const RANGE_MARGIN = 1.5;

function tally(byScenario: Record<string, ScenarioTally>, name: string): ScenarioTally {
  return (byScenario[name] ??= { runs: 0, byStrategy: {}, cleanPct: 0, k: 0, outgrown: 0 });
}

export async function fuzz(runner: Engine, o: FuzzOptions): Promise<FuzzResult> {
  const t0 = Date.now();
  const findings: FuzzFinding[] = [];
  let runs = 0;
  let clean = 0;
  let incomplete = 0;
  let inputError: string | null = null;
  let steps = 0;
  const byStrategy: Record<string, number> = {};
  const byScenario: Record<string, ScenarioTally> = {};
  const known: Record<string, number> = {};
  const unclassified: FuzzResult['unclassified'] = [];
  const numbers = o.runNumbers ?? new RunNumbers(0, 1);
  const limit = o.limit ?? { maxIndex: Infinity };
  const deadline = o.deadline ?? t0 + o.budgetMs;
  // scheduling points per op of each scenario, from calibration runs (a pure function of the
  // campaign's options, so every job and shard gets the same ranges)
  const perOp = new Map<string, number>();
  const calibrate = async (s: Scenario, ops: number): Promise<number> => {
    const have = perOp.get(s.name);
    if (have !== undefined) return have;
    let most = 0;
    for (const mode of [Mode.random, Mode.pct]) {
      const cs = deriveSeed(o.seed, 0x40000000 + o.scenarios.indexOf(s) * 2 + mode);
      const programs = generatePrograms(s, o.cpus, cs, ops, o.sizes);
      const c = await runner.run({
        scenario: s, cpus: o.cpus, seed: cs, strategy: mode, depth: 1, kernel: o.kernel, backend: o.backend, ops, programs, watchdogMs: o.watchdogMs, sizes: o.sizes,
        inject: o.inject, verifyKnown: false, deadline,
      });
      const total = programs.reduce((n, p) => n + p.length / 4, 0);
      if (c.steps > 0 && total > 0) most = Math.max(most, c.steps / total);
    }
    const v = most > 0 ? most : STEPS_PER_OP;
    perOp.set(s.name, v);
    return v;
  };
  const seen = new Uint8Array(COV_WORDS * 32);
  const byKind = COV_KINDS.map(() => 0);
  let bits = 0;
  const corpus: CorpusEntry[] = [];
  const curve: { runs: number; bits: number; corpus: number }[] = [];
  const failing = (): number => findings.length;
  /**
   * Start run number `index`: its scenario, seed, strategy and programs
   * (a pure function of the number, or of the corpus with --feedback), its
   * PCT range, and the run itself on the engine.
   */
  const start = async (index: number, signal?: AbortSignal): Promise<StartedRun> => {
    // feedback: a quarter of the runs mutate a corpus entry's schedule instead of taking a fresh seed
    // (which runs mutate is drawn per run number, so that the rotation still reaches every pair)
    const coin = deriveSeed(o.seed ^ 0x2545f491, index);
    const parent = o.feedback && corpus.length > 0 && (coin & 3) === 3 ? corpus[(coin >>> 2) % corpus.length]! : null;
    const plan = planRun(o, index);
    const s = parent ? parent.scenario : o.scenarios[plan.scenario]!;
    const seed = parent ? parent.seed : deriveSeed(o.seed, index);
    const mode = parent ? Mode.replay : plan.mode;
    const depth = plan.depth;
    const controlled = mode !== Mode.os;
    // --ops never cuts a directed scenario's set-up short (its completions would never come)
    const ops = parent ? parent.ops : o.ops ? Math.max(o.ops, s.minOps ?? 0) : s.fuzzOps || 30;
    const programs = parent ? parent.programs : generatePrograms(s, o.cpus, seed, ops, o.sizes);
    const totalOps = programs.reduce((n, p) => n + p.length / 4, 0);
    const range = controlled ? Math.max(50, Math.round((await calibrate(s, ops)) * totalOps * RANGE_MARGIN)) : undefined;
    const base = {
      scenario: s, cpus: o.cpus, seed, strategy: mode, depth, inject: o.inject, kernel: o.kernel, backend: o.backend, expectedSteps: range, ops,
      watchdogMs: o.watchdogMs, sizes: o.sizes, suppressions: o.suppressions, strictKnown: o.strictKnown, deadline,
      ...(parent ? { schedule: mutateSchedule(parent.schedule, deriveSeed(o.seed ^ 0x68e31da4, index)) } : {}),
    };
    const started = Date.now();
    const result = runner.run({ ...base, programs, coverage: recordCov, signal });
    // a run started ahead may never be looked at (the campaign ended first)
    result.catch(() => {});
    return { parent, s, seed, mode, depth, controlled, ops, programs, range, base, started, result };
  };
  const recordCov = o.feedback === true || o.measureCoverage === true;
  // the engine's clean verdicts, sampled: an engine that is not the reference (the in-thread one) has the
  // first run of each scenario that found nothing replayed on the real threads too, alongside the
  // campaign; a difference is a harness error (exit 3), never a clean campaign
  const sampled = o.sampled ?? new Set<string>();
  const confirmations: Promise<void>[] = [];
  let confirmError: unknown = null;
  // (a sample the campaign ended before it started is not played: the budget holds)
  const dropSamples = new AbortController();
  // an engine that takes runs while one is under way gets the next run before this one's result is
  // looked at (not with --feedback, whose next run depends on this one's coverage): what the
  // campaign makes of each run is the same, it only waits less
  const ahead = runner.overlaps && !o.feedback ? RUNS_AHEAD : 0;
  // the runs started ahead, in run-number order (this job's numbers increase: the sequence only goes up);
  // those the campaign will not look at (it ended, or a finding ends it) are dropped if their engine has not
  // started them: a campaign after this one on the same engine, or the finding's shrinking, does not wait for them
  const pending: { index: number; run: Promise<StartedRun>; drop: AbortController }[] = [];
  const dropPending = (): void => {
    for (const p of pending) p.drop.abort();
  };
  const more = (n: number): boolean => !(o.maxRuns && n >= o.maxRuns) && n <= limit.maxIndex;
  const startNext = (): void => {
    const index = numbers.take();
    const drop = new AbortController();
    const run = start(index, drop.signal);
    run.catch(() => {});
    pending.push({ index, run, drop });
  };
  try {
    for (;;) {
      if (confirmError !== null) throw confirmError;
      if (Date.now() >= deadline || o.shouldStop?.()) break;
      // the next run: the oldest started ahead, or a new number (none left: the campaign is over for this job);
      // one started ahead past a lower failing run (another job's) is not looked at
      if (pending.length === 0 && more(numbers.peek())) startNext();
      const next = pending.shift();
      if (!next) break;
      if (!more(next.index)) {
        next.drop.abort();
        break;
      }
      const index = next.index;
      try {
        const cur = await next.run;
        while (pending.length < ahead && more(numbers.peek())) startNext();
        const { parent, s, seed, mode, depth, controlled, ops, programs, range, base, started } = cur;
        let r = await cur.result;
        runs++;
        const label = parent ? 'mutation' : strategyLabel(mode, depth);
        const t = tally(byScenario, s.name);
        t.runs++;
        t.ms = (t.ms ?? 0) + (Date.now() - started);
        t.byStrategy[label] = (t.byStrategy[label] ?? 0) + 1;
        byStrategy[label] = (byStrategy[label] ?? 0) + 1;
        if (recordCov && r.coverage) {
          let fresh = 0;
          for (const b of r.coverage) {
            if (seen[b]) continue;
            seen[b] = 1;
            fresh++;
            byKind[Math.floor(b / COV_BITS_PER_KIND)]!++;
          }
          bits += fresh;
          // the corpus grows only on new coverage
          if (o.feedback && fresh > 0 && controlled && r.schedule !== null) corpus.push({ scenario: s, seed, ops, programs, schedule: decodeSchedule(r.schedule) });
          curve.push({ runs, bits, corpus: corpus.length });
        }
        if (controlled && r.steps) steps += r.steps;
        for (const id of new Set(r.violations.filter((v) => v.known && !v.suppressed).map((v) => v.known!))) known[id] = (known[id] ?? 0) + 1;
        for (const v of r.violations) if (v.unclassified !== undefined) unclassified.push({ run: index + 1, scenario: s.name, seed, title: v.title, mechanism: v.mechanism ?? '', why: v.unclassified });
        if (r.status === 'interrupted') break;
        if (r.status === 'incomplete') incomplete++;
        // PCT's bound holds for a run only if its change points could fall anywhere in it:
        // a clean run that outgrew its range is made again with a range that covers it. A run
        // that met only known issues counts when none of them stopped it (it checked everything).
        const checkedAll = (x: RunResult): boolean => x.status === 'clean' || (x.status === 'known' && !x.violations.some((v) => v.fatal));
        const countsForRisk = mode === Mode.pct && depth === o.depth;
        if (countsForRisk && checkedAll(r) && r.steps > range!) {
          const wider = Math.round(r.steps * RANGE_MARGIN);
          const again = await runner.run({ ...base, programs, expectedSteps: wider });
          if (again.status === 'violation') r = again;
          else if (checkedAll(again) && again.steps <= wider) {
            t.cleanPct++;
            t.k = Math.max(t.k, wider);
          } else t.outgrown++;
        } else if (countsForRisk && checkedAll(r)) {
          t.cleanPct++;
          t.k = Math.max(t.k, range!);
        }
        o.onRun?.(runs, Date.now() - t0, failing());
        if (r.status !== 'violation') {
          // a run that met only known issues did not check everything it would have: not clean
          if (r.status === 'clean') clean++;
          if ((r.status === 'clean' || r.status === 'known') && controlled && r.schedule !== null && !sampled.has(s.name)) {
            sampled.add(s.name);
            // (within the campaign's deadline: a sample cut short confirms nothing either way; only a disagreement is
            // an error -- anything else that stops a sample, a scenario file's budget, loses the sample, not the report)
            confirmations.push(runner.confirm({ ...base, programs, signal: dropSamples.signal }, r).catch((e: unknown) => {
              if (e instanceof HarnessError && !runner.wasInterrupted) confirmError ??= e;
            }));
          }
          continue;
        }
        const detectMs = Date.now() - t0;
        // without --keep-going this run ends the campaign: the other jobs take no number past it from now on
        if (!o.keepGoing) {
          limit.maxIndex = Math.min(limit.maxIndex, index);
          dropPending();
        }
        // --keep-going files a run under every signature it had (targetViolations)
        const targets = o.keepGoing ? targetViolations(r, o.inject, o.strictKnown) : [targetViolation(r, o.inject, o.strictKnown)];
        for (const target of targets) {
          const signature = signatureOf(target);
          // --keep-going: one finding per signature, its first failing run (a loop makes its runs in
          // increasing order): what does not depend on how the campaign is split into jobs and shards
          const prev = findings.find((f) => f.signature === signature);
          if (prev) {
            prev.occurrences++;
            continue;
          }
          const stamp = { scenario: s.name, seed, run: index + 1, strategy: label, detectMs, firstRun: index + 1, firstDetectMs: detectMs };
          findings.push(await fileFinding(runner, o, cur, r, target, stamp));
        }
        if (!o.keepGoing) break;
      } catch (e) {
        // the budget ended inside a scenario file's call: the campaign ends there, as at any budget end
        if (e instanceof ScenarioBudgetError) break;
        // a scenario file that throws or loops for one seed: the campaign stops here, its report kept
        inputError = inputErrorOf(e);
        if (inputError === null) throw e;
        limit.maxIndex = -1;
        break;
      }
    }
  } finally {
    dropPending();
    dropSamples.abort();
  }
  await Promise.all(confirmations);
  if (confirmError !== null) throw confirmError;
  const meanSteps = runs ? steps / runs : 0;
  const cleanPctRuns = Object.values(byScenario).reduce((n, t) => n + t.cleanPct, 0);
  for (const t of Object.values(byScenario)) t.byStrategy = sortedCounts(t.byStrategy);
  return {
    runs, cleanRuns: clean, incompleteRuns: incomplete, ms: Date.now() - t0, findings, meanSteps, ...(inputError !== null ? { inputError } : {}),
    ...worstResidual(byScenario, o.cpus + 1, o.depth, findings.length > 0),
    cleanPctRuns, byStrategy: sortedCounts(byStrategy), byScenario,
    ...(o.feedback || o.measureCoverage ? { coverage: { bits, byKind, corpus: corpus.length, curve } } : {}),
    known: sortedCounts(known), ...(unclassified.length ? { unclassified } : {}),
  };
}

/**
 * A new finding of a campaign, from its first failing run: shrunk (within
 * its own budget), confirmed by the engine on the real threads (a
 * disagreement throws: a harness error, never a verdict) and written as a
 * repro file. The bench, which only times detection, files it as it is.
 */
async function fileFinding(
  runner: Engine, o: FuzzOptions, cur: StartedRun, r: RunResult, target: Violation,
  stamp: Pick<FuzzFinding, 'scenario' | 'seed' | 'run' | 'strategy' | 'detectMs' | 'firstRun' | 'firstDetectMs'>,
): Promise<FuzzFinding> {
  const { s, seed, mode, depth, controlled, programs, base } = cur;
  const signature = signatureOf(target);
  const original = sizeOf(programs, r.schedule ? decodeSchedule(r.schedule) : []);
  if (o.writeRepro === false) return { ...stamp, violation: target, reproPath: '', repro: null, original, minimal: original, schedule: r.schedule ?? '', shrinkRuns: 0, signature, occurrences: 1 };
  let minimalPrograms = programs;
  let schedule = r.schedule ? decodeSchedule(r.schedule) : [];
  let final = r;
  let shrinkRuns = 0;
  let reproSeed = seed;
  let shrinkError: string | undefined;
  let shrunk = false;
  const shrinkStart = Date.now();
  if (controlled && !o.shouldStop?.()) {
    const shrinkDeadline = Date.now() + o.shrinkBudgetMs;
    // a scenario file's calls while shrinking are bounded by the shrink's budget, not the campaign's
    const release = extendScenarioDeadline(shrinkDeadline);
    try {
      const sh = await shrink({ runner, base: { ...base, deadline: shrinkDeadline }, programs, target: signature, budgetMs: o.shrinkBudgetMs, verifyKnown: target.mechanism !== undefined });
      minimalPrograms = sh.programs;
      schedule = sh.schedule;
      final = sh.result;
      shrinkRuns = sh.runs;
      reproSeed = sh.seed;
      shrunk = true;
    } catch (e) {
      // the repro is the original failing run: it still replays
      shrinkError = (e as Error).message;
    } finally {
      release();
    }
  }
  // the engine's finding, confirmed on the real threads before it is reported (a disagreement throws: exit 3)
  await runner.confirm({
    ...base, seed: reproSeed, cpus: minimalPrograms.length, programs: minimalPrograms, deadline: undefined,
    ...(shrunk ? { verifyKnown: target.mechanism !== undefined } : {}),
  }, final);
  const violation = findingWith(final, signature, o.strictKnown) ?? target;
  const minimal = sizeOf(minimalPrograms, schedule);
  const scheduleStr = final.schedule ?? '';
  const repro = makeRepro({
    scenario: s, cpus: minimalPrograms.length, seed: reproSeed, kernel: o.kernel ?? DEFAULT_KERNEL, backend: o.backend, inject: o.inject,
    strategy: MODE_NAMES[mode], depth, programs: minimalPrograms, schedule: scheduleStr, violation, original, minimal,
  });
  // a repro that cannot be written (a full disk, its name taken by a folder) loses nothing: the
  // finding stands, the repro travels in the JSON result, and the command ends with exit 2
  let reproPath = '';
  let reproError: string | undefined;
  try {
    reproPath = writeRepro(o.outDir, repro);
  } catch (e) {
    reproError = `cannot write ${reproFileName(repro)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  return {
    ...stamp, violation, reproPath, repro, original, minimal, schedule: scheduleStr, shrinkRuns, signature, occurrences: 1, shrinkMs: Date.now() - shrinkStart,
    ...(shrinkError ? { shrinkError } : {}), ...(reproError ? { reproError } : {}),
  };
}
