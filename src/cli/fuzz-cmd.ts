// `percpu-stress fuzz` and `percpu-stress replay`.

import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { scenarioByName } from '../../scenarios/index.ts';
import { UsageError, parseArgs } from '../cli-args.ts';
import { Runner } from '../run/main/runner.ts';
import { BUGS } from '../percpu/variants.ts';
import { MAX_CPUS, type Backend } from '../shm/config.ts';
import { Mode, MODE_NAMES } from '../sched/strategy.ts';
import { parseShard, runCampaign } from '../explore/campaign.ts';
import type { CampaignConfig } from '../explore/merge.ts';
import { quote } from '../report/errors.ts';
import { ReproError, readRepro, reproPrograms, reproScenario } from '../explore/repro.ts';
import { decodeSchedule } from '../sched/schedule.ts';
import { Progress } from '../render/progress.ts';
import { scenariosFor } from './run-cmd.ts';
import { checkDir, checkWritable, distinctOutputs, writeLockdepExports, writeOutput } from '../io/files.ts';
import { chromeTrace, explainTimeline } from '../render/timeline.ts';
import { commandLineOf, renderHtml } from '../render/html.ts';
import { renderJunit, renderJunitCases } from '../render/junit.ts';
import { campaignCases, renderCampaign } from '../render/campaign.ts';
import { reportJson, type RunResult } from '../report/result.ts';
import type { Repro } from '../explore/repro.ts';
import type { FuzzResult } from '../explore/fuzz.ts';
import { COV_KINDS } from '../shm/coverage.ts';
import { MAX_CONTROLLED_OPS } from './run-cmd.ts';
import { VERSION } from '../version.ts';
import { DETECT_SPEC, knownSummary, parseDetect } from './detect-opts.ts';

function strategyOf(name: string): Mode {
  return Mode[name as keyof typeof Mode];
}

export async function fuzzCommand(argv: string[]): Promise<number> {
  const a = parseArgs(argv, {
    budget: 'duration', 'shrink-budget': 'duration', strategy: ['portfolio', 'pct', 'pos', 'urw', 'random', 'os'], depth: 'int', cpus: 'int', seed: 'int',
    ops: 'int', 'keep-going': 'flag', out: 'string', inject: BUGS.map((b) => b.name), backend: ['vm', 'km'], runs: 'int', json: 'string',
    watchdog: 'duration', 'trace-out': 'string', junit: 'string', quiet: 'flag', jobs: 'int', shard: 'string', feedback: 'flag', html: 'string', ...DETECT_SPEC,
  }, 1);
  const o = a.options;
  const detect = parseDetect(o);
  distinctOutputs({ '--json': o.json as string | undefined, '--trace-out': o['trace-out'] as string | undefined, '--junit': o.junit as string | undefined, '--html': o.html as string | undefined });
  const html = o.html === undefined ? undefined : checkWritable(o.html as string, '--html');
  const junit = o.junit === undefined ? undefined : checkWritable(o.junit as string, '--junit');
  const quiet = o.quiet === true;
  const traceOut = o['trace-out'] === undefined ? undefined : checkWritable(o['trace-out'] as string, '--trace-out');
  const scenarios = scenariosFor(a.positional[0] ?? 'all');
  const cpus = (o.cpus as number | undefined) ?? 3;
  if (cpus < 1 || cpus > MAX_CPUS) throw new UsageError(`--cpus must be in 1..${MAX_CPUS}, got ${cpus}`);
  const depth = (o.depth as number | undefined) ?? 3;
  if (depth < 1 || depth > 17) throw new UsageError('--depth must be in 1..17');
  const ops = (o.ops as number | undefined) ?? 0;
  if (o.ops !== undefined && ops < 1) throw new UsageError('--ops must be at least 1');
  if (ops * (cpus + 1) > MAX_CONTROLLED_OPS) throw new UsageError(`--ops x CPUs must stay under ${MAX_CONTROLLED_OPS.toLocaleString('en-US')} (a controlled run counts its steps in 32 bits)`);
  const outDir = resolve((o.out as string | undefined) ?? '.');
  if (!existsSync(outDir) || !statSync(outDir).isDirectory()) throw new UsageError(`--out: ${outDir} is not a directory`);
  try {
    accessSync(outDir, constants.W_OK);
  } catch {
    throw new UsageError(`--out: cannot write to ${outDir}`);
  }
  const json = o.json === undefined ? undefined : checkWritable(o.json as string, '--json');
  if (o.budget !== undefined && (o.budget as number) < 100) throw new UsageError('--budget must be at least 100ms: a campaign that runs nothing checks nothing');
  const watchdogMs = (o.watchdog as number | undefined) ?? 5000;
  if (watchdogMs < 200) throw new UsageError('--watchdog must be at least 200ms');
  const strategy = strategyOf((o.strategy as string | undefined) ?? 'portfolio');
  if (o.runs !== undefined && (o.runs as number) < 1) throw new UsageError('--runs must be at least 1');
  const inject = (o.inject as string | undefined) ?? null;
  const jobs = (o.jobs as number | undefined) ?? 1;
  if (jobs < 1 || jobs > 64) throw new UsageError('--jobs must be in 1..64');
  const shard = o.shard === undefined ? { index: 1, count: 1 } : parseShard(o.shard as string);
  if (!shard) throw new UsageError(`--shard must be i/n with 1 <= i <= n, got ${quote(o.shard as string)}`);
  const feedback = o.feedback === true;
  // a feedback run depends on what the job ran before it: such a campaign cannot be partitioned by run number
  if (feedback && (jobs > 1 || o.shard !== undefined)) throw new UsageError('--feedback keeps one corpus per campaign: it does not go with --jobs or --shard');
  const runners = Array.from({ length: jobs }, () => new Runner());
  const runner = runners[0]!;
  const progress = new Progress();
  const budgetMs = (o.budget as number | undefined) ?? 30_000;
  let stop = false;
  let signal = 0;
  const onSignal = (code: number) => (): void => {
    stop = true;
    signal ||= code;
    for (const r of runners) r.interrupt();
  };
  const onSigint = onSignal(130), onSigterm = onSignal(143);
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  let res;
  let traced: RunResult | null = null;
  const seed = (o.seed as number | undefined) ?? 1;
  const keepGoing = o['keep-going'] === true;
  const maxRuns = (o.runs as number | undefined) ?? 0;
  let done = 0;
  try {
    res = await runCampaign(runners, {
      scenarios, budgetMs: stop ? 0 : budgetMs, shrinkBudgetMs: (o['shrink-budget'] as number | undefined) ?? 20_000, strategy, depth, cpus, ops,
      seed, keepGoing, outDir, inject, backend: o.backend as Backend | undefined, maxRuns, ...detect, watchdogMs, feedback,
      shouldStop: () => stop, onRun: (_runs, ms) => progress.update(`${++done} runs, ${(ms / 1000).toFixed(1)} s`, ms / budgetMs),
    }, shard);
    // the timeline of the first finding's minimal run: replay its repro once more, recording
    const first = res.findings[0];
    if ((traceOut || html) && first && !stop) traced = await replayRun(runner, readRepro(first.reproPath), inject, watchdogMs, true, html !== undefined);
  } finally {
    progress.clear();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    await Promise.all(runners.map((r) => r.close()));
  }
  let out = renderCampaign(res, { quiet, portfolio: strategy === Mode.portfolio, entities: cpus + 1, depth });
  out += knownSummary(res.known);
  if (stop) out += `(interrupted: ${res.runs} runs were made; the report is partial)\n`;
  if (traceOut && !res.findings.length) out += '--trace-out: nothing failed, so no timeline was written\n';
  process.stdout.write(out);
  if (traceOut && traced && !writeTimeline(traceOut, traced, res.findings[0]!.reproPath)) return 2;
  if (html) {
    const summary = out.split('\n').filter((l) => /^(\d+ runs in|strategies:|coverage:|residual risk:|known issues)/.test(l));
    const doc = renderHtml({
      command: 'fuzz', commandLine: commandLineOf(process.argv.slice(2)), verdict: res.findings.length ? 'violation' : stop ? 'interrupted' : 'clean', summary,
      findings: res.findings.map((f) => ({ title: f.violation.title, signature: f.signature, strategy: f.strategy, occurrences: f.occurrences, reproPath: f.reproPath, replay: `npx percpu-stress replay ${f.reproPath}` })),
      ...(traced ? { focus: traced, replay: `npx percpu-stress replay ${res.findings[0]!.reproPath}` } : {}),
    });
    if (!writeOutput(html, doc, '--html')) return 2;
  }
  if (junit && !writeOutput(junit, renderJunitCases(campaignCases(scenarios.map((x) => x.name), res, `${MODE_NAMES[strategy]}, cpus=${cpus}`, { interrupted: stop }), 'percpu-stress', res.ms / 1000), '--junit')) return 2;
  if (json) {
    const findings = res.findings.map((f) => ({
      ...f, violation: { kind: f.violation.kind, title: f.violation.title, cpu: f.violation.cpu, step: f.violation.step, text: f.violation.text },
      // the minimal repro itself, so that a merge on another machine has it
      repro: f.reproPath ? JSON.parse(readFileSync(f.reproPath, 'utf8')) as unknown : null,
    }));
    const config: CampaignConfig = {
      scenarios: scenarios.map((x) => x.name), strategy: MODE_NAMES[strategy], depth, cpus, ops, seed, keepGoing, maxRuns, budgetMs,
      inject, backend: (o.backend as string | undefined) ?? null, sizes: (o.sizes as string | undefined) ?? null,
    };
    const doc = {
      tool: 'percpu-stress', version: VERSION, command: 'fuzz', strategy: MODE_NAMES[strategy], depth, cpus, config, shard, jobs,
      interrupted: stop, partial: stop, ...res, findings,
    };
    if (!writeOutput(json, JSON.stringify(doc, null, 2) + '\n', '--json')) return 2;
  }
  if (res.findings.length) return 1;
  if (stop) return signal || 130;
  if (res.runs - res.incompleteRuns === 0) {
    process.stderr.write('percpu-stress: fuzz: no run finished within the budget: nothing was checked (a longer --budget, or fewer --ops)\n');
    return 5;
  }
  return 0;
}

/** Re-execute a repro exactly (optionally recording its timeline). */
export async function replayRun(runner: Runner, repro: Repro, inject: string | null, watchdogMs: number, timeline: boolean, lockdepExport = false): Promise<RunResult> {
  return runner.run({
    scenario: reproScenario(repro), cpus: repro.cpus, seed: repro.seed, programs: reproPrograms(repro), strategy: Mode.replay,
    schedule: decodeSchedule(repro.schedule), depth: repro.depth, inject, backend: repro.backend ?? undefined, watchdogMs, timeline, lockdepExport,
  });
}

/** Write a run's timeline as Chrome Trace Event JSON; false (after one line on stderr) when it cannot be written. */
function writeTimeline(path: string, r: RunResult, source: string): boolean {
  const doc = chromeTrace(r.timeline!, r.violations, { tool: 'percpu-stress', version: VERSION, scenario: r.scenario, seed: r.seed, cpus: r.cpus, source });
  return writeOutput(path, JSON.stringify(doc) + '\n', '--trace-out');
}

export async function replayCommand(argv: string[]): Promise<number> {
  const a = parseArgs(argv, {
    inject: BUGS.map((b) => b.name), watchdog: 'duration', explain: 'flag', all: 'flag', 'trace-out': 'string',
    json: 'string', junit: 'string', quiet: 'flag', backend: ['vm', 'km'], 'lockdep-out': 'string', html: 'string',
  }, 1);
  const lockdepOut = a.options['lockdep-out'] === undefined ? undefined : checkDir(a.options['lockdep-out'] as string, '--lockdep-out');
  if (a.options.all && !a.options.explain) throw new UsageError('--all goes with --explain');
  const outs = { '--trace-out': a.options['trace-out'] as string | undefined, '--json': a.options.json as string | undefined, '--junit': a.options.junit as string | undefined, '--html': a.options.html as string | undefined };
  const html = outs['--html'] === undefined ? undefined : checkWritable(outs['--html'], '--html');
  distinctOutputs(outs);
  const traceOut = outs['--trace-out'] === undefined ? undefined : checkWritable(outs['--trace-out'], '--trace-out');
  const json = outs['--json'] === undefined ? undefined : checkWritable(outs['--json'], '--json');
  const junit = outs['--junit'] === undefined ? undefined : checkWritable(outs['--junit'], '--junit');
  const quiet = a.options.quiet === true;
  const timeline = a.options.explain === true || traceOut !== undefined || html !== undefined;
  const watchdogMs = (a.options.watchdog as number | undefined) ?? 5000;
  if (watchdogMs < 200) throw new UsageError('--watchdog must be at least 200ms');
  const file = a.positional[0];
  if (!file) throw new UsageError('replay: which repro file?');
  let repro;
  try {
    repro = readRepro(file);
  } catch (e) {
    if (e instanceof ReproError) throw new UsageError(e.message);
    throw e;
  }
  const inject = (a.options.inject as string | undefined) ?? repro.inject;
  const runner = new Runner();
  let signal = 0;
  const onSignal = (code: number) => (): void => {
    signal ||= code;
    runner.interrupt();
  };
  const onSigint = onSignal(130), onSigterm = onSignal(143);
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  let r;
  try {
    if (a.options.backend) repro = { ...repro, backend: a.options.backend as Backend };
    r = await replayRun(runner, repro, inject, watchdogMs, timeline, lockdepOut !== undefined || html !== undefined);
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    await runner.close();
  }
  const same = r.violations.find((v) => v.kind === repro.violation.kind);
  let out = quiet ? '' : r.violations.map((v) => v.text).join('\n');
  if (same && same.step === repro.violation.step) out += `\nreproduced: ${same.kind} at step ${same.step}, as recorded\n`;
  else if (same) out += `\nreproduced ${same.kind}, at step ${same.step} (recorded: step ${repro.violation.step})\n`;
  else out += `\ndid not reproduce ${repro.violation.kind}${r.violations.length ? ` (got ${r.violations.map((v) => v.kind).join(', ')})` : ': the run was clean'}\n`;
  if (r.diverged) out += `${r.diverged} recorded decisions no longer applied\n`;
  if (signal) out += '(interrupted: the replay did not finish)\n';
  if (a.options.explain && r.timeline) out += `\nthe interleaving${a.options.all ? '' : ' up to the violation'}:\n${explainTimeline(r.timeline, r.violations, { all: a.options.all === true })}`;
  process.stdout.write(out);
  if (traceOut && r.timeline && !writeTimeline(traceOut, r, file)) return 2;
  const outcome = same ? 'reproduced' : signal ? 'interrupted' : r.status === 'violation' ? 'different' : r.status === 'incomplete' ? 'incomplete' : 'clean';
  if (lockdepOut && !writeLockdepExports(lockdepOut, r)) return 2;
  if (json && !writeOutput(json, JSON.stringify({ tool: 'percpu-stress', version: VERSION, command: 'replay', repro: file, outcome, partial: signal !== 0, result: r }, reportJson, 2) + '\n', '--json')) return 2;
  if (junit && !writeOutput(junit, renderJunit([r]), '--junit')) return 2;
  if (html) {
    const doc = renderHtml({
      command: 'replay', commandLine: commandLineOf(process.argv.slice(2)),
      verdict: outcome === 'reproduced' ? 'reproduced' : outcome === 'different' ? 'different' : outcome === 'clean' ? 'not reproduced' : outcome,
      summary: [out.trim().split('\n').pop()!], runs: [r], focus: r, replay: `npx percpu-stress replay ${file}`,
    });
    if (!writeOutput(html, doc, '--html')) return 2;
  }
  if (signal && !same) return signal;
  // 1: the recorded violation again; 4: a different one; 0: clean (fixed?)
  if (same) return 1;
  return r.status === 'violation' ? 4 : r.status === 'incomplete' ? 5 : 0;
}

