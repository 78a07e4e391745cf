// `percpu-stress fuzz` and `percpu-stress replay`.

import type { Engine } from '../run/main/engine.ts';
import { newEngine } from '../run/main/inthread.ts';
import { DEFAULT_KERNEL, type Backend, type KernelVersion } from '../shm/config.ts';
import { Mode, MODE_NAMES } from '../sched/strategy.ts';
import { parseShard, runCampaign } from '../explore/campaign.ts';
import type { CampaignConfig } from '../explore/merge.ts';
import { UsageError, oneLine, quote } from '../report/errors.ts';
import { ReproError, readRepro, reproFileName, reproKernel, reproPrograms, reproScenario, type Repro } from '../explore/repro.ts';
import { decodeSchedule } from '../sched/schedule.ts';
import { Progress } from '../render/progress.ts';
import { checkInject, scenariosFor } from './run-cmd.ts';
import { Outputs, writeFilesInto } from '../io/outputs.ts';
import { lockdepFiles, lockdepNames } from '../io/files.ts';
import { chromeTrace, explainTimeline } from '../render/timeline.ts';
import { commandLineOf, renderHtml } from '../render/html.ts';
import { renderJunitCases, runCases } from '../render/junit.ts';
import { renderKtapCases } from '../render/ktap.ts';
import { campaignCases, htmlFindings, plural, renderCampaign } from '../render/campaign.ts';
import { reportJson, type RunResult } from '../report/result.ts';
import { planMachine } from '../run/machine.ts';
import { MAX_STEP_BUDGET, STEPS_PER_OP_BUDGET, scenarioConfig } from '../run/main/runner.ts';
import { VERSION } from '../version.ts';
import { knownSummary, parseDetect } from './detect-opts.ts';
import { FUZZ, MAX_CONTROLLED_OPS, MAX_FUZZ_THREADS, REPLAY } from './commands.ts';
import { parse } from './options.ts';
import { suiteName } from './suite.ts';
import { isScenarioPath, setScenarioDeadline } from '../explore/scenario-file.ts';

export async function fuzzCommand(argv: string[]): Promise<number> {
  const { o, positional } = parse(FUZZ, argv);
  const outputs = new Outputs();
  const scenarioArg = positional[0] ?? 'all';
  if (isScenarioPath(scenarioArg)) outputs.input('scenario file', scenarioArg);
  if (o.suppressions !== undefined) outputs.input('suppressions file', o.suppressions);
  const detect = parseDetect(o);
  const json = outputs.add('--json', o.json);
  const junit = outputs.add('--junit', o.junit);
  const ktap = outputs.add('--ktap', o.ktap);
  const html = outputs.add('--html', o.html);
  const traceOut = outputs.add('--trace-out', o['trace-out']);
  const quiet = o.quiet === true;
  const cpus = o.cpus ?? 3;
  const depth = o.depth ?? 3;
  const ops = o.ops ?? 0;
  if (ops * (cpus + 1) > MAX_CONTROLLED_OPS) throw new UsageError(`--ops x (CPUs + 1) must stay under ${MAX_CONTROLLED_OPS.toLocaleString('en-US')} (a controlled run counts its steps in 32 bits)`);
  const outDir = outputs.dir('--out', o.out ?? '.');
  outputs.repros(outDir);
  const watchdogMs = o.watchdog ?? 5000;
  const strategy = Mode[o.strategy ?? 'portfolio'];
  const inject = o.inject ?? null;
  const kernel: KernelVersion = o.kernel ?? DEFAULT_KERNEL;
  checkInject(o.inject, [kernel]);
  const jobs = o.jobs ?? 1;
  if (jobs * (cpus + 1) > MAX_FUZZ_THREADS) {
    throw new UsageError(`--jobs ${jobs} x (${cpus} CPUs + the kworker) = ${(jobs * (cpus + 1)).toLocaleString('en-US')} worker threads: at most ${MAX_FUZZ_THREADS} (fewer jobs or CPUs)`);
  }
  const shard = o.shard === undefined ? { index: 1, count: 1 } : parseShard(o.shard);
  if (!shard) throw new UsageError(`--shard must be i/n with 1 <= i <= n <= 100000, got ${quote(o.shard)}`);
  const feedback = o.feedback === true;
  // a feedback run depends on what the job ran before it: such a campaign cannot be partitioned by run number
  if (feedback && (jobs > 1 || o.shard !== undefined)) throw new UsageError('--feedback keeps one corpus per campaign: it does not go with --jobs or --shard');
  const budgetMs = o.budget ?? 30_000;
  const shrinkBudgetMs = o['shrink-budget'] ?? 20_000;
  const t0 = Date.now();
  // a call into a scenario file never outlasts the budget (shrinking a finding extends it by its own)
  setScenarioDeadline(t0 + budgetMs);
  const scenarios = scenariosFor(scenarioArg, 'fuzz', [kernel]);
  const runners = Array.from({ length: jobs }, () => newEngine(o.engine ?? 'inthread'));
  const runner = runners[0]!;
  const progress = new Progress();
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
  const seed = o.seed ?? 1;
  const keepGoing = o['keep-going'] === true;
  const maxRuns = o.runs ?? 0;
  let done = 0;
  try {
    res = await runCampaign(runners, {
      scenarios, budgetMs: stop ? 0 : budgetMs, shrinkBudgetMs, strategy, depth, cpus, ops, deadline: t0 + budgetMs,
      seed, keepGoing, outDir: outDir.path, inject, kernel, backend: o.backend, maxRuns, ...detect, watchdogMs, feedback,
      shouldStop: () => stop,
      onRun: (_runs, ms, failing) => {
        done++;
        // (a thousand runs a second: the line is made only where it is drawn)
        if (progress.active) progress.update(`fuzz: ${plural(done, 'run')}, ${(ms / 1000).toFixed(1)} of ${(budgetMs / 1000).toFixed(0)} s${failing ? `, ${failing} failing` : ''}`, ms / budgetMs);
      },
    }, shard);
    // the timeline of the first finding's minimal run: replay its repro once more, recording
    const first = res.findings[0];
    if ((traceOut || html) && first?.repro && !stop) traced = await replayRun(runner, first.repro, inject, watchdogMs, true, html !== undefined);
  } finally {
    progress.clear();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    await Promise.all(runners.map((r) => r.close()));
  }
  const partial = stop ? 'interrupted' : res.inputError !== undefined ? `stopped on bad input: ${res.inputError}` : null;
  let out = renderCampaign(res, { quiet, portfolio: strategy === Mode.portfolio, entities: cpus + 1, depth });
  out += knownSummary(res.known, kernel, detect.strictKnown);
  for (const u of res.unclassified ?? []) out += `unclassified: ${u.title} (run ${u.run}, ${u.scenario}, seed ${u.seed}): the ${u.mechanism} mechanism fired and ${u.why}; not a finding\n`;
  if (stop) out += `(interrupted after ${plural(res.runs, 'run')}; the report is partial)\n`;
  else if (res.inputError !== undefined) out += `(stopped on bad input after ${plural(res.runs, 'run')}; the report is partial)\n`;
  if (traceOut && !res.findings.length) out += '--trace-out: nothing failed, so no timeline was written\n';
  process.stdout.write(out);
  const what = `${kernel !== DEFAULT_KERNEL ? `kernel=${kernel}, ` : ''}${MODE_NAMES[strategy]}, cpus=${cpus}`;
  const cases = (): ReturnType<typeof campaignCases> => campaignCases(scenarios.map((x) => x.name), res, what, { interrupted: stop, ...(res.inputError !== undefined ? { reason: 'not run: the campaign stopped on bad input first' } : {}) }, kernel);
  // bad input met on the way: no report replaces anything (the findings are on stdout, their repros in --out)
  const written = res.inputError !== undefined || outputs.writeAll([
    [traceOut, () => (traced?.timeline ? timelineJson(traced, res.findings[0]!.reproPath || reproFileName(res.findings[0]!.repro!)) : null)],
    [html, () => {
      const summary = out.split('\n').filter((l) => /^([\d,]+ runs? in|strategies:|coverage:|residual risk:|known issues)/.test(l));
      return renderHtml({
        command: 'fuzz', commandLine: commandLineOf(process.argv.slice(2)), verdict: res.findings.length ? 'violation' : stop ? 'interrupted' : res.inputError !== undefined ? 'bad input' : 'clean', summary,
        findings: htmlFindings(res),
        ...(traced ? { focus: traced, replay: htmlFindings(res)[0]!.replay, focusViolation: traced.violations.find((v) => v.kind === res.findings[0]!.violation.kind) } : {}),
      });
    }],
    [junit, () => renderJunitCases(cases(), suiteName(kernel), res.ms / 1000)],
    [ktap, () => renderKtapCases(`${suiteName(kernel)} fuzz`, cases(), { partial })],
    [json, () => {
      // each finding with its minimal repro itself, so that a merge on another machine has it
      const findings = res.findings.map((f) => ({
        ...f, violation: { kind: f.violation.kind, title: f.violation.title, cpu: f.violation.cpu, step: f.violation.step, text: f.violation.text },
      }));
      const config: CampaignConfig = {
        scenarios: scenarios.map((x) => x.name), strategy: MODE_NAMES[strategy], depth, cpus, ops, seed, kernel, keepGoing, maxRuns, budgetMs,
        inject, backend: o.backend ?? null, sizes: o.sizes ?? null,
      };
      const doc = {
        tool: 'percpu-stress', version: VERSION, command: 'fuzz', strategy: MODE_NAMES[strategy], depth, cpus, config, shard, jobs,
        interrupted: stop, partial: partial !== null, ...res, findings,
      };
      return JSON.stringify(doc, null, 2) + '\n';
    }],
  ]);
  if (res.inputError !== undefined) {
    process.stderr.write(oneLine(`percpu-stress: ${res.inputError}`));
    return 2;
  }
  const unwritten = res.findings.filter((f) => f.reproError !== undefined);
  if (unwritten.length) {
    process.stderr.write(oneLine(`percpu-stress: --out: ${unwritten.length === 1 ? unwritten[0]!.reproError! : `${unwritten.length} repro files could not be written (${unwritten[0]!.reproError!})`} in ${outDir.given}${json ? ` (the --json result holds ${unwritten.length === 1 ? 'it' : 'them'})` : ''}`));
    return 2;
  }
  if (!written) return 2;
  if (res.findings.length) return 1;
  if (stop) return signal || 130;
  // a possible finding no replay could classify: nothing proven about that run
  if (res.unclassified?.length) return 5;
  if (res.runs - res.incompleteRuns === 0) {
    process.stderr.write('percpu-stress: fuzz: no run finished within the budget: nothing was checked (a longer --budget, or fewer --ops)\n');
    return 5;
  }
  return 0;
}

/** Re-execute a repro exactly (optionally recording its timeline). */
export async function replayRun(runner: Engine, repro: Repro, inject: string | null, watchdogMs: number, timeline: boolean, lockdepExport = false): Promise<RunResult> {
  const o = {
    scenario: reproScenario(repro), cpus: repro.cpus, seed: repro.seed, programs: reproPrograms(repro), strategy: Mode.replay,
    schedule: decodeSchedule(repro.schedule), depth: repro.depth, inject, kernel: reproKernel(repro), backend: repro.backend ?? undefined, watchdogMs, timeline, lockdepExport,
  };
  const r = await runner.run(o);
  // what the replay reproduces (or no longer does) is a verdict: an engine that is not the real threads has it confirmed there
  if (r.status !== 'incomplete' && r.status !== 'interrupted') await runner.confirm(o, r);
  return r;
}

/** A run's timeline as Chrome Trace Event JSON. */
function timelineJson(r: RunResult, source: string): string {
  return JSON.stringify(chromeTrace(r.timeline!, r.violations, { tool: 'percpu-stress', version: VERSION, scenario: r.scenario, seed: r.seed, cpus: r.cpus, source })) + '\n';
}

/** What replay refuses before it runs anything: a repro too long to schedule, a config its scenario no longer gives. */
function checkReplayable(repro: Repro, file: string, compareConfig: boolean): void {
  const ops = repro.programs.reduce((n, p) => n + p.length, 0);
  if (Math.max(200_000, ops * STEPS_PER_OP_BUDGET) > MAX_STEP_BUDGET) {
    throw new UsageError(`${file}: ${ops.toLocaleString('en-US')} ops: a controlled run of more than ${Math.floor(MAX_STEP_BUDGET / STEPS_PER_OP_BUDGET).toLocaleString('en-US')} ops cannot count its steps in 32 bits`);
  }
  // the machine the repro ran on must be the one its scenario gives today: else it replays something else
  if (!compareConfig) return;
  const now = { ...planMachine(scenarioConfig(reproScenario(repro), repro.cpus, repro.seed, repro.backend ?? undefined, reproKernel(repro))).cfg } as Record<string, unknown>;
  // repros written before the kernel was recorded ran 2.6.35
  const was: Record<string, unknown> | undefined = repro.config === undefined ? undefined : { kernel: DEFAULT_KERNEL, ...(repro.config as Record<string, unknown>) };
  if (was === undefined) return;
  for (const k of new Set([...Object.keys(now), ...Object.keys(was)])) {
    if (JSON.stringify(now[k]) !== JSON.stringify(was[k])) {
      throw new UsageError(`${file}: config.${k}: the repro ran with ${JSON.stringify(was[k])}, scenario ${repro.scenario} (cpus ${repro.cpus}, seed ${repro.seed}) now gives ${JSON.stringify(now[k])}: it would replay another machine`);
    }
  }
}

export async function replayCommand(argv: string[]): Promise<number> {
  const { o, positional } = parse(REPLAY, argv);
  if (o.all && !o.explain) throw new UsageError('--all goes with --explain');
  const file = positional[0];
  if (!file) throw new UsageError('replay: which repro file?');
  const outputs = new Outputs();
  outputs.input('repro file', file);
  const traceOut = outputs.add('--trace-out', o['trace-out']);
  const json = outputs.add('--json', o.json);
  const junit = outputs.add('--junit', o.junit);
  const ktap = outputs.add('--ktap', o.ktap);
  const html = outputs.add('--html', o.html);
  const lockdepOut = o['lockdep-out'] === undefined ? undefined : outputs.dir('--lockdep-out', o['lockdep-out']);
  const quiet = o.quiet === true;
  const timeline = o.explain === true || traceOut !== undefined || html !== undefined;
  const watchdogMs = o.watchdog ?? 5000;
  let repro: Repro;
  try {
    repro = readRepro(file);
  } catch (e) {
    if (e instanceof ReproError) throw new UsageError(e.message);
    throw e;
  }
  if (o.kernel !== undefined && o.kernel !== reproKernel(repro)) {
    throw new UsageError(`${file}: kernel: the repro ran on ${reproKernel(repro)}, not ${o.kernel} (its programs and schedule belong to that kernel; drop --kernel to replay it)`);
  }
  if (repro.scenarioFile !== undefined) outputs.input('scenario file', repro.scenarioFile);
  if (lockdepOut) outputs.plan(lockdepOut, lockdepNames(repro.scenario, repro.seed));
  // --backend replays the programs on another machine on purpose
  checkReplayable(repro, file, o.backend === undefined);
  if (o.backend) repro = { ...repro, backend: o.backend as Backend };
  checkInject(o.inject, [reproKernel(repro)]);
  const inject = o.inject ?? repro.inject;
  const runner = newEngine(o.engine ?? 'threads');
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
    r = await replayRun(runner, repro, inject, watchdogMs, timeline, lockdepOut !== undefined || html !== undefined);
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    await runner.close();
  }
  const same = r.violations.find((v) => v.kind === repro.violation.kind);
  let out = quiet ? '' : r.violations.map((v) => v.text).join('\n');
  // the verdict line, a blank line after the reports (none when there are none)
  if (out) out += out.endsWith('\n') ? '\n' : '\n\n';
  if (same && same.step === repro.violation.step) out += `reproduced: ${same.kind} at step ${same.step}, as recorded\n`;
  else if (same) out += `reproduced ${same.kind}, at step ${same.step} (recorded: step ${repro.violation.step})\n`;
  else out += `did not reproduce ${repro.violation.kind}${r.violations.length ? ` (got ${r.violations.map((v) => v.kind).join(', ')})` : ': the run was clean'}\n`;
  if (r.diverged) out += `${r.diverged} recorded decisions no longer applied\n`;
  if (signal) out += '(interrupted: the replay did not finish)\n';
  if (o.explain && r.timeline) out += `\nthe interleaving${o.all ? '' : ' up to the violation'}:\n${explainTimeline(r.timeline, r.violations, { all: o.all === true })}`;
  process.stdout.write(out);
  const outcome = same ? 'reproduced' : signal ? 'interrupted' : r.status === 'violation' ? 'different' : r.status === 'incomplete' ? 'incomplete' : 'clean';
  const cases = (): ReturnType<typeof runCases> => runCases(r, { ...(same ? { confirmed: same } : {}), what: 'replay' });
  const written = outputs.writeAll([
    [traceOut, () => (r.timeline ? timelineJson(r, file) : null)],
    [json, () => JSON.stringify({ tool: 'percpu-stress', version: VERSION, command: 'replay', repro: file, outcome, partial: signal !== 0, result: r }, reportJson, 2) + '\n'],
    [junit, () => renderJunitCases(cases(), suiteName(r.kernel), r.wallMs / 1000)],
    [ktap, () => renderKtapCases(`${suiteName(r.kernel)} replay`, cases(), { partial: signal ? 'interrupted' : null })],
    [html, () => renderHtml({
      command: 'replay', commandLine: commandLineOf(process.argv.slice(2)),
      verdict: outcome === 'reproduced' ? 'reproduced' : outcome === 'different' ? 'different' : outcome === 'clean' ? 'not reproduced' : outcome,
      summary: [out.trim().split('\n').pop()!], runs: [r], focus: r, replay: `npx percpu-stress replay ${file}`, ...(same ? { focusViolation: same } : {}),
    })],
  ]);
  const lockdepOk = lockdepOut === undefined || writeFilesInto(lockdepOut, lockdepFiles(r));
  if (!written || !lockdepOk) return 2;
  if (signal && !same) return signal;
  // 1: the recorded violation again; 4: a different one; 0: clean (fixed?)
  if (same) return 1;
  return r.status === 'violation' ? 4 : r.status === 'incomplete' ? 5 : 0;
}
