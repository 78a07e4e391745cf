// JUnit XML, as CI tools read it: every suite and case carries a time;
// every finding that counts is a failed case of its own (one per signature
// and run, so none is lost behind another), every known issue met is a
// skipped case naming it (never a plain pass), and a run that could not
// finish or was interrupted is skipped with the reason.

import type { RunResult } from '../report/result.ts';
import { counts, type Violation } from '../report/violation.ts';
import { signatureOf } from '../explore/signature.ts';

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
    // characters XML 1.0 cannot carry
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '');
}

/** One testcase. */
export interface JunitCase {
  classname: string;
  name: string;
  /** Seconds. */
  time: number;
  failure?: { message: string; type: string; text: string };
  skipped?: string;
  out: string;
}

function seconds(s: number): string {
  return (Number.isFinite(s) && s > 0 ? s : 0).toFixed(3);
}

export function renderJunitCases(cases: JunitCase[], suite = 'percpu-stress', suiteSeconds?: number): string {
  const failures = cases.filter((c) => c.failure).length;
  const skipped = cases.filter((c) => c.skipped !== undefined && !c.failure).length;
  const time = seconds(suiteSeconds ?? cases.reduce((n, c) => n + c.time, 0));
  // (testsuites carries no skipped count: the Jenkins schema has none there; each testsuite has it)
  let out = `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="${esc(suite)}" tests="${cases.length}" failures="${failures}" errors="0" time="${time}">\n`;
  out += `  <testsuite name="${esc(suite)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${time}">\n`;
  for (const c of cases) {
    out += `    <testcase classname="${esc(c.classname)}" name="${esc(c.name)}" time="${seconds(c.time)}">\n`;
    if (c.failure) out += `      <failure message="${esc(c.failure.message)}" type="${esc(c.failure.type)}">${esc(c.failure.text)}</failure>\n`;
    // the reason as the element's text too: some readers (GitLab) show only that
    else if (c.skipped !== undefined) out += `      <skipped message="${esc(c.skipped)}">${esc(c.skipped)}</skipped>\n`;
    if (c.out) out += `      <system-out>${esc(c.out)}</system-out>\n`;
    out += '    </testcase>\n';
  }
  return out + '  </testsuite>\n</testsuites>\n';
}

/** The cases of one run: a failure per signature that counts, a skipped case per known issue, else one pass (or skip). */
export function runCases(r: RunResult, o: { confirmed?: Violation; what?: string } = {}): JunitCase[] {
  const name = `${r.scenario} (cpus=${r.cpus} seed=${r.seed}${r.inject ? ` inject=${r.inject}` : ''}${o.what ? ` ${o.what}` : ''})`;
  // a 4.1 run's cases are filed under its kernel (2.6.35's keep the names they always had)
  const classname = r.kernel === '2.6.35' ? `percpu-stress.${r.scenario}` : `percpu-stress.${r.kernel}.${r.scenario}`;
  const time = r.wallMs / 1000;
  const out = `${r.ops.alloc} alloc, ${r.ops.free} free, ${r.ops.irqsHandled} irq-free; ${r.chunksCreated} chunks created, ${r.chunksDestroyed} destroyed`;
  const cases: JunitCase[] = [];
  const bySig = new Map<string, Violation[]>();
  const failing = o.confirmed ? [o.confirmed] : r.violations.filter(counts);
  for (const v of failing) {
    const sig = signatureOf(v);
    bySig.set(sig, [...(bySig.get(sig) ?? []), v]);
  }
  for (const [sig, vs] of bySig) {
    cases.push({ classname, name: `${name}: ${sig}`, time, failure: { message: vs[0]!.title, type: vs[0]!.kind, text: vs.map((v) => v.text).join('\n') }, out });
  }
  for (const id of new Set(r.violations.filter((v) => v.known !== undefined && !v.suppressed).map((v) => v.known!))) {
    const v = r.violations.find((x) => x.known === id)!;
    cases.push({ classname, name: `${name}: known issue ${id}`, time: 0, skipped: `known issue ${id} of the ${r.kernel} baseline (${v.knownProof === 'fix-verified' ? 'proven by its mechanism and fix' : 'its mechanism fired'}): ${v.title}`, out: '' });
  }
  if (!bySig.size) {
    if (r.status === 'interrupted') cases.push({ classname, name, time, skipped: 'interrupted (SIGINT or SIGTERM): the run did not finish', out });
    else if (r.status === 'incomplete') cases.push({ classname, name, time, skipped: 'could not finish within its budget: nothing found, nothing proven', out });
    else cases.push({ classname, name, time, out });
  }
  return cases;
}

export function renderJunit(results: readonly RunResult[], suite = 'percpu-stress', suiteSeconds?: number): string {
  return renderJunitCases(results.flatMap((r) => runCases(r)), suite, suiteSeconds);
}
