// The dependency graph for people and tools: DOT for graphviz, and a
// /proc/lockdep-style listing (each class with its usage, forward and
// backward dependency counts, and the classes it was taken before). Who
// first made a dependency is named as the report names it (cpuN, or the
// kworker), and the DOT graph marks what a lockdep report is about: the
// classes it names, the dependencies between them, and the one it refused.

import { MAX_CLASSES } from './records.ts';
import { lockName } from '../sync/locks.ts';
import type { Lockdep } from './lockdep.ts';

function usedClasses(ld: Lockdep): number[] {
  const out: number[] = [];
  for (let c = 0; c < MAX_CLASSES; c++) if (ld.usage(c) !== 0) out.push(c);
  return out;
}

/** Names an entity (a CPU's number, or the kworker's, which is the CPU count) as reports do. */
export type EntityNamer = (id: number) => string;

/** What a lockdep report's text names: its classes, and the dependency it refused (held -> wanted). */
export function reportFocus(text: string | undefined): { classes: Set<number>; refused: [number, number] | null } {
  const classes = new Set<number>();
  if (text === undefined) return { classes, refused: null };
  const byName = (name: string | undefined): number => (name === undefined ? -1 : [...Array(MAX_CLASSES).keys()].find((c) => lockName(c) === name) ?? -1);
  for (let c = 0; c < MAX_CLASSES; c++) if (text.includes(`(${lockName(c)}){`)) classes.add(c);
  const wanted = byName(/trying to acquire lock:\n \((.+)\)\{[^}]*\}/.exec(text)?.[1]);
  const held = byName(/already holding lock:\n \((.+)\)\{[^}]*\}/.exec(text)?.[1]);
  return { classes, refused: wanted >= 0 && held >= 0 ? [held, wanted] : null };
}

/** Graphviz DOT; `focusText` (a lockdep report) marks its classes and dependencies red, the refused one dashed. */
export function lockdepDot(ld: Lockdep, who: EntityNamer, focusText?: string): string {
  const f = reportFocus(focusText);
  const hot = (c: number): boolean => f.classes.has(c);
  let out = 'digraph lockdep {\n  node [shape=box, fontname="monospace"];\n';
  for (const c of usedClasses(ld)) out += `  c${c} [label="${lockName(c)}\\n${ld.usageString(c)}"${hot(c) ? ', color=red, penwidth=2' : ''}];\n`;
  for (const e of ld.edges()) out += `  c${e.from} -> c${e.to} [label="${who(e.cpu)}: ${e.site}"${hot(e.from) && hot(e.to) ? ', color=red, penwidth=2' : ''}];\n`;
  if (f.refused) out += `  c${f.refused[0]} -> c${f.refused[1]} [label="refused: the dependency the report is about", color=red, style=dashed, penwidth=2];\n`;
  return out + '}\n';
}

export function lockdepProc(ld: Lockdep, who: EntityNamer): string {
  const edges = ld.edges();
  let out = 'all lock classes:\n';
  for (const c of usedClasses(ld)) {
    const fd = edges.filter((e) => e.from === c).length;
    const bd = edges.filter((e) => e.to === c).length;
    out += `${String(c).padStart(4, '0')} FD: ${String(fd).padStart(2)} BD: ${String(bd).padStart(2)} ${ld.usageString(c).slice(1, -1)}: ${lockName(c)}\n`;
    for (const e of edges.filter((x) => x.from === c)) out += ` -> [${String(e.to).padStart(4, '0')}] ${lockName(e.to)}  (first seen on ${who(e.cpu)} at ${e.site})\n`;
    out += '\n';
  }
  return out;
}

/** /proc/lockdep_chains: every distinct chain of held locks, by irq context. */
export function lockdepChains(ld: Lockdep): string {
  let out = '';
  for (const c of ld.chains()) {
    out += `irq_context: ${c.irqContext}\n`;
    for (const cls of c.classes) out += `[${String(cls).padStart(4, '0')}] ${lockName(cls)}\n`;
    out += '\n';
  }
  return out;
}
