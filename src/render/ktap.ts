// KTAP v1 (the kernel's Documentation/dev-tools/ktap.rst): the same test
// cases as the JUnit report, as the kernel's own test tooling reads them.
// One top-level test per command, its cases nested under it (two spaces of
// indentation): a finding is "not ok" with its report as diagnostic lines
// before it, a known issue or a run that proved nothing is "ok # SKIP" with
// the reason, a partial report says so in a diagnostic line.

import type { RunResult } from '../report/result.ts';
import { runCases, type JunitCase } from './junit.ts';

/** A description KTAP can carry: one line, no '#'. */
function description(s: string): string {
  return s.replace(/[#\n\r]/g, ' ').replace(/\s+/g, ' ').trim();
}

function diagnostic(s: string): string[] {
  return s.split('\n').filter((l) => l.trim() !== '').map((l) => `# ${l.replace(/\r/g, '')}`);
}

/**
 * KTAP of a list of cases under one parent test named `top` (its name on a
 * `# Subtest:` line too, as KUnit prints it). The parent fails when a case
 * does; it is skipped only when nothing failed and nothing was proven.
 */
export function renderKtapCases(top: string, cases: readonly JunitCase[], o: { partial: string | null; note?: string }): string {
  const lines = ['KTAP version 1', '1..1'];
  const sub = ['KTAP version 1', `# Subtest: ${description(top)}`, `1..${cases.length}`];
  cases.forEach((c, i) => {
    const name = description(c.name);
    if (c.failure) {
      sub.push(...diagnostic(c.failure.text), `not ok ${i + 1} ${name}`);
    } else if (c.skipped !== undefined) {
      sub.push(`ok ${i + 1} ${name} # SKIP ${description(c.skipped)}`);
    } else {
      if (c.out) sub.push(...diagnostic(c.out));
      sub.push(`ok ${i + 1} ${name}`);
    }
  });
  lines.push(...sub.map((l) => `  ${l}`));
  const failed = cases.some((c) => c.failure);
  if (o.note) lines.push(`# ${description(o.note)}`);
  if (o.partial) lines.push(`# partial: ${description(o.partial)}`);
  const allSkipped = cases.length > 0 && cases.every((c) => c.skipped !== undefined && !c.failure);
  lines.push(`${failed ? 'not ok' : 'ok'} 1 ${description(top)}${!failed && (allSkipped || o.partial) ? ` # SKIP ${o.partial ? 'partial report' : 'nothing was proven'}` : ''}`);
  return lines.join('\n') + '\n';
}

export function renderKtapRuns(results: readonly RunResult[], o: { partial: string | null; top?: string }): string {
  return renderKtapCases(o.top ?? 'percpu-stress run', results.flatMap((r) => runCases(r)), o);
}
