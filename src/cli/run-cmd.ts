// `percpu-stress run <scenario|all>` and `percpu-stress list`.

import { SCENARIOS, scenarioByName } from '../../scenarios/index.ts';
import { UsageError, parseArgs, type ArgSpec } from '../cli-args.ts';
import { quote } from '../report/errors.ts';
import { EPILOGUE_MS, Runner, type RunResult } from '../run/main/runner.ts';
import { reportJson } from '../report/result.ts';
import type { Scenario } from '../../scenarios/lib/scenario.ts';
import { BUGS } from '../percpu/variants.ts';
import { renderRun } from '../render/summary.ts';
import { renderJunit } from '../render/junit.ts';
import { isScenarioPath, loadScenarioFile } from '../explore/scenario-file.ts';
import { chromeTrace } from '../render/timeline.ts';
import { commandLineOf, renderHtml } from '../render/html.ts';
import { checkDir, checkWritable, distinctOutputs, writeLockdepExports, writeOutput } from '../io/files.ts';
import { Progress } from '../render/progress.ts';
import { MAX_CPUS, type Backend } from '../shm/config.ts';
import { VERSION } from '../version.ts';
import { Mode } from '../sched/strategy.ts';
import { decodeSchedule, type Schedule } from '../sched/schedule.ts';
import { DETECT_SPEC, knownCounts, knownIssuesText, knownSummary, parseDetect, type DetectOptions } from './detect-opts.ts';
import { SIZE_MIXES } from '../../scenarios/lib/sizes.ts';

/** Ops per CPU a run may be asked for (longer runs take --duration). */
export const MAX_OPS = 10_000_000;
/** ops x entities of a controlled run, so that its step count (up to 2000 per op) fits in 32 bits. */
export const MAX_CONTROLLED_OPS = 1_000_000;

export const RUN_SPEC: ArgSpec = {
  cpus: 'int', seed: 'int', duration: 'duration', ops: 'int', backend: ['vm', 'km'], json: 'string', junit: 'string',
  quiet: 'flag', inject: BUGS.map((b) => b.name), watchdog: 'duration', strategy: ['os', 'random', 'pct', 'pos', 'urw'], depth: 'int', schedule: 'string',
  seeds: 'string', 'trace-out': 'string', verbose: 'flag', 'lockdep-out': 'string', html: 'string', ...DETECT_SPEC,
};

/** A seed corpus: "1..5", "3,7,11" or a mix ("1..3,10"). */
export function parseSeeds(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^(\d+)(?:\.\.(\d+))?$/.exec(part.trim());
    if (!m) throw new UsageError(`--seeds: bad seed list '${spec}' (use e.g. 1..5 or 3,7,11)`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 10_000) throw new UsageError(`--seeds: bad range '${part}'`);
    for (let x = a; x <= b; x++) out.push(x);
  }
  return out;
}

export interface RunCommand {
  scenarios: Scenario[];
  cpus: number;
  seeds: number[];
  durationMs: number;
  ops: number;
  backend: Backend | undefined;
  inject: string | null;
  json: string | undefined;
  junit: string | undefined;
  quiet: boolean;
  watchdogMs: number;
  strategy: Mode;
  depth: number;
  schedule: Schedule | undefined;
  detect: DetectOptions;
  /** Controlled runs: the timeline of the first failing run (or of the first run) goes here. */
  traceOut: string | undefined;
  /** Lock tables, percpu_stats and the boot log for every run. */
  verbose: boolean;
  /** A directory for each run's lockdep graph, /proc/lockdep and /proc/lockdep_chains. */
  lockdepOut: string | undefined;
  /** The HTML report. */
  html: string | undefined;
}

export function scenariosFor(name: string | undefined): Scenario[] {
  if (name === undefined) throw new UsageError('run: which scenario? (a name from `npx percpu-stress list`, a scenario file, or all)');
  if (name === 'all') return [...SCENARIOS];
  if (isScenarioPath(name)) return [loadScenarioFile(name)];
  const s = scenarioByName(name);
  if (!s) throw new UsageError(`unknown scenario ${quote(name)} (try: npx percpu-stress list)`);
  return [s];
}

function seedsOf(seed: number | undefined, seeds: string | undefined): number[] {
  if (seed !== undefined && seeds !== undefined) throw new UsageError('--seed and --seeds exclude each other');
  return seeds !== undefined ? parseSeeds(seeds) : [seed ?? 1];
}

export function parseRun(argv: string[], defaults: Partial<RunCommand> = {}): RunCommand {
  const a = parseArgs(argv, RUN_SPEC, 1);
  const o = a.options;
  const name = a.positional[0] ?? (defaults.scenarios ? 'all' : undefined);
  if (o.duration !== undefined && o.ops !== undefined) throw new UsageError('--duration and --ops exclude each other');
  const cpus = (o.cpus as number | undefined) ?? defaults.cpus ?? 4;
  if (cpus < 1 || cpus > MAX_CPUS) throw new UsageError(`--cpus must be in 1..${MAX_CPUS}, got ${cpus}`);
  const ops = (o.ops as number | undefined) ?? (o.duration === undefined ? defaults.ops ?? 0 : 0);
  const durationMs = (o.duration as number | undefined) ?? (o.ops === undefined ? defaults.durationMs ?? 0 : 0);
  if (o.ops !== undefined && ops < 1) throw new UsageError('--ops must be at least 1');
  if (ops > MAX_OPS) throw new UsageError(`--ops must be at most ${MAX_OPS.toLocaleString('en-US')} per CPU (use --duration for long runs)`);
  if (o.duration !== undefined && durationMs < 100) throw new UsageError('--duration must be at least 100ms');
  const watchdogMs = (o.watchdog as number | undefined) ?? 5000;
  if (watchdogMs < 200) throw new UsageError('--watchdog must be at least 200ms');
  const depth = (o.depth as number | undefined) ?? 3;
  if (depth < 1 || depth > 17) throw new UsageError('--depth must be in 1..17');
  let schedule: Schedule | undefined;
  if (o.schedule !== undefined) {
    try {
      schedule = decodeSchedule(o.schedule as string);
    } catch (e) {
      throw new UsageError(`--schedule: ${(e as Error).message}`);
    }
    if (o.strategy !== undefined) throw new UsageError('--schedule replays a schedule: it excludes --strategy');
  }
  const strategy = schedule ? Mode.replay : Mode[((o.strategy as string | undefined) ?? 'os') as keyof typeof Mode];
  if (strategy !== Mode.os && o.duration !== undefined) throw new UsageError('controlled runs (--strategy random|pct|pos|urw, --schedule) take --ops, not --duration');
  if (strategy !== Mode.os && ops * (cpus + 1) > MAX_CONTROLLED_OPS) {
    throw new UsageError(`a controlled run counts its scheduling points in 32 bits: --ops x CPUs must stay under ${MAX_CONTROLLED_OPS.toLocaleString('en-US')}`);
  }
  const seeds = seedsOf(o.seed as number | undefined, o.seeds as string | undefined);
  const scenarios = scenariosFor(name);
  if (durationMs && durationMs / (seeds.length * scenarios.length) < 100) {
    throw new UsageError(`--duration ${durationMs} ms split over ${seeds.length * scenarios.length} runs leaves under 100 ms each: give fewer seeds or a longer duration`);
  }
  const json = o.json === undefined ? undefined : checkWritable(o.json as string, '--json');
  const junit = o.junit === undefined ? undefined : checkWritable(o.junit as string, '--junit');
  if (o.quiet && o.verbose) throw new UsageError('--quiet and --verbose exclude each other');
  const traceOut = o['trace-out'] === undefined ? undefined : checkWritable(o['trace-out'] as string, '--trace-out');
  if (traceOut && strategy === Mode.os) throw new UsageError('--trace-out needs a controlled run (--strategy random|pct|pos|urw or --schedule): free-running threads have no step order to draw');
  const html = o.html === undefined ? undefined : checkWritable(o.html as string, '--html');
  distinctOutputs({ '--json': json, '--junit': junit, '--trace-out': traceOut, '--html': html });
  return {
    scenarios, cpus, seeds,
    durationMs: ops || durationMs ? durationMs : 0, ops: ops || durationMs ? ops : 2000,
    backend: o.backend as Backend | undefined, inject: (o.inject as string | undefined) ?? null,
    json, junit,
    quiet: o.quiet === true, watchdogMs, strategy, depth, schedule, detect: parseDetect(o), traceOut, verbose: o.verbose === true,
    lockdepOut: o['lockdep-out'] === undefined ? undefined : checkDir(o['lockdep-out'] as string, '--lockdep-out'), html,
  };
}

export function rerunCommand(c: RunCommand, r: RunResult, perScenarioMs: number): string {
  let cmd = `npx percpu-stress run ${r.scenario} --cpus ${r.cpus} --seed ${r.seed}`;
  cmd += c.ops ? ` --ops ${c.ops}` : ` --duration ${perScenarioMs}ms`;
  if (c.backend) cmd += ` --backend ${c.backend}`;
  if (r.inject) cmd += ` --inject ${r.inject}`;
  if (r.schedule) cmd += ` --schedule ${r.schedule}`;
  else if (r.schedule !== null) cmd += ` --strategy ${r.strategy}${c.strategy === Mode.pct ? ` --depth ${c.depth}` : ''}`;
  return cmd;
}

export async function runCommand(c: RunCommand): Promise<number> {
  const runner = new Runner();
  const progress = new Progress();
  const results: RunResult[] = [];
  let interrupted = false;
  let signal = 0;
  const onSignal = (code: number) => (): void => {
    interrupted = true;
    signal ||= code;
    runner.interrupt();
  };
  const onSigint = onSignal(130), onSigterm = onSignal(143);
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  const jobs = c.seeds.flatMap((seed) => c.scenarios.map((s) => ({ s, seed })));
  const perScenarioMs = c.durationMs ? Math.max(100, Math.floor(c.durationMs / jobs.length)) : 0;
  const t0 = Date.now();
  // --duration is the budget of the whole command: run i ends by its slot's absolute end, so a
  // slow start (threads, the first boot) is made up by the runs after it; the last slot leaves
  // room for the last epilogue and the report
  const reserve = Math.min(EPILOGUE_MS, c.durationMs * 0.05);
  const slotEnd = (i: number): number => t0 + Math.round(((i + 1) * (c.durationMs - reserve)) / jobs.length);
  try {
    for (const [i, { s, seed }] of jobs.entries()) {
      if (interrupted) break;
      const label = `${i + 1}/${jobs.length} ${s.name} (seed ${seed})`;
      progress.update(label, 0);
      const r = await runner.run({
        scenario: s, cpus: c.cpus, seed, ops: c.ops || undefined, durationMs: perScenarioMs || undefined, deadline: c.durationMs ? slotEnd(i) : undefined,
        backend: c.backend, inject: c.inject, watchdogMs: c.watchdogMs, onProgress: (f) => progress.update(label, f),
        strategy: c.strategy, depth: c.depth, schedule: c.schedule, sizes: c.detect.sizes, suppressions: c.detect.suppressions,
        strictKnown: c.detect.strictKnown, timeline: c.traceOut !== undefined || (c.html !== undefined && c.strategy !== Mode.os),
        lockdepExport: c.lockdepOut !== undefined || c.html !== undefined,
      });
      progress.clear();
      results.push(r);
      // --quiet: only the runs that did not come out clean, and the totals
      if (!c.quiet || (r.status !== 'clean' && r.status !== 'known')) {
        process.stdout.write(renderRun(r, { description: s.description, rerun: rerunCommand(c, r, perScenarioMs) }, c.verbose));
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    progress.clear();
    await runner.close();
  }
  const bad = results.filter((r) => r.status === 'violation');
  const ops = results.reduce((s, r) => s + r.ops.alloc + r.ops.free + r.ops.irqsHandled, 0);
  process.stdout.write(`\n${results.length} scenario run${results.length === 1 ? '' : 's'}, ${bad.length} with violations, ${ops.toLocaleString('en-US')} operations in ${((Date.now() - t0) / 1000).toFixed(1)} s${interrupted ? ' (interrupted)' : ''}\n`);
  process.stdout.write(knownSummary(knownCounts(results)));
  let written = true;
  const traced = bad[0] ?? results[0];
  if (c.traceOut && traced?.timeline) {
    const doc = chromeTrace(traced.timeline, traced.violations, { tool: 'percpu-stress', version: VERSION, scenario: traced.scenario, seed: traced.seed, cpus: traced.cpus, strategy: traced.strategy });
    written = writeOutput(c.traceOut, JSON.stringify(doc) + '\n', '--trace-out');
    if (written) process.stdout.write(`timeline of ${traced.scenario} (seed ${traced.seed}) written to ${c.traceOut}: open it in https://ui.perfetto.dev or chrome://tracing\n`);
  }
  if (c.lockdepOut) {
    for (const r of results) written = writeLockdepExports(c.lockdepOut, r) && written;
  }
  if (c.html) {
    const focus = bad[0] ?? results.find((r) => r.violations.length > 0);
    const verdict = interrupted ? 'interrupted' : bad.length ? 'violation' : results.some((r) => r.status === 'incomplete') ? 'incomplete' : results.some((r) => r.status === 'known') ? 'known issues only' : 'clean';
    written = writeOutput(c.html, renderHtml({
      command: 'run', commandLine: commandLineOf(process.argv.slice(2)), verdict,
      summary: [`${results.length} scenario runs, ${bad.length} with violations, ${ops.toLocaleString('en-US')} operations`],
      runs: results, ...(focus ? { focus, replay: rerunCommand(c, focus, perScenarioMs) } : {}),
    }), '--html') && written;
  }
  if (c.json) written = writeOutput(c.json, JSON.stringify({ tool: 'percpu-stress', version: VERSION, command: 'run', interrupted, partial: interrupted, results }, reportJson, 2) + '\n', '--json') && written;
  if (c.junit) written = writeOutput(c.junit, renderJunit(results), '--junit') && written;
  if (!written) return 2;
  if (bad.length) return 1;
  if (interrupted) return signal || 130;
  return results.some((r) => r.status === 'incomplete') ? 5 : 0;
}

export function listCommand(argv: string[]): number {
  parseArgs(argv, {}, 0);
  let out = 'scenarios:\n';
  for (const s of SCENARIOS) out += `  ${s.name.padEnd(18)} ${s.description}\n`;
  out += '\nhistorical bugs (--inject NAME):\n';
  for (const b of BUGS) {
    out += `  ${b.name.padEnd(24)} ${b.commit ? `${b.commit} ${b.subject}` : `(classic) ${b.subject}`}\n  ${''.padEnd(24)} ${b.summary}\n  ${''.padEnd(24)} exposed best by: ${b.scenario}; caught as: ${b.expect.join(', ')}\n`;
  }
  out += knownIssuesText();
  out += '\nsize mixes (--sizes NAME, or a list SIZE[:ALIGN],...):\n';
  for (const [name, m] of Object.entries(SIZE_MIXES)) out += `  ${name.padEnd(24)} ${m.what}\n`;
  process.stdout.write(out);
  return 0;
}
