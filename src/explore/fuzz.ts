// Fuzzing: many short runs with derived seeds on the reused pool, until a
// violation (or the budget). A failure is shrunk and written as a repro
// file; after clean PCT runs the residual risk for a depth-d bug is known.

import { rmSync } from 'node:fs';
import type { Runner, RunResult } from '../run/main/runner.ts';
import type { Scenario } from '../../scenarios/lib/scenario.ts';
import { bugByName } from '../percpu/variants.ts';
import type { Violation, ViolationKind } from '../report/violation.ts';
import type { Backend } from '../shm/config.ts';
import { Mode, MODE_NAMES } from '../sched/strategy.ts';
import { STEPS_PER_OP } from '../sched/setup.ts';
import { generatePrograms } from '../../scenarios/lib/scenario.ts';
import { shrink } from './shrink.ts';
import { makeRepro, sizeOf, writeRepro, type ReproSize } from './repro.ts';
import { decodeSchedule } from '../sched/schedule.ts';
import { COV_BITS_PER_KIND, COV_KINDS, COV_WORDS } from '../shm/coverage.ts';
import type { SizeMix } from '../../scenarios/lib/sizes.ts';
import type { Suppression } from '../check/known.ts';

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
  inject: string | null;
  backend?: Backend | undefined;
  /** Stop after this many runs (0: only the time budget counts). */
  maxRuns?: number;
  /** Shrink and write a repro file for each failure (default true; the bench only times detection). */
  writeRepro?: boolean;
  /** Free-running runs: the watchdog (default 5 s). */
  watchdogMs?: number;
  onRun?: (runs: number, elapsedMs: number) => void;
  /** Asked before each run and each shrink step: stop now (a signal). */
  shouldStop?: () => boolean;
  /** A size mix replacing the scenarios' standard sizes. */
  sizes?: SizeMix;
  suppressions?: readonly Suppression[];
  strictKnown?: boolean;
  /**
   * This loop makes runs offset, offset + stride, offset + 2*stride... of
   * the campaign (jobs and shards partition the run numbers; default 0, 1).
   * A run's scenario, seed and strategy depend only on its number.
   */
  offset?: number;
  stride?: number;
  /** Shared by the jobs of one campaign: no run past this number (a lower failing run was found). */
  limit?: { maxIndex: number };
  /**
   * Novelty feedback: record each run's coverage, keep the (programs, seed,
   * schedule) of runs that covered something new in a corpus, and make every
   * other run a mutation of a corpus entry (the schedule replayed with two
   * adjacent slices swapped, a preemption moved, or cut short).
   */
  feedback?: boolean;
  /** Record coverage (and its curve) without feeding it back: the baseline a feedback campaign is compared with. */
  measureCoverage?: boolean;
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
  scenario: string;
  seed: number;
  run: number;
  violation: Violation;
  reproPath: string;
  original: ReproSize;
  minimal: ReproSize;
  schedule: string;
  shrinkRuns: number;
  /** Milliseconds from the start of fuzzing to the first failing run. */
  detectMs: number;
  /** What groups findings under --keep-going: kind, lock classes held, function. */
  signature: string;
  /** Failing runs with this signature (the repro is of the smallest one shrunk). */
  occurrences: number;
  /** The strategy of the run that found it (with its depth for PCT): under the portfolio, which one found it. */
  strategy: string;
}

/** The portfolio's rotation: PCT at depths 3, 2, 1 (3: the requested depth), POS, URW and a random walk, run by run. */
const PORTFOLIO: readonly (readonly [Mode, number])[] = [[Mode.pct, 0], [Mode.pos, 0], [Mode.urw, 0], [Mode.pct, 2], [Mode.random, 0], [Mode.pct, 1]];

/** The strategy and PCT depth of run number `run` of a campaign. */
export function strategyForRun(o: { strategy: Mode; depth: number }, run: number): { mode: Mode; depth: number } {
  if (o.strategy !== Mode.portfolio) return { mode: o.strategy, depth: o.depth };
  const [mode, d] = PORTFOLIO[run % PORTFOLIO.length]!;
  return { mode, depth: d || o.depth };
}

export function strategyLabel(mode: Mode, depth: number): string {
  return mode === Mode.pct ? `pct/d${depth}` : MODE_NAMES[mode];
}

/** A violation's signature: its kind, the lock classes held (sorted) and the function it was reported in. */
export function signatureOf(v: Violation): string {
  // the class name only: "(pcpu_lock){-.+.}" -> "pcpu_lock" (the usage bits vary with the run)
  const locks = [...new Set(v.held.map((h) => h.lock.replace(/\{[^}]*\}$/, '').replace(/^\((.*)\)$/, '$1')))].sort().join(',');
  return `${v.kind} [${locks}] ${v.stack[0] ?? '?'}`;
}

/** Is repro size `a` smaller than `b`: fewer ops, then fewer context switches, then fewer CPUs. */
export function smaller(a: ReproSize, b: ReproSize): boolean {
  return a.ops < b.ops || (a.ops === b.ops && (a.switches < b.switches || (a.switches === b.switches && a.cpus < b.cpus)));
}

export interface FuzzResult {
  runs: number;
  cleanRuns: number;
  ms: number;
  findings: FuzzFinding[];
  meanSteps: number;
  /** PCT runs at the requested depth only: the probability that a depth-d bug survived every clean one. */
  residualRisk: number | null;
  /** Clean PCT runs at the requested depth (what residualRisk counts). */
  cleanPctRuns: number;
  /** Runs per strategy (PCT per depth; "mutation" for feedback runs). */
  byStrategy: Record<string, number>;
  /** Feedback campaigns: coverage bits set by any run, per kind, and the corpus. */
  coverage?: { bits: number; byKind: number[]; corpus: number; curve: { runs: number; bits: number; corpus: number }[] };
  /** Known issues of the baseline met (fuzzing goes on past them): id -> runs. */
  known: Record<string, number>;
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

/** Which violation a shrink must keep: the injected bug's expected kind if it showed, else the first. */
export function targetKind(r: RunResult, inject: string | null): ViolationKind {
  const expect = (inject ? bugByName(inject)?.expect : undefined) ?? [];
  const counting = r.violations.filter((v) => !v.suppressed && !v.known);
  return (counting.find((v) => expect.includes(v.kind)) ?? counting[0] ?? r.violations[0]!).kind;
}

function scenarioOf(o: FuzzOptions, i: number): Scenario {
  const best = o.inject ? bugByName(o.inject)?.scenario : undefined;
  const favourite = best ? o.scenarios.find((s) => s.name === best) : undefined;
  // with an injected bug, every other run goes to the scenario that exposes it best
  if (favourite && o.scenarios.length > 1 && i % 2 === 0) return favourite;
  return o.scenarios[Math.floor(i / (favourite && o.scenarios.length > 1 ? 2 : 1)) % o.scenarios.length]!;
}

export async function fuzz(runner: Runner, o: FuzzOptions): Promise<FuzzResult> {
  const t0 = Date.now();
  const findings: FuzzFinding[] = [];
  let runs = 0;
  let clean = 0;
  let cleanPct = 0;
  let steps = 0;
  const byStrategy: Record<string, number> = {};
  const known: Record<string, number> = {};
  const offset = o.offset ?? 0;
  const stride = o.stride ?? 1;
  const limit = o.limit ?? { maxIndex: Infinity };
  // scheduling points per op of each scenario, from one calibration run (a pure
  // function of the campaign's options, so every job and shard gets the same k)
  const perOp = new Map<string, number>();
  const calibrate = async (s: Scenario, ops: number): Promise<number> => {
    const known = perOp.get(s.name);
    if (known !== undefined) return known;
    const cs = deriveSeed(o.seed, 0x40000000 + o.scenarios.indexOf(s));
    const programs = generatePrograms(s, o.cpus, cs, ops, o.sizes);
    const c = await runner.run({ scenario: s, cpus: o.cpus, seed: cs, strategy: Mode.random, depth: 1, backend: o.backend, ops, programs, watchdogMs: o.watchdogMs, sizes: o.sizes });
    const total = programs.reduce((n, p) => n + p.length / 4, 0);
    const v = c.steps > 0 && total > 0 ? c.steps / total : STEPS_PER_OP;
    perOp.set(s.name, v);
    return v;
  };
  const seen = new Uint8Array(COV_WORDS * 32);
  const byKind = COV_KINDS.map(() => 0);
  let bits = 0;
  const corpus: CorpusEntry[] = [];
  const curve: { runs: number; bits: number; corpus: number }[] = [];
  for (let k = 0; ; k++) {
    const index = offset + stride * k;
    if (Date.now() - t0 >= o.budgetMs || (o.maxRuns && index >= o.maxRuns) || index > limit.maxIndex || o.shouldStop?.()) break;
    // feedback: every other run mutates a corpus entry's schedule instead of a fresh seed
    // (which runs mutate is drawn per run number, so that the portfolio's rotation still reaches every strategy)
    const coin = deriveSeed(o.seed ^ 0x2545f491, index);
    const parent = o.feedback && corpus.length > 0 && (coin & 3) === 3 ? corpus[(coin >>> 2) % corpus.length]! : null;
    const s = parent ? parent.scenario : scenarioOf(o, index);
    const seed = parent ? parent.seed : deriveSeed(o.seed, index);
    const picked = strategyForRun(o, index);
    const mode = parent ? Mode.replay : picked.mode;
    const depth = picked.depth;
    const controlled = mode !== Mode.os;
    // --ops never cuts a directed scenario's set-up short (its completions would never come)
    const ops = parent ? parent.ops : o.ops ? Math.max(o.ops, s.minOps ?? 0) : s.fuzzOps || 30;
    const programs = parent ? parent.programs : generatePrograms(s, o.cpus, seed, ops, o.sizes);
    const totalOps = programs.reduce((n, p) => n + p.length / 4, 0);
    const expectedSteps = controlled ? Math.max(50, Math.round((await calibrate(s, ops)) * totalOps)) : undefined;
    const base = {
      scenario: s, cpus: o.cpus, seed, strategy: mode, depth, inject: o.inject, backend: o.backend, expectedSteps, ops,
      watchdogMs: o.watchdogMs, sizes: o.sizes, suppressions: o.suppressions, strictKnown: o.strictKnown,
      ...(parent ? { schedule: mutateSchedule(parent.schedule, deriveSeed(o.seed ^ 0x68e31da4, index)) } : {}),
    };
    const recordCov = o.feedback === true || o.measureCoverage === true;
    const r = await runner.run({ ...base, programs, coverage: recordCov });
    runs++;
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
    const label = parent ? 'mutation' : strategyLabel(mode, depth);
    byStrategy[label] = (byStrategy[label] ?? 0) + 1;
    o.onRun?.(runs, Date.now() - t0);
    if (controlled && r.steps) steps += r.steps;
    for (const v of r.violations) if (v.known && !v.suppressed) known[v.known] = (known[v.known] ?? 0) + 1;
    if (r.status === 'interrupted') break;
    if (r.status !== 'violation') {
      // a run that met only known issues did not check everything it would have: not clean
      if (r.status === 'clean') {
        clean++;
        // the residual-risk bound holds for PCT runs at the requested depth only
        if (mode === Mode.pct && depth === o.depth) cleanPct++;
      }
      continue;
    }
    const detectMs = Date.now() - t0;
    const target = targetKind(r, o.inject);
    const signature = signatureOf(r.violations.find((v) => v.kind === target) ?? r.violations[0]!);
    const original = sizeOf(programs, r.schedule ? decodeSchedule(r.schedule) : []);
    // --keep-going: one finding per signature; a later failing run is shrunk only if it could give a smaller repro
    const prev = findings.find((f) => f.signature === signature);
    if (prev) {
      prev.occurrences++;
      if (!smaller(original, prev.minimal) || o.writeRepro === false) continue;
    }
    if (o.writeRepro === false) {
      const violation = r.violations.find((v) => v.kind === target)!;
      findings.push({ scenario: s.name, seed, run: index + 1, violation, reproPath: '', original, minimal: original, schedule: r.schedule ?? '', shrinkRuns: 0, detectMs, signature, occurrences: 1, strategy: label });
      if (!o.keepGoing) {
        limit.maxIndex = Math.min(limit.maxIndex, index);
        break;
      }
      continue;
    }
    let minimalPrograms = programs;
    let schedule = r.schedule ? decodeSchedule(r.schedule) : [];
    let final = r;
    let shrinkRuns = 0;
    let reproSeed = seed;
    if (controlled && !o.shouldStop?.()) {
      try {
        const sh = await shrink({ runner, base, programs, target, budgetMs: o.shrinkBudgetMs });
        minimalPrograms = sh.programs;
        schedule = sh.schedule;
        final = sh.result;
        shrinkRuns = sh.runs;
        reproSeed = sh.seed;
      } catch {
        // keep the original failure when it does not reproduce
      }
    }
    const violation = final.violations.find((v) => v.kind === target) ?? final.violations[0]!;
    const minimal = sizeOf(minimalPrograms, schedule);
    if (prev && !smaller(minimal, prev.minimal)) continue;
    const scheduleStr = final.schedule ?? '';
    const repro = makeRepro({
      scenario: s, cpus: minimalPrograms.length, seed: reproSeed, backend: o.backend, inject: o.inject,
      strategy: MODE_NAMES[mode], depth, programs: minimalPrograms, schedule: scheduleStr, violation, original, minimal,
    });
    const finding: FuzzFinding = {
      scenario: s.name, seed, run: index + 1, violation, reproPath: writeRepro(o.outDir, repro), original, minimal,
      schedule: scheduleStr, shrinkRuns, detectMs, signature, occurrences: 1, strategy: label,
    };
    if (prev) {
      // the smaller repro replaces the earlier one of the same signature
      if (prev.reproPath !== finding.reproPath) rmSync(prev.reproPath, { force: true });
      Object.assign(prev, { ...finding, run: prev.run, detectMs: prev.detectMs, occurrences: prev.occurrences, strategy: prev.strategy });
    } else {
      findings.push(finding);
    }
    if (!o.keepGoing) {
      limit.maxIndex = Math.min(limit.maxIndex, index);
      break;
    }
  }
  const meanSteps = runs ? steps / runs : 0;
  return {
    runs, cleanRuns: clean, ms: Date.now() - t0, findings, meanSteps,
    residualRisk: cleanPct > 0 ? residualRisk(cleanPct, o.cpus + 1, meanSteps, o.depth) : null,
    cleanPctRuns: cleanPct, byStrategy,
    ...(o.feedback || o.measureCoverage ? { coverage: { bits, byKind, corpus: corpus.length, curve } } : {}),
    known,
  };
}
