// Known issues of the 2.6.35 baseline, proven by their mechanism and their
// fix, and suppressions.
//
// The port is faithful, bugs included: what 2.6.35 gets wrong shows up as
// findings on the faithful code. A symptom alone proves nothing -- a new bug
// can print the same title -- so a finding is a known issue only when:
//
//  1. the issue's mechanism fired for this very finding: the port calls the
//     recorder below at the place where the latent bug fires (a failed scan
//     moving the walked chunk to slot 0 with a contig_hint, recomputed here
//     from the map, under 4; percpu-km's no-op populate handing out the very
//     area found unzeroed; a pcpu_map_pages failure leaving the very page
//     mapped that is later mapped over; per_cpu_ptr_to_phys taking the
//     path that loses the offset or misses the first chunk, for this very
//     address), and the report is attributed to it when it is made; and
//  2. in a controlled run, replaying the run with the later kernel's fix
//     switched on (src/percpu/2.6.35/later/) makes it go away ("fix-verified").
//     A free-running run or a trace cannot be replayed: there, (1) decides.
//
// Anything else with the same title is a new finding and fails the run.
// Users add their own acknowledgements in a suppressions file, one per line
// (blank lines and '#' comments are ignored):
//
//   <kind>:<function-glob>   a finding of that kind (e.g. data-race,
//                            lock-discipline, spec, list-corruption) whose
//                            call trace or reported function matches the glob
//                            ('*' any run of characters, '?' one)
//   known:<id>               a known issue below (needed with --strict-known)

import type { Shm } from '../shm/layout.ts';
import { vmToPfn } from '../mm/vm.ts';
import { C, PC } from '../percpu/records.ts';
import { CK, KX, MAX_UNWIND, PHYS_CHUNK, PHYS_LINEAR, PHYS_VMALLOC, UNWIND_WORDS } from './records.ts';
import { VIOLATION_KIND_SET, type Violation, type ViolationKind } from '../report/violation.ts';
import { UsageError } from '../report/errors.ts';
import type { Cpu } from '../sync/cpu.ts';
import type { MechanismHooks } from '../percpu/hooks.ts';

export interface KnownIssue {
  id: string;
  kernel: string;
  what: string;
  /** The mechanism: what must have fired for a finding to be this issue. */
  mechanism: string;
  /** The report it produces. */
  report: string;
  /** How later kernels changed it. */
  later: string;
  kind: ViolationKind;
  /** The scenario that shows it best (bench's detection of the known issues). */
  scenario: string;
}

export const KNOWN_ISSUES: readonly KnownIssue[] = [
  {
    id: 'walk-escape', kernel: '2.6.35', scenario: 'tiny-sizes', kind: 'list-corruption',
    what: 'with 1-3-byte heads and holes, a failed pcpu_alloc_area can leave contig_hint under 4 and move the chunk to slot 0 in the middle of ' +
      'pcpu_alloc\'s list_for_each_entry walk; the walk then follows slot 0\'s list and takes its head for a chunk',
    mechanism: 'a failed scan in the walk moved the walked chunk to slot 0, and its largest free block (recomputed from the map) is under 4 bytes',
    report: 'BUG: list walk in pcpu_alloc reached the head of pcpu_slot[0]',
    later: 'no upstream fix in the area-map allocator (replaced by the bitmap allocator in 4.14); the fix variant walk-safe takes the next chunk before the scan',
  },
  {
    id: 'km-unzeroed', kernel: '2.6.35', scenario: 'km', kind: 'uninitialized',
    what: 'percpu-km\'s pcpu_populate_chunk is a no-op and only percpu-vm clears a new area, so with the km backend pcpu_alloc returns memory ' +
      'a previous user of the chunk left behind',
    mechanism: 'percpu-km\'s no-op populate handed out the very area that was found not zeroed',
    report: 'percpu: fresh area … is not zeroed in cpuN\'s copy',
    later: 'later kernels clear the area in pcpu_alloc itself, for every backend (fix variant alloc-clears-area)',
  },
  {
    id: 'map-pages-unwind', kernel: '2.6.35', scenario: 'oom', kind: 'kernel-bug',
    what: 'when mapping fails part-way through a CPU, pcpu_map_pages unmaps only the CPUs before it; the failing CPU\'s pages mapped so far stay ' +
      'mapped while the error path frees them, and the next populate of that range maps over live PTEs',
    mechanism: 'an allocation failure in pcpu_map_pages left the failing CPU\'s pages mapped, and the page mapped over is one of them',
    report: 'WARNING: at mm/vmalloc.c:vmap_pte_range() … mapping fails with -EBUSY',
    later: 'fix variant map-pages-unwind-all unmaps the failing CPU\'s pages too (not verified here against a later kernel)',
  },
  {
    id: 'ptr-to-phys-offset', kernel: '2.6.35', scenario: 'phys-lookup', kind: 'spec',
    what: 'per_cpu_ptr_to_phys returns page_to_phys() of the page behind the address, without offset_in_page(), for every address it looks up ' +
      'through a page (areas in chunks other than the first, and the first chunk when it is vmalloc-mapped): wrong unless the area starts a page',
    mechanism: 'the lookup took the page-based path 2.6.35 takes for that address (by the checker\'s own classification: a vmalloc-mapped first chunk\'s unit 0, or any other chunk; never __pa() of an embedded first chunk), found the right page, and returned its address without the offset',
    report: 'BUG: per_cpu_ptr_to_phys() returned a wrong physical address (the offset within the page is missing)',
    later: 'later kernels add offset_in_page(addr) ("percpu: fix per_cpu_ptr_to_phys() handling of non-page-aligned addresses"; fix variant phys-offset-in-page)',
  },
  {
    id: 'ptr-to-phys-first-chunk', kernel: '2.6.35', scenario: 'phys-lookup', kind: 'spec',
    what: 'pcpu_addr_in_first_chunk compares the address with unit 0\'s range only, so a first-chunk address of any other CPU takes the ' +
      'pcpu_addr_to_page path: vmalloc_to_page() of an embedded (linear) address, and a bogus physical address',
    mechanism: 'the address lies in a first-chunk unit other than unit 0 (recomputed from the unit offsets) and the lookup took the pcpu_addr_to_page path, the one 2.6.35 takes for it',
    report: 'BUG: per_cpu_ptr_to_phys() returned a wrong physical address (a first-chunk address not recognized)',
    later: 'later kernels check every unit ("percpu: fix first chunk match in per_cpu_ptr_to_phys()"; fix variant phys-first-chunk-units)',
  },
];


// ---- recording the mechanisms (shared memory: a report may come from another thread) ----

/**
 * The mechanism recorder of one thread. It reads the allocator's state raw
 * (it is a checker: its reads are not the allocator's and feed no other
 * checker) and writes only its own records (src/check/records.ts).
 */
export class MechanismRecorder implements MechanismHooks {
  private readonly w: Int32Array;
  private readonly L: Shm['L'];

  constructor(readonly shm: Shm, private readonly pageShift: number) {
    this.w = shm.w;
    this.L = shm.L;
  }

  private kx(cpu: Cpu): number {
    return this.L.known + cpu.id * KX.SIZE;
  }

  /** Forget the last run's records. */
  reset(): void {
    this.w.fill(0, this.L.known, this.L.known + this.L.nrEntities * KX.SIZE);
    this.w[this.L.ck + CK.UNWIND_LEN] = 0;
  }

  walkScanFailed(cpu: Cpu, chunk: number, slot: number): void {
    const w = this.w;
    // the largest free block, from the map itself (not the chunk's hint)
    const m = w[chunk + C.MAP]!, used = w[chunk + C.MAP_USED]!;
    let largest = 0;
    for (let i = 0; i < used; i++) if (w[m + i]! > largest) largest = w[m + i]!;
    recordWalkEscape(this.shm, cpu, chunk, slot, largest);
  }

  walkDone(cpu: Cpu): void {
    const x = this.kx(cpu);
    this.w[x + KX.WALK_CHUNK] = 0;
  }

  kmHandedOut(cpu: Cpu, chunk: number, off: number, size: number): void {
    const x = this.kx(cpu);
    this.w[x + KX.KM_PTR] = this.w[chunk + C.BASE_ADDR]! + off;
    this.w[x + KX.KM_SIZE] = size;
  }

  mapPagesLeftMapped(_cpu: Cpu, chunk: number, unitCpu: number, start: number, end: number, err: number): void {
    if (end <= start) return;
    const w = this.w;
    const unit = w[chunk + C.BASE_ADDR]! + w[this.L.unitOff + unitCpu]!;
    // an allocation failure (what injection makes); or -EBUSY at a page an earlier recorded failure left
    // mapped (the cascade of this issue); not a live PTE met for another reason
    if (err !== -12 && !(err === -16 && unwindLeft(this.shm, unit + (end << this.pageShift)))) return;
    let n = w[this.L.ck + CK.UNWIND_LEN]!;
    // full (a long free-running run with failures makes hundreds): forget the ranges none of whose pages
    // is mapped any more -- nothing they left can be met again -- rather than this one, whose cascade
    // would then go unexplained (npm start's 4.1 oom run filed three of them as findings)
    if (n >= MAX_UNWIND) n = this.pruneUnwind();
    if (n >= MAX_UNWIND) return;
    const at = this.L.unwind + n * UNWIND_WORDS;
    w[at] = unit + (start << this.pageShift);
    w[at + 1] = end - start;
    w[this.L.ck + CK.UNWIND_LEN] = n + 1;
  }


  /** Drop the recorded ranges with no page mapped; the records left. */
  private pruneUnwind(): number {
    const w = this.w;
    const n = w[this.L.ck + CK.UNWIND_LEN]!;
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const at = this.L.unwind + i * UNWIND_WORDS;
      const first = w[at]!, pages = w[at + 1]!;
      let mapped = false;
      for (let p = 0; p < pages && !mapped; p++) mapped = vmToPfn(this.shm, first + (p << this.pageShift), this.pageShift) >= 0;
      if (!mapped) continue;
      const to = this.L.unwind + kept * UNWIND_WORDS;
      w[to] = first;
      w[to + 1] = pages;
      kept++;
    }
    w[this.L.ck + CK.UNWIND_LEN] = kept;
    return kept;
  }

  /**
   * per_cpu_ptr_to_phys took `path` for `addr`. Recorded with the path 2.6.35
   * itself takes for that address, by this checker's own classification of
   * it (pcpu_addr_in_first_chunk tests unit 0's range of the first chunk; an
   * address there goes to __pa() when it is in the linear map and to
   * vmalloc_to_page() when the first chunk is vmalloc-mapped; any other
   * address to pcpu_addr_to_page()), and whether the address lies in a
   * first-chunk unit other than unit 0 (what the first-chunk issue needs).
   */
  physPath(cpu: Cpu, addr: number, path: number, pfn: number): void {
    const w = this.w, L = this.L;
    const x = this.kx(cpu);
    w[x + KX.PHYS_ADDR] = addr;
    w[x + KX.PHYS_PATH] = path;
    w[x + KX.PHYS_PFN] = pfn;
    const base = w[w[L.pc + PC.FIRST_CHUNK]! + C.BASE_ADDR]!;
    const unitSize = w[L.pc + PC.UNIT_SIZE]!;
    const inUnit0 = addr >= base && addr < base + unitSize;
    let miss = 0;
    for (let c = 0; c < L.nrEntities - 1 && !inUnit0; c++) {
      const start = base + w[L.unitOff + c]!;
      if (addr >= start && addr < start + unitSize) miss = 1;
    }
    w[x + KX.PHYS_FIRST_MISS] = miss;
    w[x + KX.PHYS_EXPECTED] = inUnit0 ? (addr < L.vmBase ? PHYS_LINEAR : PHYS_VMALLOC) : PHYS_CHUNK;
  }
}

/**
 * walk-escape, in both kernels: a failed scan during the walk of `slot` left
 * the chunk with no free block of 4 bytes (`largest`, recomputed from the map
 * by the kernel's own reading of it) and a hint under 4, and it really is on
 * pcpu_slot[0]'s list now (walked raw): recorded for this CPU's walk.
 */
export function recordWalkEscape(shm: Shm, cpu: Cpu, chunk: number, slot: number, largest: number): void {
  const w = shm.w;
  if (largest >= 4 || w[chunk + C.CONTIG_HINT]! >= 4 || slot === 0) return;
  const head0 = shm.L.slots;
  let on = false;
  for (let pos = w[head0]!, n = 0; pos !== head0 && n < 1 << 16 && !on; pos = w[pos]!, n++) on = pos === chunk;
  if (!on) return;
  const x = shm.L.known + cpu.id * KX.SIZE;
  w[x + KX.WALK_CHUNK] = chunk + 1;
  w[x + KX.WALK_SLOT] = slot;
}

/** Is `addr` in a page a recorded pcpu_map_pages failure left mapped? */
function unwindLeft(shm: Shm, addr: number): boolean {
  const { w, L } = shm;
  const pageSize = (shm.b.length - L.pageData) / L.nrPages;
  for (let i = 0; i < w[L.ck + CK.UNWIND_LEN]!; i++) {
    const at = L.unwind + i * UNWIND_WORDS;
    if (addr >= w[at]! && addr < w[at]! + w[at + 1]! * pageSize) return true;
  }
  return false;
}

/** Did percpu-km's no-op populate just hand out this very area on entity `entity`? */
export function kmHandedOutUncleared(shm: Shm, entity: number, ptr: number, size: number): boolean {
  const x = shm.L.known + entity * KX.SIZE;
  return shm.w[x + KX.KM_SIZE] === size && shm.w[x + KX.KM_PTR] === ptr;
}

/**
 * The known issue whose mechanism fired for this finding, or undefined.
 * Called as the report is made, on the reporting thread.
 */
export function attributeMechanism(shm: Shm, cpu: Cpu, v: Violation): string | undefined {
  const w = shm.w, L = shm.L;
  const x = L.known + cpu.id * KX.SIZE;
  const d = v.details ?? {};
  switch (v.kind) {
    case 'list-corruption':
      if (d.head === 0 && w[x + KX.WALK_CHUNK] !== 0 && w[x + KX.WALK_SLOT] === d.walkSlot) return 'walk-escape';
      return undefined;
    case 'uninitialized':
      return typeof d.ptr === 'number' && typeof d.size === 'number' && kmHandedOutUncleared(shm, cpu.id, d.ptr, d.size) ? 'km-unzeroed' : undefined;
    case 'lifecycle':
    case 'kernel-bug': {
      // a page mapped over (vmap_pte_range), or still mapped when its chunk's vm area is released
      if (typeof d.addr !== 'number' || !(v.title.includes('vmap_pte_range') || v.kind === 'lifecycle')) return undefined;
      return unwindLeft(shm, d.addr) ? 'map-pages-unwind' : undefined;
    }
    case 'spec': {
      if (d.check !== 'per_cpu_ptr_to_phys' || d.addr !== w[x + KX.PHYS_ADDR]) return undefined;
      const path = w[x + KX.PHYS_PATH], pfn = w[x + KX.PHYS_PFN]!;
      // only down the very path 2.6.35 takes for this address: a lookup that went another way is a new bug
      if (path !== w[x + KX.PHYS_EXPECTED]) return undefined;
      const pageSize = (shm.b.length - L.pageData) / L.nrPages;
      const truth = d.truth as number, got = d.got as number;
      // a page-based path (never __pa(), which keeps the offset) found the right page, and only the offset in it was dropped
      if ((path === PHYS_CHUNK || path === PHYS_VMALLOC) && pfn >= 0 && pfn === Math.floor(truth / pageSize) && got === pfn * pageSize) return 'ptr-to-phys-offset';
      // a first-chunk address of another unit than unit 0, taken down pcpu_addr_to_page, which found no page or the wrong one
      if (w[x + KX.PHYS_FIRST_MISS] === 1 && path === PHYS_CHUNK) return 'ptr-to-phys-first-chunk';
      return undefined;
    }
    default:
      return undefined;
  }
}

// ---- classification ------------------------------------------------------------------------

export interface Suppression {
  /** A violation kind, or 'known'. */
  kind: string;
  /** A function glob (kind entries) or a known issue id. */
  pattern: string;
  line: number;
}

/**
 * Does `s` match a glob of `*` and `?`? Without backtracking (a glob made a
 * regular expression backtracks exponentially in its stars): the pieces
 * between stars are matched in turn, each at the leftmost place it fits,
 * which is where any match could put it; at most length x pattern steps.
 */
export function globMatch(glob: string, s: string): boolean {
  const at = (p: string, i: number): boolean => {
    if (i < 0 || p.length > s.length - i) return false;
    for (let j = 0; j < p.length; j++) if (p[j] !== '?' && p[j] !== s[i + j]) return false;
    return true;
  };
  const parts = glob.split('*');
  if (parts.length === 1) return glob.length === s.length && at(glob, 0);
  const first = parts[0]!, last = parts[parts.length - 1]!;
  const end = s.length - last.length;
  if (end < first.length || !at(first, 0) || !at(last, end)) return false;
  let pos = first.length;
  for (const p of parts.slice(1, -1)) {
    let i = pos;
    while (i + p.length <= end && !at(p, i)) i++;
    if (i + p.length > end) return false;
    pos = i + p.length;
  }
  return true;
}

/**
 * Parse a suppressions file; a bad line is a UsageError naming it. `known`:
 * the known issue ids a known:<id> line may name (every kernel's; 2.6.35's
 * by default).
 */
export function parseSuppressions(text: string, name: string, known: readonly string[] = KNOWN_ISSUES.map((k) => k.id)): Suppression[] {
  const out: Suppression[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const m = /^([a-z-]+):(\S+)$/.exec(line);
    const where = `${name}:${i + 1}`;
    if (!m) throw new UsageError(`${where}: expected <kind>:<function-glob> or known:<id>, got ${JSON.stringify(line.slice(0, 60))}`);
    const [, kind, pattern] = m as unknown as [string, string, string];
    if (kind === 'known') {
      if (!known.includes(pattern)) throw new UsageError(`${where}: no known issue '${pattern.slice(0, 40)}' (known: ${[...new Set(known)].join(', ')})`);
      out.push({ kind, pattern, line: i + 1 });
    } else {
      if (!VIOLATION_KIND_SET.has(kind)) throw new UsageError(`${where}: unknown finding kind '${kind}'`);
      out.push({ kind, pattern, line: i + 1 });
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
 * The one verdict of every command. Marks each violation known (its
 * mechanism fired and nothing disproved it: `notKnown` unset) and/or
 * suppressed (a suppression covers it). Returns whether any violation still
 * counts (with --strict-known, known issues count unless suppressed).
 */
export function classify(violations: Violation[], o: ClassifyOptions = {}): boolean {
  let counting = false;
  for (const v of violations) {
    // a classification cut short (its fix-verification replay interrupted) decides nothing
    if (v.unclassified !== undefined) {
      delete v.known;
      continue;
    }
    if (v.mechanism !== undefined && v.notKnown === undefined) {
      v.known = v.mechanism;
      v.knownProof ??= 'mechanism';
    } else {
      delete v.known;
    }
    const sup = o.suppressions?.find((s) => (s.kind === 'known' ? v.known === s.pattern : s.kind === v.kind && functionsOf(v).some((f) => globMatch(s.pattern, f))));
    if (sup) v.suppressed = true;
    if (!v.suppressed && (v.known === undefined || o.strictKnown)) counting = true;
  }
  return counting;
}
