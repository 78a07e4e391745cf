// Console summaries: the numbers a developer reads after a run, in plain
// words and in the kernel's percpu_stats words.

import type { PercpuStats, RunResult, SingleResult } from '../report/result.ts';
import { counts } from '../report/violation.ts';

export function renderStats(s: PercpuStats): string {
  const rows: [string, number][] = [
    ['nr_alloc', s.nr_alloc], ['nr_dealloc', s.nr_dealloc], ['nr_cur_alloc', s.nr_cur_alloc], ['nr_max_alloc', s.nr_max_alloc],
    ['nr_chunks', s.nr_chunks], ['nr_max_chunks', s.nr_max_chunks], ['min_alloc_size', s.min_alloc_size], ['max_alloc_size', s.max_alloc_size],
  ];
  return 'Percpu Memory Statistics\nAllocation Info:\n' + rows.map(([k, v]) => `  ${k.padEnd(16)}: ${String(v).padStart(10)}\n`).join('');
}

export function renderSingle(r: SingleResult, o: { seed: number; ops: number; quiet: boolean; kernel?: string }): string {
  const kernel = o.kernel ?? '2.6.35';
  let out = '';
  if (!o.quiet) out += r.bootLog.join('\n') + '\n';
  out += `single-CPU run: seed ${o.seed}, ${o.ops} operations in ${(r.ms / 1000).toFixed(2)} s\n`;
  out += `  operations: ${r.ops.alloc} alloc, ${r.ops.free} free, ${r.ops.failed} failed\n`;
  out += `  chunks: ${r.chunksCreated} created, ${r.chunksDestroyed} destroyed; reclaim runs: ${r.reclaimRuns}\n`;
  out += `  invariant checks: ${r.checks}\n`;
  out += renderStats(r.stats);
  const counting = r.violations.filter(counts);
  const known = [...new Set(r.violations.filter((v) => v.known !== undefined).map((v) => v.known!))];
  for (const v of r.violations) out += `\n${v.known !== undefined ? `[known issue ${v.known} of the ${kernel} baseline: its mechanism fired]\n` : v.suppressed ? '[suppressed]\n' : ''}${v.text}`;
  if (counting.length === 0) {
    out += known.length ? `result: clean apart from known issues (${known.join(', ')})\n` : 'result: clean\n';
  } else {
    out += `\nresult: ${counting.length} violation${counting.length > 1 ? 's' : ''}${known.length ? `, and known issues (${known.join(', ')})` : ''}; re-run with: npx percpu-stress single${o.kernel && o.kernel !== '2.6.35' ? ` --kernel ${o.kernel}` : ''} --seed ${o.seed} --ops ${o.ops}\n`;
  }
  return out;
}

export interface RunHeader {
  description: string;
  rerun: string;
}

function rate(n: number, ms: number): string {
  return ms > 0 ? `${Math.round((n * 1000) / ms).toLocaleString('en-US')}/s` : '-';
}

/**
 * One scenario run, the way a kernel developer reads it: a line with the
 * verdict, then each finding that counts with its re-run command. `verbose`
 * adds the counts, the lock table, the notes, percpu_stats and the splats of
 * known issues.
 */
export function renderRun(r: RunResult, h: RunHeader, verbose: boolean): string {
  const counting = r.violations.filter((v) => !v.known && !v.suppressed).length;
  const acknowledged = [...new Set(r.violations.filter((v) => v.known || v.suppressed).map((v) => v.known ?? 'suppressed'))];
  const verdict = r.status === 'clean' ? 'clean'
    : r.status === 'known' ? `clean apart from known issues (${acknowledged.join(', ')})`
    : r.status === 'interrupted' ? 'interrupted'
    : r.status === 'incomplete' ? 'incomplete'
    : `${counting} violation${counting === 1 ? '' : 's'}${acknowledged.length ? `, and known issues (${acknowledged.join(', ')})` : ''}`;
  const when = r.strategy === 'os' ? `${(r.ms / 1000).toFixed(2)} s` : `${r.strategy}, ${r.steps} steps, ${r.switches} switches`;
  const kernel = r.kernel !== '2.6.35' ? `Linux ${r.kernel}, ` : '';
  const head = `${r.scenario}: ${verdict} (${kernel}cpus ${r.cpus}, seed ${r.seed}, ${r.backend}${r.inject ? `, inject ${r.inject}` : ''}, ${when})`;
  let out = '';
  if (!verbose) {
    out += `${head}\n`;
  } else {
    out += `\n== ${head}\n   ${h.description}\n`;
    const ops = r.ops.alloc + r.ops.free + r.ops.irqsHandled;
    out += `  operations: ${r.ops.alloc} alloc, ${r.ops.free} free, ${r.ops.irqsHandled} irq-free, ${r.ops.failed} failed, ${r.ops.touches} touched (${rate(ops, r.activeMs)})\n`;
    out += `  chunks: ${r.chunksCreated} created, ${r.chunksDestroyed} destroyed; reclaim runs: ${r.reclaimRuns}\n`;
    out += `  ${'lock class'.padEnd(22)}${'acquisitions'.padStart(14)}${'contentions'.padStart(13)}${'longest hold'.padStart(15)}\n`;
    for (const l of r.locks) out += `  ${l.lock.padEnd(22)}${String(l.acquisitions).padStart(14)}${String(l.contentions).padStart(13)}${`${l.longestHoldUs} us`.padStart(15)}\n`;
    out += `  checks run: ${r.checks}; violations: ${r.violations.length}\n`;
    for (const n of r.notes) out += `  note: ${n}\n`;
    if (r.schedule !== null) out += `  schedule: ${r.schedule}\n  final state hash: ${r.stateHash}\n`;
    out += renderStats(r.stats).replace(/^/gm, '  ').replace(/ +$/, '');
  }
  if (r.cpuStates) out += `  could not finish within its budget; the CPUs then:\n${r.cpuStates.replace(/^/gm, '    ').trimEnd()}\n`;
  const shown = verbose ? r.violations : r.violations.filter((v) => !v.known && !v.suppressed);
  for (const v of shown) {
    const mark = v.known ? `[known issue ${v.known} of the ${r.kernel} baseline${v.suppressed ? ', suppressed' : ''}]\n` : v.suppressed ? '[suppressed]\n'
      : v.unclassified ? `[unclassified, not a finding: its mechanism (${v.mechanism}) fired and ${v.unclassified}]\n` : '';
    out += `\n${mark}${v.text}`;
  }
  if (shown.length) out += `\nseed ${r.seed}; re-run with:\n  ${h.rerun}\n`;
  return out;
}
