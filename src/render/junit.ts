// JUnit XML: one testcase per scenario run, the violation text as the
// failure, so CI systems show what went wrong where.

import type { RunResult } from '../report/result.ts';

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
    // characters XML 1.0 cannot carry
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');
}

/** One testcase of a suite that is not a list of scenario runs (a fuzz campaign). */
export interface JunitCase {
  classname: string;
  name: string;
  failure?: { message: string; type: string; text: string };
  skipped?: string;
  out: string;
}

export function renderJunitCases(cases: JunitCase[], suite = 'percpu-stress'): string {
  const failures = cases.filter((c) => c.failure).length;
  let out = `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="${esc(suite)}" tests="${cases.length}" failures="${failures}">\n`;
  out += `  <testsuite name="${esc(suite)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="${cases.filter((c) => c.skipped).length}">\n`;
  for (const c of cases) {
    out += `    <testcase classname="${esc(c.classname)}" name="${esc(c.name)}">\n`;
    if (c.failure) out += `      <failure message="${esc(c.failure.message)}" type="${esc(c.failure.type)}">${esc(c.failure.text)}</failure>\n`;
    else if (c.skipped) out += `      <skipped message="${esc(c.skipped)}"/>\n`;
    out += `      <system-out>${esc(c.out)}</system-out>\n    </testcase>\n`;
  }
  return out + '  </testsuite>\n</testsuites>\n';
}

export function renderJunit(results: RunResult[], suite = 'percpu-stress'): string {
  const failures = results.filter((r) => r.status === 'violation').length;
  const time = results.reduce((s, r) => s + r.ms, 0) / 1000;
  let out = `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="${esc(suite)}" tests="${results.length}" failures="${failures}" time="${time.toFixed(3)}">\n`;
  out += `  <testsuite name="${esc(suite)}" tests="${results.length}" failures="${failures}" errors="0" skipped="0" time="${time.toFixed(3)}">\n`;
  for (const r of results) {
    const name = `${r.scenario} (cpus=${r.cpus} seed=${r.seed}${r.inject ? ` inject=${r.inject}` : ''})`;
    out += `    <testcase classname="percpu-stress.${esc(r.scenario)}" name="${esc(name)}" time="${(r.ms / 1000).toFixed(3)}">\n`;
    if (r.status === 'violation') {
      const first = r.violations[0]!;
      out += `      <failure message="${esc(first.title)}" type="${first.kind}">${esc(r.violations.map((v) => v.text).join('\n'))}</failure>\n`;
    } else if (r.status === 'interrupted') {
      out += '      <skipped message="interrupted"/>\n';
    }
    out += `      <system-out>${esc(`${r.ops.alloc} alloc, ${r.ops.free} free, ${r.ops.irqsHandled} irq-free; ${r.chunksCreated} chunks created, ${r.chunksDestroyed} destroyed`)}</system-out>\n`;
    out += '    </testcase>\n';
  }
  return out + '  </testsuite>\n</testsuites>\n';
}
