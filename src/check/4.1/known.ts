// Known issues of Linux 4.1, proven by their mechanism and their fix, as
// 2.6.35's are (src/check/known.ts): a finding is one of these only when the
// issue's mechanism fired for this very finding (the port calls the recorder
// below where the latent bug fires, and the report is attributed as it is
// made), and, in a controlled run, replaying the run with the fix switched
// on (src/percpu/4.1/later/) makes it go away.
//
// The list is what the harness found in the faithful port before anyone here
// read how later kernels changed these files (the judging campaigns of issue
// 27), matched afterwards with the commits that fixed them. Three have an
// upstream fix; five were never fixed in the area-map allocator (4.14
// replaced it), and their fix is this tool's.

import type { Shm } from '../../shm/layout.ts';
import { C, C41, PC, PC41 } from '../../percpu/records.ts';
import { CK, KX } from '../records.ts';
import { WK } from '../../workqueue/records.ts';
import { HEAP_ALLOC, HO } from '../../mm/records.ts';
import { LK } from '../../sync/records.ts';
import { Tag } from '../../mm/heap.ts';
import { Lock } from '../../sync/locks.ts';
import type { KnownIssue } from '../known.ts';
import { MechanismRecorder, attributeMechanism, recordWalkEscape } from '../known.ts';
import type { Violation } from '../../report/violation.ts';
import type { Cpu } from '../../sync/cpu.ts';
import type { Mechanism41Hooks } from '../../percpu/4.1/hooks.ts';

export const KNOWN_ISSUES_41: readonly KnownIssue[] = [
  {
    id: 'empty-pop-unlocked', kernel: '4.1', scenario: 'alloc-free-storm', kind: 'lock-discipline',
    what: 'pcpu_alloc subtracts the pages a new area occupies from pcpu_nr_empty_pop_pages after it dropped every lock, while free_percpu and ' +
      'pcpu_chunk_[de]populated update it under pcpu_lock ("protected by pcpu_lock", its own comment): an update is lost now and then, and the ' +
      'count drifts from the empty populated pages it counts',
    mechanism: 'pcpu_alloc stored pcpu_nr_empty_pop_pages with no lock held (the report is that store, a race with it, or a count that drifted ' +
      'in a run where such a store raced another update)',
    report: 'WARNING: suspicious percpu data access … write to pcpu_nr_empty_pop_pages without pcpu_lock; BUG: KCSAN: data-race in … pcpu_alloc; ' +
      'percpu: invariant violated at quiescence: empty-pop-pages',
    later: 'fixed in 4.11 by 320661b08dd6 "percpu: acquire pcpu_lock when updating pcpu_nr_empty_pop_pages" (fix nr-empty-locked; in 4.1.y by 4.1.52)',
  },
  {
    id: 'extend-vs-destroy', kernel: '4.1', scenario: 'balance-race', kind: 'use-after-free',
    what: 'a GFP_KERNEL pcpu_alloc extends a chunk\'s area map with pcpu_lock dropped and pcpu_alloc_mutex not held, so pcpu_balance_workfn can ' +
      'destroy that chunk meanwhile: pcpu_extend_area_map then takes pcpu_lock on a freed record, installs its new map in it (leaked, or written ' +
      'into the next chunk given the same memory) and frees the old map a second time',
    mechanism: 'pcpu_extend_area_map, called without pcpu_alloc_mutex, found (or the report was made while it held) a chunk record that was freed ' +
      'or given to another chunk since the extension started',
    report: 'BUG: KASAN: use-after-free in pcpu_extend_area_map; a double free of the old map; a leaked area map at quiescence',
    later: 'fixed in 4.7 by 6710e594f71c "percpu: fix synchronization between synchronous map extension and chunk destruction" (CVE-2016-4794; ' +
      'fix alloc-mutex-held; in 4.1.y by 4.1.36)',
  },
  {
    id: 'extend-work-freed', kernel: '4.1', scenario: 'atomic-exhaust', kind: 'debug-objects',
    what: 'pcpu_balance_workfn destroys fully free chunks without cancelling the map_extend_work each embeds: a chunk freed while an atomic ' +
      'allocation\'s extension request is queued leaves a freed work item on the worklist, which the worker would run (and whose list links ' +
      'the next allocation of that memory overwrites)',
    mechanism: 'pcpu_balance_workfn destroyed a chunk whose map_extend_work was queued or running, and the report is about that work item',
    report: 'ODEBUG: free active (active state 0) object type: work_struct hint: pcpu_map_extend_workfn',
    later: 'fixed in 4.7 by 4f996e234dad "percpu: fix synchronization between chunk->map_extend_work and chunk destruction" (CVE-2016-4794; ' +
      'fix map-extend-by-balance; in 4.1.y by 4.1.36)',
  },
  {
    id: 'align-not-pow2', kernel: '4.1', scenario: 'odd-requests', kind: 'spec',
    what: 'pcpu_alloc refuses an alignment over PAGE_SIZE but takes any other, and hands it to ALIGN(), whose mask arithmetic is meant for ' +
      'powers of two: an alignment of 6, 12 or 24 gives an offset that is no multiple of it, and the caller an area misaligned for what it asked',
    mechanism: 'the report is an area pcpu_alloc returned for an alignment that is not a power of two, aligned only to that alignment\'s ' +
      'largest power-of-two factor (what ALIGN()\'s mask gives)',
    report: 'percpu: pcpu_alloc returned an area misaligned for its request (align N), aligned to N\'s largest power-of-two factor',
    later: 'fixed in 4.10 by 3ca45a46f8af "percpu: ensure requested alignment is power of two" (fix align-power-of-two): such a request is ' +
      'refused with a WARN. The harness met it only once odd alignments were part of its program language (closing the gap the commit showed)',
  },
  {
    id: 'walk-escape', kernel: '4.1', scenario: 'tiny-sizes', kind: 'list-corruption',
    what: 'as in 2.6.35: a failed pcpu_alloc_area can leave contig_hint under 4 and move the walked chunk to slot 0 in the middle of pcpu_alloc\'s ' +
      'list_for_each_entry walk; the walk then follows slot 0\'s list and takes its head for a chunk',
    mechanism: 'a failed scan in the walk moved the walked chunk to slot 0, and its largest free area (recomputed from the offset map) is under 4 bytes',
    report: 'BUG: list walk in pcpu_alloc reached the head of pcpu_slot[0]',
    later: 'unchanged through 4.13; 4.14\'s bitmap allocator walks with list_for_each_entry_safe (fix walk-safe, this tool\'s)',
  },
  {
    id: 'head-before-map', kernel: '4.1', scenario: 'oom-atomic', kind: 'out-of-bounds',
    what: 'pcpu_alloc_area merges a head into "the area before" when it is small or that area is free, also at area 0, where there is none: it ' +
      'reads map[-1], the word before the map\'s allocation. An atomic allocation meets it when a chunk\'s first free area starts at 0 and its ' +
      'populated pages start later (pcpu_fit_in_area moves the candidate there)',
    mechanism: 'pcpu_alloc_area had a head before area 0 to merge, and the report is its read of map[-1] (or the map it broke)',
    report: 'BUG: KASAN: slab-out-of-bounds in pcpu_alloc_area (a read 4 bytes to the left of the map); percpu: invariant violated: map-sentry',
    later: 'unchanged through 4.13 (the area map allocator\'s last version); fix alloc-area-first-head, this tool\'s',
  },
  {
    id: 'map-pages-unwind', kernel: '4.1', scenario: 'oom', kind: 'kernel-bug',
    what: 'as in 2.6.35: when mapping fails part-way through a CPU, pcpu_map_pages unmaps only the CPUs before it; the failing CPU\'s pages mapped ' +
      'so far stay mapped while pcpu_populate_chunk frees them, and the next population of that range maps over live PTEs',
    mechanism: 'an allocation failure in pcpu_map_pages left the failing CPU\'s pages mapped, and the page mapped over is one of them',
    report: 'WARNING: at mm/vmalloc.c:vmap_pte_range() … mapping fails with -EBUSY',
    later: 'percpu-vm.c unchanged through 4.13; fix map-pages-unwind-all, this tool\'s',
  },
  {
    id: 'populate-fail-uncounted', kernel: '4.1', scenario: 'oom', kind: 'invariant',
    what: 'when a population fails, pcpu_alloc frees the area it found and does no accounting: neither the success path\'s subtraction of the ' +
      'pages pcpu_alloc_area counted as the area\'s nor the free\'s addition of those it leaves empty. Pages the area touched are then ' +
      'miscounted for good: a populated one only this area used is left empty uncounted; one it shared with an allocation made after it is ' +
      'counted as empty once populated, though in use, with nobody left to take it off',
    mechanism: 'a failed population freed an area (the path with no accounting), and the report is the count that went wrong',
    report: 'percpu: invariant violated at quiescence: empty-pop-pages (the count off the empty populated pages, either way)',
    later: 'unchanged through 4.13 (4.14\'s bitmap allocator counts under pcpu_lock as areas come and go); fix populate-fail-counted, this ' +
      'tool\'s, keeps the count that way (found by the harness in 4.1, not by reading later kernels)',
  },
  {
    id: 'km-populated-group', kernel: '4.1', scenario: 'atomic-km', kind: 'invariant',
    what: 'percpu-km\'s pcpu_create_chunk marks the group\'s pages populated, every unit\'s, in a bitmap and count of one unit\'s pages: with more ' +
      'than one unit, nr_populated and pcpu_nr_empty_pop_pages count nr_units times too many pages, and the bitmap is set past its unit (past ' +
      'its longs once the group outgrows them)',
    mechanism: 'percpu-km created a chunk marking more pages populated than a unit has',
    report: 'percpu: invariant violated: nr-populated (or BUG: KASAN: slab-out-of-bounds in bitmap_set)',
    later: 'percpu-km.c unchanged through 4.13 (later kernels pass the same count); fix km-populated-unit, this tool\'s',
  },
];

/**
 * The recorder of 4.1's mechanisms (one per thread). It reads the
 * allocator's state raw and writes only its own records: KX per entity, CK
 * for what a report on another thread (or at quiescence) needs. The
 * mechanisms 4.1 shares with 2.6.35's code (pcpu_map_pages' unwinding) are
 * 2.6.35's recorder's.
 */
export class Mechanism41Recorder implements Mechanism41Hooks {
  private readonly w: Int32Array;
  private readonly L: Shm['L'];
  private readonly shared: MechanismRecorder;

  constructor(readonly shm: Shm, private readonly pageShift: number) {
    this.w = shm.w;
    this.L = shm.L;
    this.shared = new MechanismRecorder(shm, pageShift);
  }

  private kx(cpu: Cpu): number {
    return this.L.known + cpu.id * KX.SIZE;
  }

  /** Forget the last run's records. */
  reset(): void {
    this.shared.reset();
    const ck = this.L.ck;
    for (const f of [CK.EMPTY_POP_LOST, CK.EXTEND_STALE, CK.HEAD0, CK.KM_OVER, CK.POPFAIL_LOST, CK.STALE_MAPS_LEN]) this.w[ck + f] = 0;
  }

  walkScanFailed(cpu: Cpu, chunk: number, slot: number): void {
    const w = this.w;
    // the largest free area, from the offset map itself (not the chunk's hint)
    const m = w[chunk + C.MAP]!, used = w[chunk + C.MAP_USED]!;
    let largest = 0;
    for (let i = 0; i < used; i++) {
      const off = w[m + i]!;
      if ((off & 1) === 0) largest = Math.max(largest, (w[m + i + 1]! & ~1) - off);
    }
    recordWalkEscape(this.shm, cpu, chunk, slot, largest);
  }

  walkDone(cpu: Cpu): void {
    const x = this.kx(cpu);
    this.w[x + KX.WALK_CHUNK] = 0;
    this.w[x + KX.EMPTY_POP_STORING] = 0;
  }

  emptyPopUnlocked(cpu: Cpu): void {
    const x = this.kx(cpu);
    this.w[x + KX.EMPTY_POP_STORING] = 1;
    Atomics.add(this.w, x + KX.EMPTY_POP_STORES, 1);
  }

  countStored(_cpu: Cpu, before: number, replaced: number): void {
    // another store landed between this one's read and its store: that update is lost
    if (replaced !== before) Atomics.add(this.w, this.L.ck + CK.EMPTY_POP_LOST, 1);
  }

  extendDecided(cpu: Cpu, chunk: number): void {
    const x = this.kx(cpu);
    this.w[x + KX.EXT_DECIDED] = chunk + 1;
    this.w[x + KX.EXT_SEQ] = this.w[chunk + C.SEQ]!;
    this.w[x + KX.EXT_NOMUTEX] = cpu.holds(Lock.pcpu_alloc_mutex) ? 0 : 1;
  }

  extendBegin(cpu: Cpu, chunk: number): void {
    const x = this.kx(cpu);
    // decided under pcpu_lock just before (the chunk as the caller saw it), or else as it is now
    if (this.w[x + KX.EXT_DECIDED] !== chunk + 1) this.extendDecided(cpu, chunk);
    this.w[x + KX.EXT_CHUNK] = chunk + 1;
  }

  extendLocked(cpu: Cpu, chunk: number): void {
    const x = this.kx(cpu);
    if (this.w[x + KX.EXT_NOMUTEX] !== 1 || !staleRecord(this.shm, x, chunk)) return;
    Atomics.add(this.w, this.L.ck + CK.EXTEND_STALE, 1);
    // the map it finds there: it will free it, and the balance work destroying the chunk may have or may yet
    const n = Atomics.add(this.w, this.L.ck + CK.STALE_MAPS_LEN, 1);
    this.w[this.L.ck + CK.STALE_MAPS + (n % (CK.STALE_MAPS_END - CK.STALE_MAPS))] = this.w[chunk + C.MAP]!;
  }

  extendDone(cpu: Cpu): void {
    this.w[this.kx(cpu) + KX.EXT_CHUNK] = 0;
    this.w[this.kx(cpu) + KX.EXT_DECIDED] = 0;
  }

  destroying(cpu: Cpu, chunk: number): void {
    const work = chunk + this.L.chunkX + C41.MAP_EXTEND_WORK;
    const busy = Atomics.load(this.w, work + WK.PENDING) !== 0 || Atomics.load(this.w, work + WK.RUNNING) !== 0;
    this.w[this.kx(cpu) + KX.DESTROY_WORK] = busy ? work : 0;
  }

  headBeforeMap(cpu: Cpu, chunk: number): void {
    this.w[this.kx(cpu) + KX.HEAD0_MAP] = this.w[chunk + C.MAP]!;
    Atomics.add(this.w, this.L.ck + CK.HEAD0, 1);
  }

  kmPopulated(_cpu: Cpu, _chunk: number, nrPages: number): void {
    if (nrPages > this.w[this.L.pc + PC.UNIT_PAGES]!) Atomics.add(this.w, this.L.ck + CK.KM_OVER, 1);
  }

  /**
   * A failed population freed an area with no accounting. That is exact when
   * the pages pcpu_alloc_area counted as the area's are those pcpu_free_area
   * counts (the skipped subtraction and the skipped addition cancel); the
   * count drifts when they differ (a neighbour came or went meanwhile).
   */
  populateFailFreed(_cpu: Cpu, _chunk: number, _off: number, _size: number, allocFirst: number, allocPages: number, freeFirst: number, freePages: number): void {
    if (allocPages === freePages && (allocPages === 0 || allocFirst === freeFirst)) return;
    Atomics.add(this.w, this.L.ck + CK.POPFAIL_LOST, 1);
  }

  mapPagesLeftMapped(cpu: Cpu, chunk: number, unitCpu: number, start: number, end: number, err: number): void {
    this.shared.mapPagesLeftMapped(cpu, chunk, unitCpu, start, end, err);
  }
}

function ck(shm: Shm, f: CK): number {
  return Atomics.load(shm.w, shm.L.ck + f);
}

/** A quiescence or chunk invariant: which 4.1 mechanism of this run explains it. */
function invariantIssue(shm: Shm, name: unknown): string | undefined {
  switch (name) {
    case 'empty-pop-pages':
      // percpu-km's overcount comes first: every km chunk adds nr_units - 1 units' pages too many
      if (ck(shm, CK.KM_OVER) > 0) return 'km-populated-group';
      if (ck(shm, CK.POPFAIL_LOST) > 0) return 'populate-fail-uncounted';
      return ck(shm, CK.EMPTY_POP_LOST) > 0 ? 'empty-pop-unlocked' : undefined;
    case 'nr-populated':
      return ck(shm, CK.KM_OVER) > 0 ? 'km-populated-group' : undefined;
    case 'map-sentry':
      return ck(shm, CK.HEAD0) > 0 ? 'head-before-map' : undefined;
    default:
      return undefined;
  }
}

/**
 * The 4.1 known issue whose mechanism fired for this finding, or undefined.
 * Called as the report is made, on the reporting thread.
 */
export function attributeMechanism41(shm: Shm, cpu: Cpu, v: Violation): string | undefined {
  const w = shm.w, L = shm.L;
  const x = L.known + cpu.id * KX.SIZE;
  const d = (v.details ?? {}) as Record<string, unknown>;
  const extChunk = w[x + KX.EXT_CHUNK]! - 1;
  // inside a synchronous extension without the mutex, of a record that is no longer its chunk
  const extStale = extChunk >= 0 && w[x + KX.EXT_NOMUTEX] === 1 && staleRecord(shm, x, extChunk);
  switch (v.kind) {
    case 'lock-discipline':
      return d.field === 'pcpu_nr_empty_pop_pages' && d.function === 'pcpu_alloc' && d.access === 'write' && w[x + KX.EMPTY_POP_STORING] === 1 ? 'empty-pop-unlocked' : undefined;
    case 'data-race': {
      if (d.field !== 'pcpu_nr_empty_pop_pages' || !Array.isArray(d.functions) || !Array.isArray(d.entities)) return undefined;
      // the side in pcpu_alloc must be an entity that made the unlocked store
      const i = (d.functions as unknown[]).indexOf('pcpu_alloc');
      const e = (d.entities as unknown[])[i];
      if (i < 0 || typeof e !== 'number' || e < 0 || e >= L.nrEntities || w[L.known + e * KX.SIZE + KX.EMPTY_POP_STORES]! === 0) return undefined;
      return 'empty-pop-unlocked';
    }
    case 'invariant':
      return invariantIssue(shm, d.invariant);
    case 'spec': {
      // an area misaligned for an alignment that is not a power of two, aligned to that alignment's largest
      // power-of-two factor (what ALIGN()'s mask gives): the report itself shows pcpu_alloc took the alignment
      const align = d.align, ptr = d.ptr;
      if (d.check !== 'alignment' || typeof align !== 'number' || typeof ptr !== 'number' || (align & (align - 1)) === 0) return undefined;
      return ptr % (align & -align) === 0 ? 'align-not-pow2' : undefined;
    }
    case 'out-of-bounds':
      if (d.offset === -4 && d.write === false && d.at === w[x + KX.HEAD0_MAP] && d.at !== 0) return 'head-before-map';
      if (d.field === 'pcpu_chunk.populated' && ck(shm, CK.KM_OVER) > 0) return 'km-populated-group';
      return extStale ? 'extend-vs-destroy' : undefined;
    case 'debug-objects':
      return d.function === 'pcpu_map_extend_workfn' && d.work === w[x + KX.DESTROY_WORK] && d.work !== 0 ? 'extend-work-freed' : undefined;
    case 'list-corruption':
      if (d.head === 0 && w[x + KX.WALK_CHUNK] !== 0 && w[x + KX.WALK_SLOT] === d.walkSlot) return 'walk-escape';
      return extStale ? 'extend-vs-destroy' : undefined;
    case 'kernel-bug':
    case 'lifecycle':
      // a page mapped over (vmap_pte_range), or still mapped when its chunk's vm area is released: 2.6.35's records and rule
      if (attributeMechanism(shm, cpu, v) === 'map-pages-unwind') return 'map-pages-unwind';
      return extStale ? 'extend-vs-destroy' : undefined;
    case 'use-after-free':
      // a map a stale extension found, freed by it and by the balance work (whichever came second reports it)
      if (typeof d.at === 'number' && staleMap(shm, d.at)) return 'extend-vs-destroy';
      return extStale ? 'extend-vs-destroy' : undefined;
    case 'page-fault':
      return extStale ? 'extend-vs-destroy' : undefined;
    default:
      return undefined;
  }
}

/** Is the record at `chunk` no longer the chunk the extension on entity x started on (freed, or another chunk's now)? */
function staleRecord(shm: Shm, x: number, chunk: number): boolean {
  const w = shm.w;
  // the first and the reserved chunk live in boot memory and are never destroyed
  if (chunk === w[shm.L.pc + PC.FIRST_CHUNK] || chunk === w[shm.L.pc + PC.RESERVED_CHUNK]) return false;
  const obj = chunk - HO.SIZE;
  const live = obj >= shm.L.heapArena && w[obj + HO.STATE] === HEAP_ALLOC && w[obj + HO.TAG_OR_NEXT] === Tag.CHUNK;
  if (!live || w[chunk + C.SEQ] !== w[x + KX.EXT_SEQ]) return true;
  // held privately by another entity: unlinked by the balance work to be destroyed (its map may be freed
  // already), or being created
  const owner = w[chunk + C.OWNER]!;
  return owner !== 0 && owner !== (x - shm.L.known) / KX.SIZE + 1;
}

/** Is `p` a map a stale extension found in its record? */
function staleMap(shm: Shm, p: number): boolean {
  const base = shm.L.ck + CK.STALE_MAPS, cap = CK.STALE_MAPS_END - CK.STALE_MAPS;
  const n = Math.min(Atomics.load(shm.w, shm.L.ck + CK.STALE_MAPS_LEN), cap);
  for (let i = 0; i < n; i++) if (shm.w[base + i] === p && p !== 0) return true;
  return false;
}

/** What the checks at quiescence report (no CPU made them): which 4.1 mechanism of this run explains it. */
export function attributeQuiescent41(shm: Shm, v: Violation): string | undefined {
  if (v.kind === 'invariant') return invariantIssue(shm, (v.details as { invariant?: unknown } | undefined)?.invariant);
  if (v.kind !== 'leak') return undefined;
  // a stale extension's map, installed in a record that was no longer its chunk, is left over: the leak must be
  // that alone (the heap's surplus, and nothing else wrong), and no bigger than the stale extensions were
  const problems = v.text.split('\n').filter((l) => l.startsWith(' '));
  const m = /^ heap holds (\d+) objects \(.*\), the remaining chunks account for (\d+) /.exec(problems[0] ?? '');
  if (problems.length !== 1 || !m) return undefined;
  const surplus = Number(m[1]) - Number(m[2]);
  return surplus >= 1 && surplus <= ck(shm, CK.EXTEND_STALE) ? 'extend-vs-destroy' : undefined;
}
