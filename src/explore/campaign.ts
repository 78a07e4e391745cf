// A fuzz campaign over several jobs (each its own engine: its own shared
// memory and threads) and over shards (CI machines). Run numbers are
// partitioned, never shared: shard i of n takes the runs r with
// r mod n = i - 1, and its jobs take those numbers in turn from one
// sequence, each the next when it starts a run (a job that drew slow runs
// takes fewer; none waits for the others). A run's scenario, seed and
// strategy depend only on its number, so the union of the parts is the
// unsharded campaign, and merging them gives its findings.

import { rmSync } from 'node:fs';
import type { Engine } from '../run/main/engine.ts';
import { fuzz, planRun, RunNumbers, sortedCounts, strategiesOf, worstResidual, type FuzzFinding, type FuzzOptions, type FuzzResult, type ScenarioTally } from './fuzz.ts';

export interface Shard {
  /** 1-based */
  index: number;
  count: number;
}

/** "2/5" -> shard 2 of 5; null when malformed. */
export function parseShard(spec: string): Shard | null {
  const m = /^(\d+)\/(\d+)$/.exec(spec);
  if (!m) return null;
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > 100_000 || index < 1 || index > count) return null;
  return { index, count };
}

/** Run one shard of a campaign (the whole campaign by default) on `runners.length` jobs at once. */
export async function runCampaign(runners: readonly Engine[], o: FuzzOptions, shard: Shard = { index: 1, count: 1 }): Promise<FuzzResult> {
  const limit = { maxIndex: Infinity };
  const runNumbers = new RunNumbers(shard.index - 1, shard.count);
  const sampled = new Set<string>();
  const parts = await Promise.all(runners.map((runner) => fuzz(runner, { ...o, runNumbers, limit, sampled })));
  return mergeResults(parts, { keepGoing: o.keepGoing, entities: o.cpus + 1, depth: o.depth, scenarioOrder: firstSeen(o, shard) });
}

/**
 * The scenarios in the order a campaign (or shard) run as one job meets
 * them: the order its summary lists them in, whichever job met them first.
 */
function firstSeen(o: FuzzOptions, shard: Shard): string[] {
  const order: string[] = [];
  const S = o.scenarios.length;
  // every scenario comes within 2 x scenarios x strategies runs (every other run, with an injected bug's favourite)
  for (let k = 0, end = 2 * S * strategiesOf(o).length + 1; order.length < S && k < end; k++) {
    const name = o.scenarios[planRun(o, shard.index - 1 + shard.count * k).scenario]!.name;
    if (!order.includes(name)) order.push(name);
  }
  return order;
}

/** Per-scenario tallies summed (k: the largest range counted anywhere). */
export function sumTallies(parts: readonly Record<string, ScenarioTally>[]): Record<string, ScenarioTally> {
  const out: Record<string, ScenarioTally> = {};
  for (const p of parts) {
    for (const [name, t] of Object.entries(p)) {
      const o = (out[name] ??= { runs: 0, byStrategy: {}, cleanPct: 0, k: 0, outgrown: 0 });
      o.runs += t.runs;
      o.cleanPct += t.cleanPct;
      o.outgrown += t.outgrown;
      o.k = Math.max(o.k, t.k);
      if (t.ms !== undefined) o.ms = (o.ms ?? 0) + t.ms;
      for (const [k, v] of Object.entries(t.byStrategy)) o.byStrategy[k] = (o.byStrategy[k] ?? 0) + v;
    }
  }
  for (const t of Object.values(out)) t.byStrategy = sortedCounts(t.byStrategy);
  return out;
}

/**
 * Combine the results of jobs or shards of one campaign: runs, clean runs,
 * strategies, scenarios and known issues are summed; findings are grouped
 * by signature under --keep-going (the one of the lowest-numbered failing
 * run kept whole, with its repro and provenance; the occurrences summed),
 * and otherwise only the lowest-numbered failing run counts: the findings
 * of the campaign run in one piece, however it was split. The residual
 * risk is recomputed per scenario. Repro files of the findings not kept
 * are removed.
 */
export function mergeResults(parts: readonly FuzzResult[], o: { keepGoing: boolean; entities: number; depth: number; keepFiles?: boolean; scenarioOrder?: readonly string[] }): FuzzResult {
  const runs = parts.reduce((n, p) => n + p.runs, 0);
  const steps = parts.reduce((n, p) => n + p.meanSteps * p.runs, 0);
  const sum = (pick: (p: FuzzResult) => Record<string, number>): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const p of parts) for (const [k, v] of Object.entries(pick(p))) out[k] = (out[k] ?? 0) + v;
    return sortedCounts(out);
  };
  const all = parts.flatMap((p) => p.findings);
  let kept: FuzzFinding[];
  if (o.keepGoing) {
    const bySig = new Map<string, FuzzFinding>();
    const occurrences = new Map<string, number>();
    for (const f of all) {
      const b = bySig.get(f.signature);
      if (!b || f.run < b.run) bySig.set(f.signature, f);
      occurrences.set(f.signature, (occurrences.get(f.signature) ?? 0) + f.occurrences);
    }
    kept = [...bySig.values()].map((f) => ({ ...f, occurrences: occurrences.get(f.signature)! })).sort((a, b) => a.run - b.run);
  } else {
    const lowest = all.reduce<FuzzFinding | undefined>((b, f) => (!b || f.run < b.run ? f : b), undefined);
    kept = lowest ? [lowest] : [];
  }
  const keepPaths = new Set(kept.map((f) => f.reproPath));
  if (!o.keepFiles) for (const f of all) if (f.reproPath && !keepPaths.has(f.reproPath)) rmSync(f.reproPath, { force: true });
  const meanSteps = runs ? steps / runs : 0;
  const summed = sumTallies(parts.map((p) => p.byScenario));
  // jobs meet the scenarios in an order that depends on their speed: listed in the order one job meets them
  const rank = (n: string): number => (o.scenarioOrder?.includes(n) ? o.scenarioOrder.indexOf(n) : Infinity);
  const byScenario = Object.fromEntries(Object.entries(summed).sort(([a], [b]) => rank(a) - rank(b)));
  return {
    runs, cleanRuns: parts.reduce((n, p) => n + p.cleanRuns, 0), incompleteRuns: parts.reduce((n, p) => n + p.incompleteRuns, 0), ms: Math.max(0, ...parts.map((p) => p.ms)), findings: kept, meanSteps,
    ...worstResidual(byScenario, o.entities, o.depth, kept.length > 0),
    cleanPctRuns: Object.values(byScenario).reduce((n, t) => n + t.cleanPct, 0),
    byStrategy: sum((p) => p.byStrategy), byScenario, known: sum((p) => p.known),
    ...(parts.some((p) => p.inputError !== undefined) ? { inputError: parts.find((p) => p.inputError !== undefined)!.inputError! } : {}),
    ...(parts.some((p) => p.unclassified?.length) ? { unclassified: parts.flatMap((p) => p.unclassified ?? []).sort((a, b) => a.run - b.run) } : {}),
    // feedback campaigns run in one piece (the CLI refuses --jobs and --shard with --feedback)
    ...(parts.length === 1 && parts[0]!.coverage ? { coverage: parts[0]!.coverage } : {}),
  };
}
