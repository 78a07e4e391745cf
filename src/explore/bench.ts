// `percpu-stress bench`: the numbers that matter, measured in one run so
// that ratios compare like with like on the same machine: free-running
// throughput with every check on and off, controlled-mode scheduling speed,
// the cost of lockdep per lock/unlock pair, and time to detect each
// historical bug under each strategy.

import { availableParallelism, cpus as osCpus } from 'node:os';
import { Runner } from '../run/main/runner.ts';
import type { Engine, EngineName } from '../run/main/engine.ts';
import { InThreadEngine, newEngine } from '../run/main/inthread.ts';
import type { RunOptions } from '../run/spec.ts';
import type { RunResult } from '../report/result.ts';
import type { Violation } from '../report/violation.ts';
import { scenarioByName, scenariosOf } from '../../scenarios/index.ts';
import { benchMix } from '../../scenarios/bench-mix.ts';
import { GENERATIONS } from '../run/kernels.ts';
import { DEFAULT_KERNEL, type KernelVersion } from '../shm/config.ts';
import { Mode, MODE_NAMES } from '../sched/strategy.ts';
import { fuzz, RUNS_AHEAD, type FuzzFinding, type FuzzOptions } from './fuzz.ts';
import { parseSuppressions } from '../check/known.ts';
import { runCampaign } from './campaign.ts';
import { Kernel, bootMachine, newShm, planMachine } from '../run/machine.ts';
import { Lock } from '../sync/locks.ts';
import { VERSION } from '../version.ts';

export interface BenchOptions {
  /** The kernel generation every measurement boots (default 2.6.35). */
  kernel?: KernelVersion;
  /** Ops per throughput measurement (all CPUs together): a count, so that a slow host measures slowly, never nothing. */
  throughputOps: number;
  /** The memory measurement: every scenario once at this many CPUs, with this many ops per CPU. */
  memory: { cpus: number; ops: number };
  /** Detection: a cap in runs on each attempt (besides detectCapMs). */
  detectMaxRuns: number;
  cpuCounts: number[];
  /** Detection: seeds per bug and strategy, and the cap of one detection attempt. */
  seeds: number;
  detectCapMs: number;
  controlledRuns: number;
  /** CPU counts whose start-up (new threads to the end of a 1-op run) is measured. */
  startupCpus: number[];
  /** Before each step: what it measures, and the fraction of the steps done. */
  onStep?: (what: string, fraction?: number) => void;
}

export interface ThroughputRow {
  cpus: number;
  /** Ops the two measurements ran (checks on, checks off). */
  opsChecks: number;
  opsNoChecks: number;
  opsPerSecChecks: number;
  opsPerSecNoChecks: number;
  /** checks-off throughput / checks-on throughput */
  checkCost: number;
  lockAcqPerSec: number;
  /** The same, per second of the process's CPU time (all threads): comparable on a busy machine. */
  opsPerCpuSecChecks: number;
  opsPerCpuSecNoChecks: number;
  /** Five seeds' runs of the faithful kernel were all stopped by a fatal known issue: both measured with its later fixes booted. */
  fixesBooted?: boolean;
}

export interface StartupRow {
  cpus: number;
  /** From creating the runner to the end of a 1-op run: wall and process CPU time. */
  wallMs: number;
  cpuMs: number;
}

export interface DetectionRow {
  /** A historical bug (--inject), or a known issue of the kernel (`known: true`). */
  bug: string;
  known?: true;
  strategy: string;
  /** Per seed: runs and seconds to the first detection, null when not found within the cap. */
  samples: { runs: number; seconds: number; found: boolean }[];
  medianRuns: number | null;
  medianSeconds: number | null;
  found: number;
}

export interface BenchResult {
  tool: 'percpu-stress';
  version: string;
  kernel: KernelVersion;
  machine: { cores: number; cpuModel: string; node: string; platform: string };
  throughput: ThroughputRow[];
  /** Coverage (distinct events) against runs, without and with novelty feedback. */
  coverage: { feedback: boolean; curve: { runs: number; bits: number; corpus: number }[] }[];
  /** fuzz all (portfolio) runs/s on one job and on two, per engine; the process's resident set after each (all threads), MiB. */
  campaign: { engine: EngineName; jobs: number; runs: number; runsPerSec: number; runsPerCpuSec: number; rssMiB: number }[];
  /** Controlled runs per engine, strategy and length. */
  controlled: { engine: EngineName; strategy: string; ops: number; runs: number; runsPerSec: number; stepsPerSec: number; switchesPerSec: number; runsPerCpuSec: number }[];
  lockdepNsPerPair: { with: number; without: number; withRaceClocks: number };
  startup: StartupRow[];
  /** The first phase: every scenario once at memory.cpus CPUs; the process's peak resident set (every thread) right after it, MiB. */
  memory: { cpus: number; opsPerCpu: number; runs: number; peakRssMiB: number };
  /** Peak resident set of the bench process (every thread) at its end, MiB. */
  peakRssMiB: number;
  detection: DetectionRow[];
  ms: number;
}

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function cpuMsSince(c0: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(c0);
  return (d.user + d.system) / 1000;
}

/** A free-running measurement: ops, lock acquisitions and CPU time of one run. */
interface Measured {
  done: number;
  ops: number;
  locks: number;
  perCpuSec: number;
}

/**
 * Throughput with checks on and off, on the same run (seed and kernel). A kernel's known issues may show (4.1's
 * do): they are the kernel's, not the bench's. But one that stops the run (a fatal report by a CPU: a walk escape,
 * a use-after-free) leaves a run too short to measure: the next seed is taken, and when five seeds' pairs are all
 * stopped (4.1 at 8 CPUs) the kernel is measured with its later fixes booted, and says so.
 */
export async function throughput(runner: Pick<Runner, 'run'>, cpus: number, totalOps: number, kernel: KernelVersion): Promise<{ on: Measured; off: Measured; fixed: boolean }> {
  const ops1 = Math.max(1, Math.round(totalOps / cpus));
  const cut = (x: RunResult): Violation | undefined => x.violations.find((v) => v.fatal && v.cpu >= 0);
  const measure = async (seed: number, checks: boolean, fixes: number): Promise<{ r: RunResult; m: Measured }> => {
    const c0 = process.cpuUsage();
    const r = await runner.run({ scenario: benchMix, cpus, seed, ops: ops1, checks, kernel, ...(fixes ? { fixes } : {}) });
    const cpuMs = cpuMsSince(c0);
    if (r.status !== 'clean' && r.status !== 'known') throw new Error(`bench run not clean: ${r.status}${r.violations[0] ? `: ${r.violations[0].title}` : ''}`);
    const ops = r.ops.alloc + r.ops.free + r.ops.irqsHandled;
    const locks = r.locks.reduce((s, l) => s + l.acquisitions, 0);
    const ms = Math.max(r.activeMs, 1);
    return { r, m: { done: r.ops.ops, ops: (ops * 1000) / ms, locks: (locks * 1000) / ms, perCpuSec: (ops * 1000) / Math.max(cpuMs, 1) } };
  };
  for (let seed = 1; seed <= 5; seed++) {
    const on = await measure(seed, true, 0);
    if (cut(on.r)) continue;
    const off = await measure(seed, false, 0);
    if (!cut(off.r)) return { on: on.m, off: off.m, fixed: false };
  }
  const all = (1 << GENERATIONS[kernel].fixes.length) - 1;
  const on = await measure(1, true, all);
  const off = await measure(1, false, all);
  const stop = cut(on.r) ?? cut(off.r);
  if (stop) throw new Error(`bench run stopped with every later fix booted: ${stop.title}`);
  return { on: on.m, off: off.m, fixed: true };
}

/** Start-up: a new runner (threads, machine, boot) and a 1-op run at `cpus` CPUs. */
async function startup(cpus: number, kernel: KernelVersion): Promise<StartupRow> {
  const t0 = Date.now();
  const c0 = process.cpuUsage();
  const runner = new Runner();
  try {
    await runner.run({ scenario: scenarioByName('alloc-free-storm')!, cpus, seed: 1, ops: 1, kernel });
  } finally {
    await runner.close();
  }
  return { cpus, wallMs: Date.now() - t0, cpuMs: Math.round(cpuMsSince(c0)) };
}

/** ns per spin_lock_irqsave/unlock pair on one CPU, with and without lockdep. */
function lockPairCost(): { with: number; without: number; withRaceClocks: number } {
  const spec = planMachine({ cpus: 1 });
  const shm = newShm(spec);
  bootMachine(spec, shm);
  const out = { with: 0, without: 0, withRaceClocks: 0 };
  for (const [key, lockdep, checks] of [['with', true, false], ['without', false, false], ['withRaceClocks', true, true]] as const) {
    const k = new Kernel(spec, shm, { lockdep, checks });
    const cpu = k.cpu(0);
    const n = 400_000;
    for (let round = 0; round < 2; round++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const f = cpu.spinLockIrqSave(Lock.caller_lock);
        cpu.spinUnlockIrqRestore(Lock.caller_lock, f);
      }
      const ns = Number(process.hrtime.bigint() - t0) / n;
      if (round === 1) out[key] = ns;
    }
  }
  return out;
}

/** The strategies the detection table compares, a column each. */
const DETECT_MODES = [Mode.pct, Mode.pos, Mode.urw, Mode.random, Mode.os] as const;

export async function bench(opts: BenchOptions): Promise<BenchResult> {
  const t0 = Date.now();
  const kernel = opts.kernel ?? DEFAULT_KERNEL;
  const SCENARIOS = scenariosOf(kernel);
  const BUGS = GENERATIONS[kernel].bugs;
  const KNOWN = GENERATIONS[kernel].knownIssues;
  // every step named, and counted for the progress line
  const total = 1 + opts.cpuCounts.length + 1 + opts.startupCpus.length + 3 * 2 + 2 * 2 + 2 + (BUGS.length + KNOWN.length) * DETECT_MODES.length;
  let step = 0;
  const o: BenchOptions = { ...opts, onStep: (what) => opts.onStep?.(`bench step ${++step} of ${total}: ${what}`, (step - 1) / total) };
  // memory first, so that the process's peak resident set right after it is this phase's
  o.onStep?.(`memory: every scenario at ${o.memory.cpus} CPUs`);
  const memRunner = new Runner();
  let memRuns = 0;
  try {
    for (const s of SCENARIOS) {
      await memRunner.run({ scenario: s, cpus: o.memory.cpus, seed: 1, ops: o.memory.ops, kernel });
      memRuns++;
    }
  } finally {
    await memRunner.close();
  }
  const memory = { cpus: o.memory.cpus, opsPerCpu: o.memory.ops, runs: memRuns, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) };
  const runner = new Runner();
  try {
    const rows: ThroughputRow[] = [];
    for (const cpus of o.cpuCounts) {
      o.onStep?.(`throughput at ${cpus} CPU${cpus > 1 ? 's' : ''}`);
      const { on, off, fixed } = await throughput(runner, cpus, o.throughputOps, kernel);
      rows.push({
        cpus, opsChecks: on.done, opsNoChecks: off.done, opsPerSecChecks: Math.round(on.ops), opsPerSecNoChecks: Math.round(off.ops), checkCost: off.ops / on.ops, lockAcqPerSec: Math.round(on.locks),
        opsPerCpuSecChecks: Math.round(on.perCpuSec), opsPerCpuSecNoChecks: Math.round(off.perCpuSec),
        ...(fixed ? { fixesBooted: true } : {}),
      });
    }
    o.onStep?.('lockdep cost per lock/unlock pair');
    const lockdepNsPerPair = lockPairCost();
    const startups: StartupRow[] = [];
    for (const cpus of o.startupCpus) {
      o.onStep?.(`start-up at ${cpus} CPUs`);
      startups.push(await startup(cpus, kernel));
    }
    const controlled: BenchResult['controlled'] = [];
    const small = scenarioByName('irq-free')!;
    const inthread = new InThreadEngine();
    const engines: [EngineName, Engine][] = [['threads', runner], ['inthread', inthread]];
    try {
      // both engines warmed up alike (threads started, code compiled) before anything is timed
      // (the in-thread engine's generators reach their optimized code only after some hundreds of runs)
      const measured = o.controlledRuns * 3;
      for (const [, engine] of engines) await runInTurn(engine, Math.max(100, measured), (i) => ({ scenario: small, cpus: 3, seed: 1000 + i, ops: 30, strategy: Mode.pct, kernel }), () => {});
      // short runs (fuzz-sized: per-run costs count) and 1000-op runs (the scheduler's own speed), the same runs on each engine
      for (const [mode, ops, runs] of [[Mode.pct, 30, measured], [Mode.random, 30, measured], [Mode.pct, 1000, Math.max(2, measured >> 4)]] as const) {
        for (const [name, engine] of engines) {
          o.onStep?.(`controlled runs (${MODE_NAMES[mode]}, ${ops} ops, ${name})`);
          const cpu0 = process.cpuUsage();
          const c0 = Date.now();
          let steps = 0;
          let switches = 0;
          await runInTurn(engine, runs, (i) => ({ scenario: small, cpus: 3, seed: i + 1, ops, strategy: mode, kernel }), (r) => {
            steps += r.steps;
            switches += r.switches;
          });
          const secs = (Date.now() - c0) / 1000;
          controlled.push({ engine: name, strategy: MODE_NAMES[mode], ops, runs, runsPerSec: runs / secs, stepsPerSec: steps / secs, switchesPerSec: switches / secs, runsPerCpuSec: (runs * 1000) / Math.max(1, cpuMsSince(cpu0)) });
        }
      }
    } finally {
      await inthread.close();
    }
    // a fuzz campaign (portfolio, every scenario) on one job and on two, per engine, the same runs; the coverage curves below take the same campaign
    const campaignOptions = {
      scenarios: [...SCENARIOS], budgetMs: 600_000, shrinkBudgetMs: 0, strategy: Mode.portfolio, depth: 3, cpus: 3, ops: 0,
      keepGoing: true, outDir: '', inject: null, kernel, writeRepro: false,
    };
    const campaign: BenchResult['campaign'] = [];
    for (const name of ['threads', 'inthread'] as const) {
      for (const jobs of [1, 2]) {
        o.onStep?.(`fuzz campaign, --jobs ${jobs}, ${name}`);
        const engines = Array.from({ length: jobs }, () => newEngine(name));
        try {
          // each job's engine started and warmed (a short campaign of its own, another seed) before the clock
          // starts: the campaign, not the start-up and the compiler's warm-up, is measured
          await Promise.all(engines.map((e) => fuzz(e, { ...campaignOptions, seed: 2, maxRuns: Math.max(12, o.controlledRuns * 3) })));
          const runs = Math.max(12, o.controlledRuns * 30);
          const cpu0 = process.cpuUsage();
          const c0 = Date.now();
          const res = await runCampaign(engines, { ...campaignOptions, seed: 1, maxRuns: runs });
          campaign.push({
            engine: name, jobs, runs: res.runs, runsPerSec: res.runs / ((Date.now() - c0) / 1000), runsPerCpuSec: (res.runs * 1000) / Math.max(1, cpuMsSince(cpu0)),
            rssMiB: Math.round(process.memoryUsage().rss / 1048576),
          });
        } finally {
          await Promise.all(engines.map((r) => r.close()));
        }
      }
    }
    // coverage saturation: the same campaign with and without novelty feedback
    const coverage: { feedback: boolean; curve: { runs: number; bits: number; corpus: number }[] }[] = [];
    for (const feedback of [false, true]) {
      o.onStep?.(`coverage curve (${feedback ? 'feedback' : 'no feedback'})`);
      const res = await fuzz(runner, { ...campaignOptions, seed: 1, maxRuns: Math.max(12, o.controlledRuns * 2), feedback, measureCoverage: true });
      coverage.push({ feedback, curve: res.coverage!.curve });
    }
    const detection: DetectionRow[] = [];
    // detection explores as fuzz does, in-thread (free-running os runs go to its threads)
    const explorer = new InThreadEngine();
    try {
      // what one (bug or known issue, strategy) pair takes to detect, over the seeds
      const detect = async (name: string, scenario: string, mode: Mode, extra: Partial<FuzzOptions>, found: (f: FuzzFinding) => boolean): Promise<DetectionRow> => {
        o.onStep?.(`detecting ${name} (${MODE_NAMES[mode]})`);
        const samples = [];
        for (let seed = 1; seed <= o.seeds; seed++) {
          const res = await fuzz(explorer, {
            scenarios: [scenarioByName(scenario)!], budgetMs: o.detectCapMs, shrinkBudgetMs: 0, strategy: mode, depth: 3, cpus: 3,
            ops: mode === Mode.os ? 2000 : 0, seed, keepGoing: false, outDir: '', inject: null, kernel, writeRepro: false, watchdogMs: 1000, maxRuns: o.detectMaxRuns,
            ...extra,
          });
          const f = res.findings.find(found);
          samples.push({ runs: f ? f.run : res.runs, seconds: (f ? f.detectMs : res.ms) / 1000, found: !!f });
        }
        const hits = samples.filter((x) => x.found);
        return {
          bug: name, strategy: MODE_NAMES[mode], samples, found: hits.length,
          // the median over all seeds; a miss counts as its cap, so a median needs most seeds to find it
          medianRuns: hits.length * 2 > samples.length ? median(samples.map((x) => (x.found ? x.runs : Infinity))) : null,
          medianSeconds: hits.length * 2 > samples.length ? median(samples.map((x) => (x.found ? x.seconds : Infinity))) : null,
        };
      };
      for (const bug of BUGS) {
        for (const mode of DETECT_MODES) detection.push(await detect(bug.name, bug.scenario, mode, { inject: bug.name }, () => true));
      }
      // a known issue counts (--strict-known) and the others are suppressed: the first run that shows it ends the attempt
      for (const k of KNOWN) {
        const others = parseSuppressions(KNOWN.filter((x) => x.id !== k.id).map((x) => `known:${x.id}`).join('\n'), 'bench', KNOWN.map((x) => x.id));
        for (const mode of DETECT_MODES) {
          detection.push({ ...(await detect(k.id, k.scenario, mode, { strictKnown: true, suppressions: others }, (f) => f.violation.known === k.id)), known: true });
        }
      }
    } finally {
      await explorer.close();
    }
    const info = osCpus()[0];
    return {
      tool: 'percpu-stress', version: VERSION, kernel,
      machine: { cores: availableParallelism(), cpuModel: info?.model ?? 'unknown', node: process.version, platform: `${process.platform}/${process.arch}` },
      throughput: rows, controlled, campaign, coverage, lockdepNsPerPair, startup: startups, memory, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), detection, ms: Date.now() - t0,
    };
  } finally {
    await runner.close();
  }
}

/**
 * `runs` runs on an engine, one after the other; an engine that queues runs
 * gets the next ones before this one's result is looked at, as fuzz does.
 */
async function runInTurn(engine: Engine, runs: number, make: (i: number) => RunOptions, seen: (r: RunResult) => void): Promise<void> {
  const ahead = engine.overlaps ? RUNS_AHEAD : 0;
  const pending: Promise<RunResult>[] = [];
  for (let i = 0, started = 0; i < runs; i++) {
    while (started < runs && (started === i || pending.length < ahead)) pending.push(engine.run(make(started++)));
    seen(await pending.shift()!);
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function renderBench(r: BenchResult): string {
  let out = `percpu-stress ${r.version} bench${r.kernel !== DEFAULT_KERNEL ? ` of Linux ${r.kernel}` : ''} on ${r.machine.cores} cores (${r.machine.cpuModel}), Node ${r.machine.node}, ${r.machine.platform}\n\n`;
  out += 'Throughput, free-running (standard op mix: alloc 4..4096 B or free, <= 64 live per CPU)\n';
  out += `${'CPUs'.padStart(5)}${'ops/s, checks on'.padStart(19)}${'ops/s, checks off'.padStart(20)}${'off/on'.padStart(9)}${'lock acq/s'.padStart(14)}${'ops/CPU-s on'.padStart(15)}${'ops/CPU-s off'.padStart(15)}\n`;
  for (const t of r.throughput) {
    out += `${String(t.cpus).padStart(5)}${fmt(t.opsPerSecChecks).padStart(19)}${fmt(t.opsPerSecNoChecks).padStart(20)}${t.checkCost.toFixed(2).padStart(9)}${fmt(t.lockAcqPerSec).padStart(14)}` +
      `${fmt(t.opsPerCpuSecChecks).padStart(15)}${fmt(t.opsPerCpuSecNoChecks).padStart(15)}${t.fixesBooted ? '  *' : ''}\n`;
  }
  if (r.throughput.some((t) => t.fixesBooted)) out += '  * a fatal known issue stopped the runs of five seeds: measured with the kernel\'s later fixes booted\n';
  out += `lockdep: ${r.lockdepNsPerPair.with.toFixed(0)} ns per spin_lock_irqsave/unlock pair with it, ${r.lockdepNsPerPair.without.toFixed(0)} ns without, ` +
    `${r.lockdepNsPerPair.withRaceClocks.toFixed(0)} ns with lockdep and the race detector's clocks\n\n`;
  out += 'Start-up: new worker threads, machine and boot, to the end of a 1-op run\n';
  for (const s of r.startup) out += `${String(s.cpus).padStart(5)} CPUs: ${fmt(s.wallMs)} ms wall, ${fmt(s.cpuMs)} ms CPU\n`;
  out += `memory: every scenario once at ${r.memory.cpus} CPUs (${r.memory.opsPerCpu} ops each): peak RSS ${r.memory.peakRssMiB} MiB (all threads)\n`;
  out += `peak RSS of the bench process at its end: ${r.peakRssMiB} MiB\n\n`;
  out += 'Controlled mode (irq-free, 3 CPUs + kworker), per engine; in-thread/threads: the ratio of runs/s; runs/CPU-s: per second of the process\'s CPU time (all threads)\n';
  out += `${'engine'.padEnd(10)}${'strategy'.padEnd(10)}${'ops'.padStart(6)}${'runs/s'.padStart(10)}${'points/s'.padStart(13)}${'switches/s'.padStart(13)}${'in-thread/threads'.padStart(19)}${'runs/CPU-s'.padStart(12)}\n`;
  for (const c of r.controlled) {
    const ref = r.controlled.find((x) => x.engine === 'threads' && x.strategy === c.strategy && x.ops === c.ops);
    const ratio = c.engine === 'inthread' && ref ? `${(c.runsPerSec / ref.runsPerSec).toFixed(1)}x` : '';
    out += `${c.engine.padEnd(10)}${c.strategy.padEnd(10)}${String(c.ops).padStart(6)}${c.runsPerSec.toFixed(1).padStart(10)}${fmt(c.stepsPerSec).padStart(13)}${fmt(c.switchesPerSec).padStart(13)}${ratio.padStart(19)}${c.runsPerCpuSec.toFixed(1).padStart(12)}\n`;
  }
  out += '\nFuzz campaign (all scenarios, portfolio, 3 CPUs + kworker), per engine; RSS: the whole process after the campaign\n';
  for (const c of r.campaign) {
    const one = r.campaign.find((x) => x.engine === c.engine && x.jobs === 1);
    const scale = c.jobs > 1 && one ? `, ${(c.runsPerSec / one.runsPerSec).toFixed(2)}x --jobs 1, ${c.rssMiB - one.rssMiB} MiB more` : '';
    out += `  ${c.engine.padEnd(9)} --jobs ${c.jobs}: ${c.runsPerSec.toFixed(1)} runs/s (${c.runs} runs, ${c.runsPerCpuSec.toFixed(1)} runs/CPU-s), RSS ${c.rssMiB} MiB${scale}\n`;
  }
  const ref = r.campaign.find((x) => x.engine === 'threads' && x.jobs === 1);
  const best = r.campaign.find((x) => x.engine === 'inthread' && x.jobs === 1);
  if (ref && best) out += `  in-thread/threads at --jobs 1: ${(best.runsPerSec / ref.runsPerSec).toFixed(1)}x\n`;
  out += '\nCoverage saturation (fuzz all, portfolio): distinct events covered after N runs\n';
  const marks = r.coverage[0] ? [...new Set([10, 25, 50, 100, 200, 400].filter((n) => n <= r.coverage[0]!.curve.length).concat(r.coverage[0]!.curve.length))] : [];
  out += `  ${'runs'.padEnd(14)}${marks.map((n) => String(n).padStart(7)).join('')}\n`;
  for (const c of r.coverage) {
    out += `  ${(c.feedback ? 'feedback' : 'no feedback').padEnd(14)}${marks.map((n) => String(c.curve[n - 1]?.bits ?? '-').padStart(7)).join('')}\n`;
  }
  out += '\nDetection: runs and seconds to the first detection, median over seeds (- : not found by most seeds within the cap)\n';
  const cols = DETECT_MODES.map((m) => MODE_NAMES[m]);
  out += `${'bug'.padEnd(24)}${cols.map((c) => c.padStart(16)).join('')}\n`;
  const row = (name: string, known: boolean): string => {
    let line = name.padEnd(24);
    for (const s of cols) {
      const d = r.detection.find((x) => x.bug === name && x.strategy === s && !!x.known === known)!;
      const cell = d.medianRuns === null ? `- (${d.found}/${d.samples.length})` : `${d.medianRuns} / ${d.medianSeconds!.toFixed(2)}s`;
      line += cell.padStart(16);
    }
    return `${line}\n`;
  };
  for (const bug of [...new Set(r.detection.filter((d) => !d.known).map((d) => d.bug))]) out += row(bug, false);
  const known = [...new Set(r.detection.filter((d) => d.known).map((d) => d.bug))];
  if (known.length) {
    out += `${'known issue'.padEnd(24)}${cols.map((c) => c.padStart(16)).join('')}  (--strict-known, the others suppressed)\n`;
    for (const k of known) out += row(k, true);
  }
  out += `\nbench took ${(r.ms / 1000).toFixed(1)} s\n`;
  return out;
}
