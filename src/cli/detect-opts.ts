// The options that decide what counts as a finding, shared by `run` and
// `fuzz`: the size mix, suppressions and whether known issues count.

import { UsageError } from '../report/errors.ts';
import { checkSchema } from '../io/schema.ts';
import { SUPPRESSIONS, readInput } from '../io/inputs.ts';
import { parseSizes, type SizeMix } from '../../scenarios/lib/sizes.ts';
import { parseSuppressions, type Suppression } from '../check/known.ts';
import { GENERATIONS, allKnownIssues } from '../run/kernels.ts';
import { DEFAULT_KERNEL, type KernelVersion } from '../shm/config.ts';
import type { RunResult } from '../report/result.ts';
import { shellWord } from '../render/campaign.ts';

export { shellWord };

export interface DetectOptions {
  sizes: SizeMix | undefined;
  /** The --sizes text as given (for re-run hints and campaign configs). */
  sizesText: string | undefined;
  suppressions: Suppression[];
  /** The --suppressions file as given. */
  suppressionsFile: string | undefined;
  strictKnown: boolean;
}

export function parseDetect(o: { sizes?: string; suppressions?: string; 'strict-known'?: true }): DetectOptions {
  let suppressions: Suppression[] = [];
  if (o.suppressions !== undefined) {
    const file = o.suppressions;
    const text = readInput(file, SUPPRESSIONS, (why) => new UsageError(`--suppressions: ${why}`));
    suppressions = parseSuppressions(text, file, allKnownIssues().map((k) => k.id));
    checkSchema('suppressions', suppressions.map(({ kind, pattern, line }) => ({ kind, pattern, line })), file, (why) => new UsageError(why));
  }
  return {
    sizes: o.sizes === undefined ? undefined : parseSizes(o.sizes), sizesText: o.sizes, suppressions, suppressionsFile: o.suppressions,
    strictKnown: o['strict-known'] === true,
  };
}

/** The options of a re-run hint that change what counts as a finding. */
export function detectHint(d: DetectOptions): string {
  let s = '';
  if (d.sizesText !== undefined) s += ` --sizes ${shellWord(d.sizesText)}`;
  if (d.suppressionsFile !== undefined) s += ` --suppressions ${shellWord(d.suppressionsFile)}`;
  if (d.strictKnown) s += ' --strict-known';
  return s;
}


/** "known issues of the 2.6.35 baseline met: walk-escape (3 runs); ..." or ''. */
export function knownSummary(counts: Record<string, number>, kernel: KernelVersion = DEFAULT_KERNEL, strict = false): string {
  const ids = Object.keys(counts);
  if (!ids.length) return '';
  const parts = ids.map((id) => `${id} (${counts[id]} run${counts[id] === 1 ? '' : 's'})`);
  const list = `npx percpu-stress list${kernel === DEFAULT_KERNEL ? '' : ` --kernel ${kernel}`}`;
  const verdict = strict ? 'with --strict-known they fail it' : 'they do not fail the run (--strict-known to make them';
  return `known issues of the ${kernel} baseline met: ${parts.join(', ')}; ${verdict}; \`${list}\` explains each${strict ? '' : ')'}\n`;
}

/** The known issues the runs met, per kernel, in the order the kernels ran. */
export function knownCounts(results: readonly RunResult[]): Map<KernelVersion, Record<string, number>> {
  const out = new Map<KernelVersion, Record<string, number>>();
  for (const r of results) {
    const ids = new Set(r.violations.filter((v) => v.known && !v.suppressed).map((v) => v.known!));
    if (!ids.size) continue;
    const counts = out.get(r.kernel) ?? {};
    out.set(r.kernel, counts);
    for (const id of ids) counts[id] = (counts[id] ?? 0) + 1;
  }
  return out;
}

/** knownSummary for each kernel the runs met known issues of. */
export function knownSummaries(results: readonly RunResult[], strict = false): string {
  return [...knownCounts(results)].map(([kernel, counts]) => knownSummary(counts, kernel, strict)).join('');
}

export function knownIssuesText(kernel: KernelVersion = DEFAULT_KERNEL): string {
  const issues = GENERATIONS[kernel].knownIssues;
  let out = `\nknown issues of the ${kernel} baseline (reported, marked known, do not fail a run unless --strict-known):\n`;
  if (!issues.length) out += '  (none)\n';
  for (const k of issues) {
    out += `  ${k.id.padEnd(24)} ${k.what}\n  ${''.padEnd(24)} report: ${k.report}\n  ${''.padEnd(24)} later kernels: ${k.later}\n`;
  }
  return out;
}
