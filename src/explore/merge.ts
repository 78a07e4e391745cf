// `percpu-stress merge`: read the result files of the shards of one fuzz
// campaign (`fuzz --shard i/n --json F` on each CI machine), check that they
// belong together, and combine them as if the campaign had run in one piece.

import { SHARD, readJsonInput } from '../io/inputs.ts';
import { checkSchema } from '../io/schema.ts';
import { VERSION } from '../version.ts';
import { quote } from '../report/errors.ts';
import type { Violation } from '../report/violation.ts';
import { mergeResults, type Shard } from './campaign.ts';
import type { FuzzFinding, FuzzResult, ScenarioTally } from './fuzz.ts';
import { checkRepro, type Repro } from './repro.ts';

/** What makes two shards part of the same campaign. */
export interface CampaignConfig {
  scenarios: string[];
  strategy: string;
  depth: number;
  cpus: number;
  ops: number;
  seed: number;
  /** The kernel the campaign booted (shard files before 0.2 have none: 2.6.35). */
  kernel?: string;
  keepGoing: boolean;
  maxRuns: number;
  budgetMs: number;
  inject: string | null;
  backend: string | null;
  sizes: string | null;
}

/** A bad shard file: one line, exit 2. */
export class ShardError extends Error {}

export interface ShardFile {
  file: string;
  config: CampaignConfig;
  shard: Shard;
  partial: boolean;
  result: FuzzResult;
}

function need(ok: unknown, msg: string): asserts ok {
  if (!ok) throw new ShardError(msg);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export function readShardFile(file: string): ShardFile {
  const d = readJsonInput(file, SHARD, (why) => new ShardError(why)) as Record<string, unknown>;
  need(typeof d === 'object' && d !== null && d.tool === 'percpu-stress' && d.command === 'fuzz', `${file}: not the JSON result of percpu-stress fuzz`);
  checkSchema('shard', d, file, (why) => new ShardError(why));
  need(typeof d.version === 'string' && d.version.split('.')[0] === VERSION.split('.')[0], `${file}: version: written by percpu-stress ${quote(String(d.version))}, this is ${VERSION}`);
  const c = d.config as CampaignConfig | undefined;
  need(typeof c === 'object' && c !== null && Array.isArray(c.scenarios) && typeof c.strategy === 'string', `${file}: config: missing (written by an older fuzz?)`);
  const s = d.shard as Shard | undefined;
  need(typeof s === 'object' && s !== null && isCount(s.index) && isCount(s.count) && s.index >= 1 && s.index <= s.count, `${file}: shard: expected {index, count} with 1 <= index <= count`);
  for (const k of ['runs', 'cleanRuns', 'incompleteRuns', 'cleanPctRuns', 'ms'] as const) need(isCount(d[k]), `${file}: ${k}: expected a count, got ${quote(String(d[k]))}`);
  need(typeof d.meanSteps === 'number' && d.meanSteps >= 0, `${file}: meanSteps: expected a number`);
  need(Array.isArray(d.findings), `${file}: findings: expected a list`);
  const findings: FuzzFinding[] = [];
  for (const [i, f] of (d.findings as Record<string, unknown>[]).entries()) {
    const where = `${file}: findings[${i}]`;
    need(typeof f === 'object' && f !== null && typeof f.signature === 'string' && isCount(f.run) && isCount(f.occurrences), `${where}: expected signature, run and occurrences`);
    const m = f.minimal as FuzzFinding['minimal'] | undefined;
    need(m && isCount(m.ops) && isCount(m.cpus) && isCount(m.switches), `${where}.minimal: expected cpus, ops and switches`);
    const v = f.violation as Partial<Violation> | undefined;
    need(v && typeof v.kind === 'string' && typeof v.title === 'string' && typeof v.text === 'string', `${where}.violation: expected kind, title and text`);
    const repro = f.repro === null || f.repro === undefined ? null : checkRepro(f.repro as Repro, `${where}.repro`);
    findings.push({ ...(f as unknown as FuzzFinding), violation: { held: [], stack: [], fatal: false, cpu: 0, step: 0, ...v } as Violation, repro });
  }
  const counts = (v: unknown, what: string): Record<string, number> => {
    need(typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every(isCount), `${file}: ${what}: expected counts by name`);
    return v as Record<string, number>;
  };
  const byScenario: Record<string, ScenarioTally> = {};
  need(typeof d.byScenario === 'object' && d.byScenario !== null && !Array.isArray(d.byScenario), `${file}: byScenario: expected an object`);
  for (const [name, t] of Object.entries(d.byScenario as Record<string, Record<string, unknown>>)) {
    need(typeof t === 'object' && t !== null && isCount(t.runs) && isCount(t.cleanPct) && isCount(t.k) && isCount(t.outgrown), `${file}: byScenario.${name.slice(0, 40)}: expected runs, cleanPct, k and outgrown counts`);
    byScenario[name] = {
      runs: t.runs as number, cleanPct: t.cleanPct as number, k: t.k as number, outgrown: t.outgrown as number, byStrategy: counts(t.byStrategy, `byScenario.${name.slice(0, 40)}.byStrategy`),
      ...(isCount(t.ms) ? { ms: t.ms } : {}),
    };
  }
  const result: FuzzResult = {
    runs: d.runs as number, cleanRuns: d.cleanRuns as number, incompleteRuns: d.incompleteRuns as number, cleanPctRuns: d.cleanPctRuns as number, ms: d.ms as number, meanSteps: d.meanSteps as number,
    findings, residualRisk: null, residual: null, byStrategy: counts(d.byStrategy, 'byStrategy'), byScenario, known: counts(d.known, 'known'),
  };
  return { file, config: c, shard: s, partial: d.partial === true, result };
}

export interface Merged {
  config: CampaignConfig;
  result: FuzzResult;
  /** The repro of each merged finding, by position. */
  repros: (Repro | null)[];
  /** Shard indices of the campaign that no file gave. */
  missing: number[];
  partial: boolean;
}

/** Check that the shards belong to one campaign and combine them. */
export function mergeShards(shards: readonly ShardFile[]): Merged {
  need(shards.length > 0, 'merge: which shard files?');
  const first = shards[0]!;
  const seen = new Set<number>();
  const kernelOf = (s: ShardFile): string => s.config.kernel ?? '2.6.35';
  for (const s of shards) {
    need(kernelOf(s) === kernelOf(first), `${s.file}: kernel: a campaign of ${kernelOf(s)}, but ${first.file} is one of ${kernelOf(first)}: shards of different kernels do not merge`);
    need(JSON.stringify({ kernel: '2.6.35', ...s.config }) === JSON.stringify({ kernel: '2.6.35', ...first.config }), `${s.file}: config: not the campaign of ${first.file} (scenarios, strategy, depth, cpus, ops, seed, budget and runs must be the same)`);
    need(s.shard.count === first.shard.count, `${s.file}: shard: ${s.shard.index}/${s.shard.count}, but ${first.file} is one of ${first.shard.count}`);
    need(!seen.has(s.shard.index), `${s.file}: shard ${s.shard.index}/${s.shard.count} given twice`);
    seen.add(s.shard.index);
  }
  const c = first.config;
  // the repro travels with its finding through the merge
  const result = mergeResults(shards.map((s) => s.result), { keepGoing: c.keepGoing, entities: c.cpus + 1, depth: c.depth, keepFiles: true });
  const repros = result.findings.map((f) => f.repro);
  const missing = Array.from({ length: first.shard.count }, (_, i) => i + 1).filter((i) => !seen.has(i));
  return { config: c, result, repros, missing, partial: shards.some((s) => s.partial) || missing.length > 0 };
}
