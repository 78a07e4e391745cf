// The dependency graph for people and tools: DOT for graphviz, and a
// /proc/lockdep-style listing (each class with its usage, forward and
// backward dependency counts, and the classes it was taken before).

import { MAX_CLASSES } from './records.ts';
import { lockName } from '../sync/locks.ts';
import type { Lockdep } from './lockdep.ts';

function usedClasses(ld: Lockdep): number[] {
  const out: number[] = [];
  for (let c = 0; c < MAX_CLASSES; c++) if (ld.usage(c) !== 0) out.push(c);
  return out;
}

export function lockdepDot(ld: Lockdep): string {
  let out = 'digraph lockdep {\n  node [shape=box, fontname="monospace"];\n';
  for (const c of usedClasses(ld)) out += `  c${c} [label="${lockName(c)}\\n${ld.usageString(c)}"];\n`;
  for (const e of ld.edges()) out += `  c${e.from} -> c${e.to} [label="cpu${e.cpu}: ${e.site}"];\n`;
  return out + '}\n';
}

export function lockdepProc(ld: Lockdep): string {
  const edges = ld.edges();
  let out = 'all lock classes:\n';
  for (const c of usedClasses(ld)) {
    const fd = edges.filter((e) => e.from === c).length;
    const bd = edges.filter((e) => e.to === c).length;
    out += `${String(c).padStart(4, '0')} FD: ${String(fd).padStart(2)} BD: ${String(bd).padStart(2)} ${ld.usageString(c).slice(1, -1)}: ${lockName(c)}\n`;
    for (const e of edges.filter((x) => x.from === c)) out += ` -> [${String(e.to).padStart(4, '0')}] ${lockName(e.to)}  (first seen on cpu${e.cpu} at ${e.site})\n`;
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
