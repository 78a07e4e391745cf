// `percpu-stress run <scenario|all|FILE>`, `start` and `list`.

import { relative } from 'node:path';
import { externalPath, scenarioByName, scenariosOf } from '../../scenarios/index.ts';
import { runsOn } from '../../scenarios/lib/scenario.ts';
import { UsageError, inputErrorOf, oneLine, quote } from '../report/errors.ts';
import { EPILOGUE_MS, type RunResult } from '../run/main/runner.ts';
import { newEngine } from '../run/main/inthread.ts';
import type { EngineName } from '../run/main/engine.ts';
import { reportJson } from '../report/result.ts';
import type { Scenario } from '../../scenarios/lib/scenario.ts';
import { GENERATIONS, bugByName } from '../run/kernels.ts';
import { renderRun } from '../render/summary.ts';
import { renderJunit } from '../render/junit.ts';
import { renderKtapRuns } from '../render/ktap.ts';
import { ScenarioBudgetError, isScenarioPath, loadScenarioFile, setScenarioDeadline } from '../explore/scenario-file.ts';
import { chromeTrace } from '../render/timeline.ts';
import { commandLineOf, renderHtml } from '../render/html.ts';
import { Outputs, writeFilesInto, type DirTarget, type Target } from '../io/outputs.ts';
import { lockdepFiles, lockdepNames } from '../io/files.ts';
import { Progress } from '../render/progress.ts';
import { DEFAULT_KERNEL, KERNELS, type Backend, type KernelVersion } from '../shm/config.ts';
import { VERSION } from '../version.ts';
import { Mode } from '../sched/strategy.ts';
import { decodeSchedule, type Schedule } from '../sched/schedule.ts';
import { detectHint, knownIssuesText, knownSummaries, parseDetect, shellWord, type DetectOptions } from './detect-opts.ts';
import { SIZE_MIXES } from '../../scenarios/lib/sizes.ts';
import { MAX_CONTROLLED_OPS, type RUN } from './commands.ts';
import { parse } from './options.ts';
import { suiteName } from './suite.ts';

/** A seed corpus: "1..5", "3,7,11" or a mix ("1..3,10"). */
export function parseSeeds(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^(\d+)(?:\.\.(\d+))?$/.exec(part.trim());
    if (!m) throw new UsageError(`--seeds: bad seed list ${quote(spec)} (use e.g. 1..5 or 3,7,11)`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (!Number.isSafeInteger(b) || b < a || b - a > 10_000) throw new UsageError(`--seeds: bad range ${quote(part)}`);
    for (let x = a; x <= b; x++) out.push(x);
  }
  if (out.length > 10_000) throw new UsageError(`--seeds: ${out.length} seeds; at most 10000`);
  return out;
}

export interface RunCommand {
  /** The kernels to run the scenarios on, in turn (start without --kernel: both). */
  kernels: KernelVersion[];
  scenarios: Scenario[];
  /** The scenario argument as given (a file's path is what a re-run hint names). */
  scenarioArg: string;
  cpus: number;
  seeds: number[];
  durationMs: number;
  ops: number;
  backend: Backend | undefined;
  inject: string | null;
  quiet: boolean;
  watchdogMs: number;
  strategy: Mode;
  depth: number;
  /** Who plays the controlled runs (free-running runs always take threads). */
  engine: EngineName;
  schedule: Schedule | undefined;
  detect: DetectOptions;
  /** Lock tables, percpu_stats and the boot log for every run. */
  verbose: boolean;
  /** A folder for each run's lockdep graph, /proc/lockdep and /proc/lockdep_chains. */
  lockdepOut: DirTarget | undefined;
  outputs: Outputs;
  json?: Target | undefined;
  junit?: Target | undefined;
  ktap?: Target | undefined;
  html?: Target | undefined;
  /** Controlled runs: the timeline of the first failing run (or of the first run) goes here. */
  traceOut?: Target | undefined;
}

export function scenariosFor(name: string | undefined, cmd: string, kernels: readonly KernelVersion[] = [DEFAULT_KERNEL]): Scenario[] {
  if (name === undefined) throw new UsageError(`${cmd}: which scenario? (a name from \`npx percpu-stress list\`, a scenario file, or all)`);
  if (name === 'all') return [...new Set(kernels.flatMap((k) => scenariosOf(k)))];
  if (isScenarioPath(name)) return [loadScenarioFile(name)];
  const s = scenarioByName(name);
  if (!s) throw new UsageError(`unknown scenario ${quote(name)} (try: npx percpu-stress list)`);
  const off = kernels.find((k) => !runsOn(s, k));
  if (off !== undefined) throw new UsageError(`scenario ${s.name} exercises ${(s.kernels ?? []).join(' and ')}'s protocol, not ${off}'s (add --kernel ${s.kernels?.[0] ?? DEFAULT_KERNEL})`);
  return [s];
}

/** --inject: a bug of every kernel the command runs. */
export function checkInject(inject: string | undefined, kernels: readonly KernelVersion[]): void {
  if (inject === undefined) return;
  for (const k of kernels) {
    if (!bugByName(k, inject)) {
      const names = GENERATIONS[k].bugs.map((b) => b.name);
      throw new UsageError(`--inject ${inject} is not a historical bug of ${k} (${names.length ? `its bugs: ${names.join(', ')}` : 'it has none'})`);
    }
  }
}

/** How a re-run hint names a scenario: a file by its path from here, a built-in one by name. */
export function scenarioWord(s: Scenario): string {
  const file = externalPath(s);
  if (file === undefined) return s.name;
  const rel = relative(process.cwd(), file);
  return shellWord(rel.startsWith('..') || rel === '' ? file : `./${rel}`);
}

export function parseRun(cmd: typeof RUN, argv: string[], defaults: { durationMs?: number; all?: boolean; allKernels?: boolean } = {}): RunCommand {
  const { o, positional } = parse(cmd, argv);
  const kernels: KernelVersion[] = o.kernel !== undefined ? [o.kernel] : defaults.allKernels ? [...KERNELS] : [DEFAULT_KERNEL];
  checkInject(o.inject, kernels);
  const name = positional[0] ?? (defaults.all ? 'all' : undefined);
  if (o.duration !== undefined && o.ops !== undefined) throw new UsageError('--duration and --ops exclude each other');
  const cpus = o.cpus ?? 4;
  const ops = o.ops ?? (o.duration === undefined && defaults.durationMs === undefined ? 2000 : 0);
  const durationMs = o.duration ?? (o.ops === undefined ? defaults.durationMs ?? 0 : 0);
  let schedule: Schedule | undefined;
  if (o.schedule !== undefined) {
    try {
      schedule = decodeSchedule(o.schedule);
    } catch (e) {
      throw new UsageError(`--schedule: ${(e as Error).message}`);
    }
    if (o.strategy !== undefined) throw new UsageError('--schedule replays a schedule: it excludes --strategy');
    for (let i = 0; i < schedule.length; i += 2) {
      if (schedule[i]! >> 1 > cpus) throw new UsageError(`--schedule: names entity ${schedule[i]! >> 1}, a run of ${cpus} CPUs has entities 0..${cpus} (the CPUs and the kworker)`);
    }
  }
  const strategy = schedule ? Mode.replay : Mode[o.strategy ?? 'os'];
  if (strategy !== Mode.os && durationMs) throw new UsageError('controlled runs (--strategy random|pct|pos|urw, --schedule) take --ops, not --duration');
  if (strategy !== Mode.os && ops * (cpus + 1) > MAX_CONTROLLED_OPS) {
    throw new UsageError(`a controlled run counts its scheduling points in 32 bits: --ops x (CPUs + 1) must stay under ${MAX_CONTROLLED_OPS.toLocaleString('en-US')}`);
  }
  if (o.seed !== undefined && o.seeds !== undefined) throw new UsageError('--seed and --seeds exclude each other');
  const seeds = o.seeds !== undefined ? parseSeeds(o.seeds) : [o.seed ?? 1];
  if (o.quiet && o.verbose) throw new UsageError('--quiet and --verbose exclude each other');
  const outputs = new Outputs();
  if (name !== undefined && isScenarioPath(name)) outputs.input('scenario file', name);
  if (o.suppressions !== undefined) outputs.input('suppressions file', o.suppressions);
  const traceOut = outputs.add('--trace-out', o['trace-out']);
  if (traceOut && strategy === Mode.os) throw new UsageError('--trace-out needs a controlled run (--strategy random|pct|pos|urw or --schedule): free-running threads have no step order to draw');
  const c: RunCommand = {
    kernels, scenarios: [], scenarioArg: name ?? 'all', cpus, seeds, durationMs, ops, backend: o.backend, inject: o.inject ?? null,
    quiet: o.quiet === true, watchdogMs: o.watchdog ?? 5000, strategy, depth: o.depth ?? 3, engine: o.engine ?? 'inthread', schedule, detect: parseDetect(o), verbose: o.verbose === true,
    lockdepOut: undefined, outputs, traceOut,
    json: outputs.add('--json', o.json), junit: outputs.add('--junit', o.junit), ktap: outputs.add('--ktap', o.ktap), html: outputs.add('--html', o.html),
  };
  if (o['lockdep-out'] !== undefined) c.lockdepOut = outputs.dir('--lockdep-out', o['lockdep-out']);
  // the scenarios last: a scenario file is loaded (in its own thread) only once every option is known to be good
  c.scenarios = scenariosFor(name, cmd.name, kernels);
  const jobs = runJobs(c);
  // the lockdep files each run will write, by name: none may be an input or another output
  if (c.lockdepOut) outputs.plan(c.lockdepOut, jobs.flatMap((j) => lockdepNames(j.s.name, j.seed)));
  const runs = jobs.length;
  if (durationMs && durationMs / runs < 100) {
    throw new UsageError(`--duration ${durationMs} ms split over ${runs} runs leaves under 100 ms each: give fewer seeds or a longer duration`);
  }
  return c;
}

/** The command that runs this run again, and for a free-running one, how to make it replayable. */
export function rerunCommand(c: RunCommand, r: RunResult, s: Scenario, perScenarioMs: number): string {
  let opts = r.kernel !== DEFAULT_KERNEL ? ` --kernel ${r.kernel} --cpus ${r.cpus}` : ` --cpus ${r.cpus}`;
  if (c.backend) opts += ` --backend ${c.backend}`;
  if (r.inject) opts += ` --inject ${r.inject}`;
  if (c.watchdogMs !== 5000) opts += ` --watchdog ${c.watchdogMs}ms`;
  opts += detectHint(c.detect);
  const word = scenarioWord(s);
  let cmd = `npx percpu-stress run ${word}${opts} --seed ${r.seed}`;
  cmd += c.ops ? ` --ops ${c.ops}` : ` --duration ${perScenarioMs}ms`;
  if (r.schedule) return `${cmd} --schedule ${r.schedule}`;
  if (r.schedule !== null) return `${cmd} --strategy ${r.strategy}${c.strategy === Mode.pct ? ` --depth ${c.depth}` : ''}`;
  // free-running: the seed fixes the programs, not the interleaving
  return `${cmd}\n  (the same programs again; free-running, the interleaving is the OS's and may not fail again)\n` +
    `  a repro that replays exactly comes from fuzz: npx percpu-stress fuzz ${word}${opts}`;
}

/** Every run's lockdep exports, as files of one directory. */
function lockdepOutputs(results: readonly RunResult[]): [string, string][] {
  return results.flatMap((r) => lockdepFiles(r));
}

export async function runCommand(c: RunCommand): Promise<number> {
  const runner = newEngine(c.strategy === Mode.os ? 'threads' : c.engine);
  const progress = new Progress();
  const results: RunResult[] = [];
  const scenarioOf = new Map<RunResult, Scenario>();
  let interrupted = false;
  let signal = 0;
  let inputError: string | null = null;
  let budgetCut: string | null = null;
  const onSignal = (code: number) => (): void => {
    interrupted = true;
    signal ||= code;
    runner.interrupt();
  };
  const onSigint = onSignal(130), onSigterm = onSignal(143);
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  const jobs = runJobs(c);
  const perScenarioMs = c.durationMs ? Math.max(100, Math.floor(c.durationMs / jobs.length)) : 0;
  const t0 = Date.now();
  if (c.durationMs) setScenarioDeadline(t0 + c.durationMs);
  // --duration is the budget of the whole command: run i ends by its slot's absolute end, so a
  // slow start (threads, the first boot) is made up by the runs after it; the last slot leaves
  // room for the last epilogue and the report
  const reserve = Math.min(EPILOGUE_MS, c.durationMs * 0.05);
  const slotEnd = (i: number): number => t0 + Math.round(((i + 1) * (c.durationMs - reserve)) / jobs.length);
  const fromRun = c.strategy !== Mode.os;
  try {
    for (const [i, { s, seed, kernel }] of jobs.entries()) {
      if (interrupted) break;
      const label = `${i + 1}/${jobs.length} ${s.name}${c.kernels.length > 1 ? ` on ${kernel}` : ''} (seed ${seed})`;
      progress.update(label, 0);
      let r: RunResult;
      try {
        const ro = {
          scenario: s, cpus: c.cpus, seed, ops: c.ops || undefined, durationMs: perScenarioMs || undefined, deadline: c.durationMs ? slotEnd(i) : undefined,
          kernel, backend: c.backend, inject: c.inject, watchdogMs: c.watchdogMs, onProgress: (f: number) => progress.update(label, f),
          strategy: c.strategy, depth: c.depth, schedule: c.schedule, sizes: c.detect.sizes, suppressions: c.detect.suppressions,
          strictKnown: c.detect.strictKnown, timeline: c.traceOut !== undefined || (c.html !== undefined && fromRun),
          lockdepExport: c.lockdepOut !== undefined || c.html !== undefined,
        };
        r = await runner.run(ro);
        // a verdict of the in-thread engine -- a finding, or nothing found -- is confirmed on real threads before it is reported
        if (r.status !== 'incomplete' && r.status !== 'interrupted') await runner.confirm(ro, r);
      } catch (e) {
        // the budget ended inside a scenario file's call: the run could not be made (no verdict)
        if (e instanceof ScenarioBudgetError) {
          budgetCut = e.message;
          break;
        }
        // a scenario file that throws or loops for this seed: stop here, keep what ran
        inputError = inputErrorOf(e);
        if (inputError === null) throw e;
        break;
      }
      progress.clear();
      results.push(r);
      scenarioOf.set(r, s);
      // --quiet: only the runs that did not come out clean, and the totals
      if (!c.quiet || (r.status !== 'clean' && r.status !== 'known')) {
        process.stdout.write(renderRun(r, { description: s.description, rerun: rerunCommand(c, r, s, perScenarioMs) }, c.verbose));
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    progress.clear();
    await runner.close();
  }
  const partial = interrupted || inputError !== null || budgetCut !== null;
  const bad = results.filter((r) => r.status === 'violation');
  const incomplete = results.filter((r) => r.status === 'incomplete');
  const ops = results.reduce((s, r) => s + r.ops.alloc + r.ops.free + r.ops.irqsHandled, 0);
  const plural = (n: number, w: string): string => `${n.toLocaleString('en-US')} ${w}${n === 1 ? '' : 's'}`;
  let tail = `\n${plural(results.length, 'scenario run')}, ${bad.length} with violations${incomplete.length ? `, ${incomplete.length} could not finish` : ''}, ${plural(ops, 'operation')} in ${((Date.now() - t0) / 1000).toFixed(1)} s`;
  tail += interrupted ? ' (interrupted: the report is partial)' : inputError !== null ? ` (stopped on bad input after ${plural(results.length, 'run')}: the report is partial${c.outputs.any() ? ', and no report file was written' : ''})` : budgetCut !== null ? ` (the budget ended after ${plural(results.length, 'run')}: the report is partial)` : '';
  process.stdout.write(`${tail}\n${knownSummaries(results, c.detect.strictKnown)}`);
  // one kernel's runs are its suite; both kernels' (start) keep the tool's name, their cases filed by kernel
  const suite = c.kernels.length === 1 ? suiteName(c.kernels[0]!) : 'percpu-stress';
  const traced = bad[0] ?? results[0];
  const focus = bad[0] ?? results.find((r) => r.violations.length > 0);
  const verdict = interrupted ? 'interrupted' : bad.length ? 'violation' : inputError !== null ? 'bad input' : incomplete.length ? 'incomplete' : results.some((r) => r.status === 'known') ? 'known issues only' : 'clean';
  // bad input met on the way: the command's inputs were not what they said, so no report replaces anything
  const written = inputError !== null || c.outputs.writeAll([
    [c.traceOut, () => (traced?.timeline ? JSON.stringify(chromeTrace(traced.timeline, traced.violations, { tool: 'percpu-stress', version: VERSION, scenario: traced.scenario, seed: traced.seed, cpus: traced.cpus, strategy: traced.strategy })) + '\n' : null)],
    [c.html, () => renderHtml({
      command: 'run', commandLine: commandLineOf(process.argv.slice(2)), verdict,
      summary: [tail.trim(), ...knownSummaries(results, c.detect.strictKnown).split('\n').filter((l) => l)],
      runs: results, ...(focus ? { focus, replay: rerunCommand(c, focus, scenarioOf.get(focus)!, perScenarioMs).split('\n')[0]! } : {}),
    })],
    [c.json, () => JSON.stringify({ tool: 'percpu-stress', version: VERSION, command: 'run', interrupted, partial, ...(inputError !== null ? { inputError } : {}), results }, reportJson, 2) + '\n'],
    [c.junit, () => renderJunit(results, suite)],
    [c.ktap, () => renderKtapRuns(results, { top: `${suite} run`, partial: partial ? (interrupted ? 'interrupted' : inputError !== null ? `stopped on bad input: ${inputError}` : budgetCut) : null })],
  ]);
  if (c.traceOut && traced?.timeline) process.stdout.write(`timeline of ${traced.scenario} (seed ${traced.seed}) written to ${c.traceOut.given}: open it in https://ui.perfetto.dev or chrome://tracing\n`);
  const lockdepOk = c.lockdepOut === undefined || inputError !== null || writeFilesInto(c.lockdepOut, lockdepOutputs(results));
  if (inputError !== null) {
    process.stderr.write(oneLine(`percpu-stress: ${inputError}`));
    return 2;
  }
  if (!written || !lockdepOk) return 2;
  if (bad.length) return 1;
  if (interrupted) return signal || 130;
  if (budgetCut !== null) {
    process.stderr.write(oneLine(`percpu-stress: ${budgetCut}: the runs left could not be made (nothing proven)`));
    return 5;
  }
  return incomplete.length ? 5 : 0;
}

/** The runs of a run command, in order: each kernel's scenarios (those that run on it) for each seed. */
function runJobs(c: RunCommand): { s: Scenario; seed: number; kernel: KernelVersion }[] {
  return c.kernels.flatMap((kernel) => c.seeds.flatMap((seed) => c.scenarios.filter((s) => runsOn(s, kernel)).map((s) => ({ s, seed, kernel }))));
}

export function listCommand(kernel: KernelVersion = DEFAULT_KERNEL): number {
  const g = GENERATIONS[kernel];
  let out = kernel === DEFAULT_KERNEL ? 'scenarios:\n' : `${g.title}: scenarios:\n`;
  for (const s of scenariosOf(kernel)) out += `  ${s.name.padEnd(18)} ${s.description}\n`;
  out += '\nhistorical bugs (--inject NAME):\n';
  for (const b of g.bugs) {
    out += `  ${b.name.padEnd(24)} ${b.commit ? `${b.commit} ${b.subject}` : `(classic) ${b.subject}`}\n  ${''.padEnd(24)} ${b.summary}\n  ${''.padEnd(24)} exposed best by: ${b.scenario}; caught as: ${(b.expect ?? []).join(', ')}\n`;
  }
  if (!g.bugs.length) out += '  (none injectable into this kernel)\n';
  out += knownIssuesText(kernel);
  out += '\nsize mixes (--sizes NAME, or a list SIZE[:ALIGN],...):\n';
  for (const [name, m] of Object.entries(SIZE_MIXES)) out += `  ${name.padEnd(24)} ${m.what}\n`;
  const others = KERNELS.filter((k) => k !== kernel);
  out += `\nother kernels: ${others.map((k) => `percpu-stress list --kernel ${k}`).join(', ')}\n`;
  process.stdout.write(out);
  return 0;
}
