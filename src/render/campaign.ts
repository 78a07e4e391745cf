// A fuzz campaign (or merged shards) as a person reads it: each finding with
// where its repro comes from and how to replay it, the runs per scenario
// and strategy, the known issues met, and what the clean PCT runs prove.

import { sortedCounts, type FuzzResult } from '../explore/fuzz.ts';
import { reproFileName } from '../explore/repro.ts';
import { isAbsolute, relative } from 'node:path';
import { COV_KINDS } from '../shm/coverage.ts';
import type { JunitCase } from './junit.ts';

/** A file as a person pastes it back: ./name below the working directory (shell-quoted when it must be), else its full path. */
export function shownPath(p: string): string {
  const cwd = process.cwd();
  const rel = relative(cwd, p);
  const shown = cwd !== '/' && rel && !rel.startsWith('..') && !isAbsolute(rel) ? `./${rel}` : p;
  return shellWord(shown);
}

/** A word a shell reads back as it is. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:,=+@%-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The findings of a campaign as the HTML report lists them. */
export function htmlFindings(res: FuzzResult): { title: string; signature: string; strategy: string; occurrences: number; reproPath: string; replay: string }[] {
  return res.findings.map((f) => ({
    title: f.violation.title, signature: f.signature, strategy: f.strategy, occurrences: f.occurrences, reproPath: f.reproPath,
    replay: f.reproPath ? `npx percpu-stress replay ${shownPath(f.reproPath)}` : `(the repro could not be written: ${f.reproError ?? 'none'})`,
  }));
}

/** "1 run", "2 runs", "1,000 context switches". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

/** The residual-risk paragraph: what the clean PCT runs of a campaign prove, per scenario, and what they do not. */
export function residualText(res: FuzzResult, entities: number, depth: number): string {
  if (res.findings.length) return '';
  const r = res.residual;
  if (!r) return '';
  if (res.residualRisk === null) {
    return `residual risk: none claimed: ${r.scenario} had no clean PCT run at depth ${depth} that could be counted (more runs, --budget or --runs)\n`;
  }
  const perRun = entities * Math.pow(r.k, depth - 1);
  const pct = res.residualRisk * 100;
  const outgrown = Object.values(res.byScenario).reduce((n, t) => n + t.outgrown, 0);
  return `residual risk (per scenario; the worst is ${r.scenario}): ${plural(r.cleanPct, 'clean PCT run')} at depth ${depth} counted there. ` +
    `A bug that needs ${depth} scheduling events in one particular order (PCT depth ${depth}) and that these programs can reach is hit by each such run ` +
    `with probability at least 1 in ${Math.round(perRun).toLocaleString('en-US')} (n = ${entities} entities incl. the kworker, k = ${r.k.toLocaleString('en-US')} steps, ` +
    `the range PCT drew its change points from, at least each counted run's length: 1/(n*k^${depth - 1})); after these runs such a bug would still be hidden ` +
    `with probability at most ${pct < 0.01 ? pct.toExponential(2) : pct.toFixed(2)}%. ` +
    `Interrupts are outside that bound: each interrupt a bug needs delivered at one particular point is a further coin (a pending interrupt is delivered half ` +
    `the time), so a bug that also needs m such deliveries is found about 2^m times less often. It says nothing about deeper bugs or code the programs do not reach` +
    `${outgrown ? `; ${plural(outgrown, 'PCT run')} outgrew even a widened range and ${outgrown === 1 ? 'was' : 'were'} not counted` : ''}. ` +
    `More runs (--budget, --runs), shorter runs (--ops: smaller k) or a smaller --depth make it tighter.\n`;
}

/** "pct/d3 12, pos 4, ..." in STRATEGY_ORDER. */
export function strategyCounts(by: Record<string, number>): string {
  return Object.entries(sortedCounts(by)).map(([k, v]) => `${k} ${v}`).join(', ');
}

/** Runs per scenario and strategy, a line per scenario. */
export function pairsText(res: FuzzResult): string {
  const names = Object.keys(res.byScenario);
  if (!names.length) return '';
  const width = Math.max(...names.map((n) => n.length));
  let out = 'runs per scenario and strategy:\n';
  for (const n of names) {
    const t = res.byScenario[n]!;
    out += `  ${n.padEnd(width)}  ${String(t.runs).padStart(6)}: ${strategyCounts(t.byStrategy)}\n`;
  }
  return out;
}

/** The findings and totals of a campaign (fuzz, or merged shards), as a person reads them. */
export function renderCampaign(res: FuzzResult, o: { quiet: boolean; portfolio: boolean; entities: number; depth: number; verbose?: boolean }): string {
  let out = '';
  for (const f of res.findings) {
    // blocks apart by one blank line, none before the first
    out += `${out ? '\n' : ''}${o.quiet ? `${f.violation.title}\n` : f.violation.text}`;
    if (!out.endsWith('\n')) out += '\n';
    out += `found by run ${f.run} (${f.scenario}, seed ${f.seed}, ${f.strategy}) after ${(f.detectMs / 1000).toFixed(2)} s\n`;
    if (f.firstRun !== f.run) out += `first seen by run ${f.firstRun} after ${(f.firstDetectMs / 1000).toFixed(2)} s (the repro is of run ${f.run}, the smallest shrunk)\n`;
    out += `signature: ${f.signature}${f.occurrences > 1 ? ` (${plural(f.occurrences, 'failing run')})` : ''}\n`;
    if (f.shrinkError) out += `shrinking failed: ${f.shrinkError}; the repro is the failing run as it was\n`;
    else out += `shrunk in ${plural(f.shrinkRuns, 'run')}: ${plural(f.original.cpus, 'CPU')}, ${plural(f.original.ops, 'op')}, ${plural(f.original.switches, 'context switch', 'context switches')} -> ${plural(f.minimal.cpus, 'CPU')}, ${plural(f.minimal.ops, 'op')}, ${plural(f.minimal.switches, 'context switch', 'context switches')}\n`;
    out += `schedule: ${f.schedule || '(none)'}\n`;
    if (f.reproPath) out += `repro: ${shownPath(f.reproPath)}\nreplay with:\n  npx percpu-stress replay ${shownPath(f.reproPath)}\n`;
    else if (f.reproError) out += `repro: not written (${f.reproError}); the --json result holds it\n`;
  }
  out += `${out ? '\n' : ''}${plural(res.runs, 'run')} in ${(res.ms / 1000).toFixed(1)} s (${(res.runs / Math.max(res.ms / 1000, 0.001)).toFixed(1)} runs/s), ${res.findings.length} failing` +
    `${res.incompleteRuns ? `, ${res.incompleteRuns} could not finish within the budget (they prove nothing)` : ''}\n`;
  if (o.portfolio || res.byStrategy.mutation) out += `strategies: ${strategyCounts(res.byStrategy)}\n`;
  if (o.verbose || Object.keys(res.byScenario).length > 1) out += pairsText(res);
  if (res.coverage) {
    const c = res.coverage;
    out += `coverage: ${c.bits} distinct events (${COV_KINDS.map((k, i) => `${k} ${c.byKind[i]}`).join(', ')}); corpus: ${plural(c.corpus, 'run')} that covered something new\n`;
  }
  out += residualText(res, o.entities, o.depth);
  return out;
}

/**
 * JUnit cases of a campaign: a failed case per finding signature (every
 * finding reaches CI), a skipped case per known issue met (naming it), a
 * passed case per scenario that ran with neither, a skipped case per
 * scenario that never ran (with the reason). A case's time is what the
 * campaign spent on it: a scenario's runs (shared among its findings, each
 * with its own shrinking), so that the cases add up to the campaign.
 */
export function campaignCases(scenarios: readonly string[], res: FuzzResult, what: string, partial: { interrupted: boolean; reason?: string }, kernel = '2.6.35'): JunitCase[] {
  const cases: JunitCase[] = [];
  // files from before per-scenario times: the campaign's time split evenly
  const evenly = res.ms / 1000 / Math.max(1, scenarios.length);
  const runSeconds = (name: string): number => (res.byScenario[name]?.ms !== undefined ? res.byScenario[name]!.ms! / 1000 : evenly);
  const findingsOf = (name: string): number => res.findings.filter((f) => f.scenario === name).length;
  for (const f of res.findings) {
    cases.push({
      classname: `percpu-stress.fuzz.${f.scenario}`, name: `${f.scenario}: ${f.signature} (${what})`, time: runSeconds(f.scenario) / findingsOf(f.scenario) + (f.shrinkMs ?? 0) / 1000,
      failure: { message: f.violation.title, type: f.violation.kind, text: `${f.violation.text}\nfound by run ${f.run} (${f.scenario}, seed ${f.seed}, ${f.strategy})\nrepro: ${f.reproPath ? shownPath(f.reproPath) : '(not written: it is in the --json result)'}\nreplay with: npx percpu-stress replay ${f.reproPath ? shownPath(f.reproPath) : reproName(f)}` },
      out: `${f.occurrences} failing run(s) with this signature`,
    });
  }
  // (by name: the order the runs met them in depends on how the campaign was split)
  for (const [id, n] of Object.entries(res.known).sort(([a], [b]) => a.localeCompare(b))) {
    cases.push({ classname: 'percpu-stress.fuzz.known', name: `known issue ${id} of the ${kernel} baseline (${what})`, time: 0, skipped: `known issue ${id}: met in ${n} run(s), proven by its mechanism and fix`, out: '' });
  }
  for (const name of scenarios) {
    const t = res.byScenario[name];
    if (!t || t.runs === 0) {
      cases.push({ classname: `percpu-stress.fuzz.${name}`, name: `fuzz ${name} (${what})`, time: 0, skipped: partial.interrupted ? 'not run: the campaign was interrupted first' : (partial.reason ?? 'not run: the campaign ended first (budget, --runs, or an earlier failing run)'), out: '' });
      continue;
    }
    if (findingsOf(name)) continue;
    cases.push({ classname: `percpu-stress.fuzz.${name}`, name: `fuzz ${name} (${what})`, time: runSeconds(name), out: `${plural(t.runs, 'run')}: ${strategyCounts(t.byStrategy)}` });
  }
  return cases;
}

/** The repro file a finding would have (when it could not be written). */
function reproName(f: FuzzResult['findings'][number]): string {
  return f.repro ? reproFileName(f.repro) : '<repro>';
}
