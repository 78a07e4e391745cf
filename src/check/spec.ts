// Specification checks: did the allocator do what 2.6.35 does?
//
// The invariant checker proves the index consistent; these prove the policy.
// Each check is a short restatement of the 2.6.35 rule, written from the
// rule and not from the code it checks, and runs at the moment the rule
// applies, with pcpu_lock held where the rule talks about the index:
//
//   first-fit       pcpu_alloc_area takes the first block that holds the
//                   aligned request (map[i] >= head + size), nothing else,
//                   and leaves the map, free_size and contig_hint as 2.6.35
//                   does (a small head joins the block before it, a tail
//                   under 4 bytes stays inside the area, contig_hint is the
//                   largest block seen when the scan reached the end);
//   no-needless-chunk  a new chunk is made only when no chunk on a walked
//                   slot list with contig_hint >= size had such a block;
//   relocation      a chunk whose slot goes up is put at the head of its new
//                   list, one going down at the tail, one staying is not moved;
//                   a new chunk starts at the head of its list;
//   merge           a freed area is merged with its free neighbours, and
//                   free_size and contig_hint follow;
//   reclaim-request a free that leaves its chunk fully free requests reclaim
//                   exactly when another fully free chunk is on the last list;
//   reclaim-set     pcpu_reclaim destroys every chunk on the last slot list
//                   except the first one, and only those;
//   warn-limit      allocation failures print the first 10 warnings and then
//                   stop (exactly in controlled runs; free-running CPUs race on
//                   warn_limit as the kernel's do, which bounds it only below).
//
// Reads here are raw: they are the checker's, not the allocator's, and must
// not feed the race detector.

import type { Shm } from '../shm/layout.ts';
import { C } from '../percpu/records.ts';
import { X } from '../sync/records.ts';
import { CK } from './records.ts';
import type { Cpu } from '../sync/cpu.ts';
import type { PcpuState } from '../percpu/chunk.ts';
import type { SpecHooks } from '../percpu/hooks.ts';
import { WARN_LIMIT } from '../percpu/2.6.35/core.ts';
import type { WorkProgress } from './progress.ts';

export type SpecCheck = 'first-fit' | 'no-needless-chunk' | 'relocation' | 'merge' | 'reclaim-request' | 'reclaim-set' | 'warn-limit';

export const SPEC_CHECKS: readonly SpecCheck[] = ['first-fit', 'no-needless-chunk', 'relocation', 'merge', 'reclaim-request', 'reclaim-set', 'warn-limit'];

const INT_SIZE = 4;

function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

/** d[to..to+n) = w[from..from+n): the untouched rest of a map, four words a step (the model's and the compare's loops run over every entry of every operation). */
function copyIn(d: Int32Array, to: number, w: Int32Array, from: number, n: number): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    d[to + i] = w[from + i]!;
    d[to + i + 1] = w[from + i + 1]!;
    d[to + i + 2] = w[from + i + 2]!;
    d[to + i + 3] = w[from + i + 3]!;
  }
  for (; i < n; i++) d[to + i] = w[from + i]!;
}

export class SpecChecker implements SpecHooks {
  private readonly w: Int32Array;
  private readonly st: PcpuState;
  private readonly shm: Shm;
  private readonly reported = new Set<SpecCheck>();
  // state captured before an area operation (no scheduling point in between)
  private expectOff = -1;
  private oslot = 0;
  private oprev = 0;
  private onext = 0;
  private workReqs = 0;
  private readonly reclaimExpect: number[] = [];
  // the model of the area map: the map before an operation, and what 2.6.35 makes of it
  private model = new Int32Array(64);
  private modelLen = 0;
  /** beforeFree found an allocated area at the offset (and modelled its free). */
  private freeModelled = false;
  private oFree = 0;
  private oContig = 0;
  private mFree = 0;
  private mContig = 0;

  /** Told when a run of the reclaim work did its job (checks on), or null. */
  progress: WorkProgress | null = null;

  constructor(k: { st: PcpuState; shm: Shm }) {
    this.st = k.st;
    this.shm = k.shm;
    this.w = k.shm.w;
  }

  reset(): void {
    this.reported.clear();
  }

  // ---- the rules, restated ---------------------------------------------------
  /** The slot 2.6.35 files a chunk under, from its free size and contig hint. */
  private slotOf(c: number): number {
    const free = this.w[c + C.FREE_SIZE]!, contig = this.w[c + C.CONTIG_HINT]!;
    if (free < INT_SIZE || contig < INT_SIZE) return 0;
    if (free === this.st.unitSize) return this.st.nrSlots - 1;
    return Math.max(fls(free) - 5 + 2, 1);
  }

  private firstSlotFor(size: number): number {
    return size === this.st.unitSize ? this.st.nrSlots - 1 : Math.max(fls(size) - 5 + 2, 1);
  }

  /** First fit: the offset 2.6.35 returns for (size, align) in chunk c, or -1. */
  firstFit(c: number, size: number, align: number): number {
    const w = this.w, m = w[c + C.MAP]!, used = w[c + C.MAP_USED]!;
    for (let i = 0, off = 0; i < used; i++) {
      const e = w[m + i]!;
      if (e > 0) {
        const head = ((off + align - 1) & ~(align - 1)) - off;
        if (e >= head + size) return off + head;
      }
      off += e < 0 ? -e : e;
    }
    return -1;
  }

  // ---- the area map, restated on a copy --------------------------------------
  // The model is the map 2.6.35 leaves, built from the chunk's map before the
  // call in one pass: each entry is copied as the rules scan it, the entries
  // the operation rewrites are written from the rules, and the rest of the
  // map is copied after them (shifted by the entries a split adds or a merge
  // removes). After the call the chunk's whole map is compared with it.
  /** Start a model of chunk c: room for its map and what a split adds, and its free_size and contig_hint before the call. */
  private begin(c: number, n: number): Int32Array {
    this.oFree = this.w[c + C.FREE_SIZE]!;
    this.oContig = this.w[c + C.CONTIG_HINT]!;
    if (this.model.length < n + 2) this.model = new Int32Array(n * 2 + 2);
    return this.model;
  }

  /** pcpu_alloc_area's effect, from the rules: the offset (or -1); the model holds the map after it. */
  private modelAlloc(c: number, size: number, align: number): number {
    const w = this.w, m = w[c + C.MAP]!, n = w[c + C.MAP_USED]!;
    const d = this.begin(c, n);
    this.mFree = this.oFree;
    let max = 0;
    for (let i = 0, off = 0; i < n; i++) {
      const cur = w[m + i]!;
      d[i] = cur;
      if (cur < 0) {
        off -= cur;
        continue;
      }
      let head = ((off + align - 1) & ~(align - 1)) - off;
      if (cur < head + size) {
        max = Math.max(cur, max);
        off += cur;
        continue;
      }
      // the first fit: d[0..i] hold the map up to it
      let blk = cur;
      let start = off;
      // a head under 4 bytes, or next to a free block, joins the block before it
      if (head && (head < INT_SIZE || d[i - 1]! > 0)) {
        if (d[i - 1]! > 0) d[i - 1] = d[i - 1]! + head;
        else {
          d[i - 1] = d[i - 1]! - head;
          this.mFree -= head;
        }
        blk -= head;
        start += head;
        head = 0;
      }
      // a tail under 4 bytes stays inside the area
      let tail = blk - head - size;
      if (tail < INT_SIZE) tail = 0;
      let at = i;
      if (head) {
        d[at++] = head;
        blk -= head;
        start += head;
        max = Math.max(head, max);
      }
      if (tail) {
        blk -= tail;
        max = Math.max(tail, max);
      }
      d[at] = -blk;
      this.mFree -= blk;
      if (tail) d[++at] = tail;
      copyIn(d, at + 1, w, m + i + 1, n - i - 1);
      this.modelLen = n + at - i;
      this.mContig = i + 1 === n ? max : Math.max(this.oContig, max);
      return start;
    }
    this.modelLen = n;
    this.mContig = max;
    return -1;
  }

  /** pcpu_free_area's effect, from the rules; false when `off` starts no allocated area (no model then). */
  private modelFree(c: number, off: number): boolean {
    const w = this.w, m = w[c + C.MAP]!, n = w[c + C.MAP_USED]!;
    const d = this.begin(c, n);
    let i = 0;
    for (let at = 0; i < n && at !== off; i++) {
      const e = w[m + i]!;
      d[i] = e;
      at += e < 0 ? -e : e;
    }
    const area = i < n ? w[m + i]! : 0;
    if (area >= 0) return false;
    let blk = -area;
    this.mFree = this.oFree + blk;
    // merged with a free block on either side
    let k = i;
    if (i > 0 && d[i - 1]! >= 0) blk += d[--k]!;
    let j = i + 1;
    if (j < n && w[m + j]! >= 0) blk += w[m + j++]!;
    d[k] = blk;
    this.modelLen = k + 1 + n - j;
    copyIn(d, k + 1, w, m + j, n - j);
    this.mContig = Math.max(blk, this.oContig);
    return true;
  }

  /** The first map index where the chunk and the model differ: -1 when the maps agree. */
  private firstDiff(c: number): number {
    const w = this.w, m = w[c + C.MAP]!, used = w[c + C.MAP_USED]!, n = this.modelLen;
    const d = this.model, e = Math.min(used, n);
    let i = 0;
    for (; i + 4 <= e; i += 4) {
      const p = m + i;
      if (w[p] !== d[i] || w[p + 1] !== d[i + 1] || w[p + 2] !== d[i + 2] || w[p + 3] !== d[i + 3]) break;
    }
    for (; i < e; i++) if (w[m + i] !== d[i]) return i;
    return used === n ? -1 : e;
  }

  /** How the chunk's map, free_size and contig_hint differ from the model ('' when they do not). */
  private diffModel(c: number): string {
    const first = this.firstDiff(c);
    const w = this.w;
    if (first < 0 && w[c + C.FREE_SIZE] === this.mFree && w[c + C.CONTIG_HINT] === this.mContig) return '';
    return this.describeDiff(c, first);
  }

  private describeDiff(c: number, first: number): string {
    const w = this.w, m = w[c + C.MAP]!, used = w[c + C.MAP_USED]!;
    const got: string[] = [];
    if (first >= 0) {
      const from = Math.max(0, first - 2);
      const show = (xs: ArrayLike<number>, n: number): string => Array.from({ length: Math.min(n, first + 3) - from }, (_, k) => xs[from + k]).join(', ');
      got.push(`map[${from}..]: 2.6.35 gives [${show(this.model, this.modelLen)}] (${this.modelLen} entries), the chunk has [${show(w.subarray(m, m + used), used)}] (${used} entries)`);
    }
    if (w[c + C.FREE_SIZE] !== this.mFree) got.push(`free_size ${w[c + C.FREE_SIZE]}, 2.6.35 gives ${this.mFree}`);
    if (w[c + C.CONTIG_HINT] !== this.mContig) got.push(`contig_hint ${w[c + C.CONTIG_HINT]}, 2.6.35 gives ${this.mContig}`);
    return got.join('; ');
  }

  private fail(cpu: Cpu, check: SpecCheck, what: string): void {
    if (this.reported.has(check)) return;
    this.reported.add(check);
    cpu.report('spec', `percpu: ${check}: the allocator departs from 2.6.35`, what, false, { check });
  }

  private chunkName(c: number): string {
    return c === this.st.firstChunk ? 'the first chunk' : c === this.st.reservedChunk ? 'the reserved chunk' : `chunk #${this.w[c + C.SEQ]}`;
  }

  private capturePlace(c: number): void {
    this.oslot = this.slotOf(c);
    this.oprev = this.w[c + 1]!;
    this.onext = this.w[c]!;
  }

  /** Where the chunk must be after an index change that started at oslot. */
  private checkPlace(cpu: Cpu, c: number, fn: string, oslot: number): void {
    const w = this.w;
    if (c === this.st.reservedChunk) {
      if (w[c] !== c) this.fail(cpu, 'relocation', `${fn}: the reserved chunk was put on a slot list; it is never on one`);
      return;
    }
    const nslot = this.slotOf(c);
    const head = this.st.L.slots + nslot * 2;
    let ok: boolean, where: string;
    if (oslot < 0 || nslot > oslot) {
      ok = w[head] === c;
      where = `at the head of pcpu_slot[${nslot}]`;
    } else if (nslot < oslot) {
      ok = w[head + 1] === c;
      where = `at the tail of pcpu_slot[${nslot}]`;
    } else {
      ok = w[c] === this.onext && w[c + 1] === this.oprev;
      where = `where it was (its slot, ${nslot}, did not change)`;
    }
    if (!ok) {
      this.fail(cpu, 'relocation', `${fn}: ${this.chunkName(c)} (free_size ${w[c + C.FREE_SIZE]}, contig_hint ${w[c + C.CONTIG_HINT]}) moved from slot ${oslot} and must be ${where}; ` +
        'pcpu_chunk_relocate puts a chunk moving up at the head of its new list and one moving down at the tail');
    }
  }

  // ---- hooks (pcpu_lock held) ------------------------------------------------
  beforeAlloc(_cpu: Cpu, c: number, size: number, align: number): void {
    this.expectOff = this.modelAlloc(c, size, align);
    this.capturePlace(c);
  }

  afterAlloc(cpu: Cpu, c: number, size: number, align: number, off: number): void {
    if (off !== this.expectOff) {
      this.fail(cpu, 'first-fit', `pcpu_alloc_area(${this.chunkName(c)}, size ${size}, align ${align}) returned ${off}; ` +
        `first fit in the map before the call gives ${this.expectOff} (the first free block with map[i] >= head + size)`);
    } else {
      const diff = this.diffModel(c);
      if (diff) this.fail(cpu, 'first-fit', `pcpu_alloc_area(${this.chunkName(c)}, size ${size}, align ${align}) returned ${off} as 2.6.35 does, but left the chunk unlike it: ${diff}`);
    }
    this.checkPlace(cpu, c, 'pcpu_alloc_area', this.oslot);
  }

  beforeFree(_cpu: Cpu, c: number, off: number): void {
    this.freeModelled = this.modelFree(c, off);
    this.capturePlace(c);
  }

  afterFree(cpu: Cpu, c: number, off: number): void {
    if (this.freeModelled) {
      // the whole map against the model: merged as 2.6.35 merges, nothing else changed
      const diff = this.diffModel(c);
      if (diff) this.fail(cpu, 'merge', `pcpu_free_area(${this.chunkName(c)}, ${off}) left the chunk unlike 2.6.35: ${diff}`);
      this.checkPlace(cpu, c, 'pcpu_free_area', this.oslot);
      return;
    }
    // off started no allocated area before the call: what the map holds there now
    const w = this.w, m = w[c + C.MAP]!, used = w[c + C.MAP_USED]!;
    let i = 0, at = 0;
    for (; i < used; i++) {
      const e = w[m + i]!, len = e < 0 ? -e : e;
      if (off < at + len) break;
      at += len;
    }
    if (i >= used || w[m + i]! <= 0 || (i > 0 && w[m + i - 1]! > 0) || (i + 1 < used && w[m + i + 1]! > 0)) {
      this.fail(cpu, 'merge', `pcpu_free_area(${this.chunkName(c)}, ${off}): the freed block must be free and merged with free neighbours; ` +
        `map around it: [${Array.from(w.subarray(m + Math.max(0, i - 1), m + Math.min(used, i + 2))).join(', ')}]`);
    }
    this.checkPlace(cpu, c, 'pcpu_free_area', this.oslot);
  }

  /** The slot walk found nothing: no chunk the walk visits may have been able to serve. */
  noChunkFits(cpu: Cpu, size: number, align: number): void {
    const st = this.st, w = this.w;
    for (let s = this.firstSlotFor(size); s < st.nrSlots; s++) {
      const head = st.L.slots + s * 2;
      let guard = st.L.vmSlots * 2 + 8;
      for (let c = w[head]!; c !== head && --guard > 0; c = w[c]!) {
        if (w[c + C.CONTIG_HINT]! < size) continue; // the kernel skips it, rightly or not
        const off = this.firstFit(c, size, align);
        if (off >= 0) {
          this.fail(cpu, 'no-needless-chunk', `pcpu_alloc(size ${size}, align ${align}) creates a new chunk although ${this.chunkName(c)} on pcpu_slot[${s}] ` +
            `(contig_hint ${w[c + C.CONTIG_HINT]}) has room at offset ${off}`);
          return;
        }
      }
    }
  }

  chunkCreated(cpu: Cpu, c: number): void {
    this.checkPlace(cpu, c, 'pcpu_alloc (new chunk)', -1);
  }

  freeBegin(cpu: Cpu): void {
    this.workReqs = this.w[cpu.x + X.WORK_REQS]!;
  }

  /** pcpu_lock still held: did this free request reclaim exactly when 2.6.35 does? */
  freeEnd(cpu: Cpu, c: number): void {
    const st = this.st, w = this.w;
    let want = false;
    if (w[c + C.FREE_SIZE] === st.unitSize) {
      const head = st.L.slots + (st.nrSlots - 1) * 2;
      let guard = st.L.vmSlots * 2 + 8;
      for (let p = w[head]!; p !== head && --guard > 0; p = w[p]!) {
        if (p !== c) {
          want = true;
          break;
        }
      }
    }
    const did = w[cpu.x + X.WORK_REQS]! !== this.workReqs;
    if (want !== did) {
      this.fail(cpu, 'reclaim-request', want
        ? `free_percpu left ${this.chunkName(c)} fully free while another fully free chunk is on pcpu_slot[${st.nrSlots - 1}], and did not schedule pcpu_reclaim_work`
        : `free_percpu scheduled pcpu_reclaim_work although ${w[c + C.FREE_SIZE] === st.unitSize ? 'no other fully free chunk is on the last slot list' : `${this.chunkName(c)} is not fully free`}`);
    }
  }

  /** Both locks held at the start of pcpu_reclaim: what 2.6.35 will destroy. */
  reclaimBegin(): void {
    const st = this.st, w = this.w;
    this.reclaimExpect.length = 0;
    const head = st.L.slots + (st.nrSlots - 1) * 2;
    let guard = st.L.vmSlots * 2 + 8;
    const first = w[head]!;
    if (first === head) return;
    for (let p = w[first]!; p !== head && --guard > 0; p = w[p]!) this.reclaimExpect.push(w[p + C.SEQ]!);
  }

  reclaimEnd(cpu: Cpu, destroyed: readonly number[]): void {
    // the run looked at the last slot list under both locks: whatever it destroyed is judged below
    this.progress?.judged();
    const want = this.reclaimExpect.slice().sort((a, b) => a - b);
    const got = destroyed.slice().sort((a, b) => a - b);
    if (want.length !== got.length || want.some((v, i) => v !== got[i])) {
      this.fail(cpu, 'reclaim-set', `pcpu_reclaim destroyed chunks [${got.map((s) => `#${s}`).join(', ')}]; 2.6.35 destroys every chunk on the last slot list but the first: ` +
        `[${want.map((s) => `#${s}`).join(', ')}]`);
    }
  }

  allocFailed(): void {
    Atomics.add(this.w, this.shm.L.ck + CK.ALLOC_FAILS, 1);
  }
}

/**
 * warn-limit at the end of a run: the failures that count against
 * warn_limit and the warnings printed. Returns the complaint or ''.
 *
 * Controlled runs print exactly the first 10. Free-running CPUs race on
 * warn_limit, as the kernel's do, and that race has no upper bound: a CPU
 * that read warn_limit and is preempted before its write puts back a stale,
 * higher count (in 2.6.35 the second read of `--warn_limit` can even take it
 * below zero, which keeps printing). What holds everywhere is that reaching
 * 0 takes ten printing failures, one per count from 10 down, and that a
 * failure prints at most once: so free-running, the first min(fails, 10)
 * and at most one per failure.
 */
export function warnLimitProblem(shm: Shm, exact: boolean): string {
  const w = shm.w, h = shm.L.ck;
  const fails = w[h + CK.ALLOC_FAILS]!, warns = w[h + CK.FAIL_WARNS]!;
  const want = Math.min(fails, WARN_LIMIT);
  if (exact ? warns === want : warns >= want && warns <= fails) return '';
  return `${fails} allocation${fails === 1 ? '' : 's'} failed and ${warns} "PERCPU: allocation failed" warning${warns === 1 ? ' was' : 's were'} printed; ` +
    `2.6.35 prints the first ${WARN_LIMIT} and then "limit reached, disable warning"` +
    (exact ? '' : ' (free-running CPUs race on warn_limit, so more may print, but never fewer than the first ten nor more than one per failure)');
}
