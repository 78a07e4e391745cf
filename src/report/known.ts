// Known issues of the 2.6.35 baseline, and suppressions.
//
// The port is faithful, bugs included: what 2.6.35 gets wrong shows up as
// findings on the faithful code. Each such latent bug is listed here once,
// with what it is and how later kernels changed it; a finding that matches
// one is marked `known` and does not fail a run (unless --strict-known).
// Users add their own acknowledgements in a suppressions file, one per line
// (blank lines and '#' comments are ignored):
//
//   <kind>:<function-glob>   a finding of that kind (e.g. data-race,
//                            lock-discipline, spec, list-corruption) whose
//                            call trace or reported function matches the glob
//                            ('*' any run of characters, '?' one)
//   known:<id>               a known issue below (needed with --strict-known)

import type { Violation, ViolationKind } from './violation.ts';
import { UsageError } from './errors.ts';

export interface KnownIssue {
  id: string;
  kernel: string;
  what: string;
  /** The report it produces. */
  report: string;
  /** How later kernels changed it, where known. */
  later: string;
  kind: ViolationKind;
  title: RegExp;
}

export const KNOWN_ISSUES: readonly KnownIssue[] = [
  {
    id: 'walk-escape', kernel: '2.6.35', kind: 'list-corruption', title: /list walk in pcpu_alloc reached the head of pcpu_slot\[0\]/,
    what: 'with 1-3-byte heads and holes, a failed pcpu_alloc_area can leave contig_hint under 4 and move the chunk to slot 0 in the middle of ' +
      'pcpu_alloc\'s list_for_each_entry walk; the walk then follows slot 0\'s list and takes its head for a chunk',
    report: 'BUG: list walk in pcpu_alloc reached the head of pcpu_slot[0]',
    later: 'no dedicated fix is known to us; the area-map allocator was replaced by the bitmap allocator in 4.14',
  },
  {
    id: 'km-unzeroed', kernel: '2.6.35', kind: 'uninitialized', title: /is not zeroed/,
    what: 'percpu-km\'s pcpu_populate_chunk is a no-op and only percpu-vm clears a new area, so with the km backend pcpu_alloc returns memory ' +
      'a previous user of the chunk left behind',
    report: 'percpu: fresh area … is not zeroed in cpuN\'s copy',
    later: 'later kernels clear the area in pcpu_alloc itself, for every backend',
  },
  {
    id: 'map-pages-unwind', kernel: '2.6.35', kind: 'kernel-bug', title: /vmap_pte_range/,
    what: 'when mapping fails part-way through a CPU, pcpu_map_pages unmaps only the CPUs before it; the failing CPU\'s pages mapped so far stay ' +
      'mapped while the error path frees them, and the next populate of that range maps over live PTEs',
    report: 'WARNING: at mm/vmalloc.c:vmap_pte_range() … mapping fails with -EBUSY',
    later: 'not verified here: the same unwinding loop (CPUs before the failing one) is still in later kernels\' pcpu_map_pages',
  },
  {
    id: 'ptr-to-phys-offset', kernel: '2.6.35', kind: 'spec', title: /per_cpu_ptr_to_phys\(\) dropped the offset within the page/,
    what: 'per_cpu_ptr_to_phys returns page_to_phys() of the page behind the address, without offset_in_page(), for every address it looks up ' +
      'through a page (areas in chunks other than the first, and the first chunk when it is vmalloc-mapped): wrong unless the area starts a page',
    report: 'BUG: per_cpu_ptr_to_phys() dropped the offset within the page',
    later: 'fixed in 2.6.36 by adding offset_in_page(addr) ("percpu: fix per_cpu_ptr_to_phys() handling of non-page-aligned addresses")',
  },
  {
    id: 'ptr-to-phys-first-chunk', kernel: '2.6.35', kind: 'spec', title: /per_cpu_ptr_to_phys\(\) did not recognize a first-chunk address/,
    what: 'pcpu_addr_in_first_chunk compares the address with unit 0\'s range only, so a first-chunk address of any other CPU takes the ' +
      'pcpu_addr_to_page path: vmalloc_to_page() of an embedded (linear) address, and a bogus physical address',
    report: 'BUG: per_cpu_ptr_to_phys() did not recognize a first-chunk address of cpuN',
    later: 'fixed in 2.6.36 ("percpu: fix first chunk match in per_cpu_ptr_to_phys()", found through a kdump crash on SGI UV), which checks every unit',
  },
];

export function knownIssue(id: string): KnownIssue | undefined {
  return KNOWN_ISSUES.find((k) => k.id === id);
}

/** The known issue a violation matches, or undefined. */
export function matchKnown(v: Violation): KnownIssue | undefined {
  return KNOWN_ISSUES.find((k) => k.kind === v.kind && k.title.test(v.title));
}

export interface Suppression {
  /** A violation kind, or 'known'. */
  kind: string;
  /** A function glob (kind entries) or a known issue id. */
  pattern: string;
  re: RegExp | null;
  line: number;
}

function globRe(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/** Every violation kind there is (repro files and suppressions are checked against it). */
export const VIOLATION_KINDS: ReadonlySet<string> = new Set<string>([
  'invariant', 'list-corruption', 'use-after-free', 'page-fault', 'page-double-free', 'temp-buffer-race', 'shadow', 'uninitialized',
  'lock-discipline', 'data-race', 'spec', 'sleep-in-atomic', 'irq-state', 'irqs-enabled-early', 'lockdep-circular', 'lockdep-recursive',
  'lockdep-inconsistent', 'lockdep-irq-unsafe-order', 'lockdep-irq-inversion', 'lockdep-bad-unlock', 'bad-unlock', 'spinlock-recursion',
  'deadlock', 'hang', 'leak', 'kernel-bug', 'crash',
]);

/** Parse a suppressions file; a bad line is a UsageError naming it. */
export function parseSuppressions(text: string, name: string): Suppression[] {
  const out: Suppression[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const m = /^([a-z-]+):(\S+)$/.exec(line);
    const where = `${name}:${i + 1}`;
    if (!m) throw new UsageError(`${where}: expected <kind>:<function-glob> or known:<id>, got ${JSON.stringify(line.slice(0, 60))}`);
    const [, kind, pattern] = m as unknown as [string, string, string];
    if (kind === 'known') {
      if (!knownIssue(pattern)) throw new UsageError(`${where}: no known issue '${pattern.slice(0, 40)}' (known: ${KNOWN_ISSUES.map((k) => k.id).join(', ')})`);
      out.push({ kind, pattern, re: null, line: i + 1 });
    } else {
      if (!VIOLATION_KINDS.has(kind)) throw new UsageError(`${where}: unknown finding kind '${kind}'`);
      out.push({ kind, pattern, re: globRe(pattern), line: i + 1 });
    }
  });
  return out;
}

/** The functions a violation names: its call trace and the one its details report. */
function functionsOf(v: Violation): string[] {
  const fns = [...v.stack];
  const d = v.details as { function?: unknown; functions?: unknown } | undefined;
  if (typeof d?.function === 'string') fns.push(d.function);
  if (Array.isArray(d?.functions)) for (const f of d.functions) if (typeof f === 'string') fns.push(f);
  return fns;
}

export interface ClassifyOptions {
  suppressions?: readonly Suppression[];
  /** Known issues fail the run unless a suppression names them. */
  strictKnown?: boolean;
}

/**
 * Mark each violation known (matches a known issue) and/or suppressed (a
 * suppression covers it). Returns whether any violation still counts.
 */
export function classify(violations: Violation[], o: ClassifyOptions = {}): boolean {
  let counts = false;
  for (const v of violations) {
    const k = matchKnown(v);
    if (k) v.known = k.id;
    const sup = o.suppressions?.find((s) => (s.kind === 'known' ? v.known === s.pattern : s.kind === v.kind && functionsOf(v).some((f) => s.re!.test(f))));
    if (sup) v.suppressed = true;
    if (!v.suppressed && (!v.known || o.strictKnown)) counts = true;
  }
  return counts;
}
