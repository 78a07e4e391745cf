// The leak and progress check of a 4.1 machine at quiescence: after every
// CPU freed what it held and the queued work ran, nothing may be allocated;
// the balance work must have served every request for it (a request no run
// followed is a lost wakeup: the promise of at most one fully free chunk and
// of refilled empty pages is the balance work's, and a lost run keeps
// neither); no work item may still be queued; and the heap, the page pool
// and the vm areas must hold exactly what the remaining chunks account for.

import { C, C41, PC } from '../../percpu/records.ts';
import { heapLiveByTag, heapStats } from '../../mm/heap.ts';
import { pagesUsed } from '../../mm/pages.ts';
import { vmSlotsUsed } from '../../mm/vm.ts';
import { WORK_BALANCE } from '../../workqueue/workqueue.ts';
import type { CheckTarget } from '../target.ts';

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v; v &= v - 1) n++;
  return n;
}

export function leakCheck41(k: CheckTarget, notes?: string[]): string[] {
  const st = k.st;
  const w = st.w, L = st.L;
  const problems: string[] = [];
  const dynamic: number[] = [];
  // the lists walked raw: the checker's reads are not the allocator's
  const first = w[L.pc + PC.FIRST_CHUNK]!, unitSize = w[L.pc + PC.UNIT_SIZE]!;
  for (let s = 0; s < w[L.pc + PC.NR_SLOTS]!; s++) {
    const head = L.slots + s * 2;
    for (let pos = w[head]!, n = 0; pos !== head && n < 1 << 16; pos = w[pos]!, n++) {
      if (pos !== first) dynamic.push(pos);
    }
  }
  const seqOf = (c: number): number => w[c + C.SEQ]!;
  const notFree = dynamic.filter((c) => w[c + C.FREE_SIZE] !== unitSize);
  if (notFree.length) {
    problems.push(`${notFree.length} chunk(s) still hold allocations: ${notFree.map((c) => `chunk ${seqOf(c)} (${unitSize - w[c + C.FREE_SIZE]!} bytes)`).join(', ')}`);
  }
  const balance = k.wq.work(WORK_BALANCE);
  const unserved = k.wq.unserved(balance);
  if (unserved > 0) problems.push(`the balance work was requested ${unserved} time(s) with no run of it started afterwards: what it promises (one fully free chunk at most, empty populated pages for atomic allocations) was never done`);
  else if (!notFree.length && dynamic.length > 1) notes?.push(`${dynamic.length} fully free chunks left (chunks ${dynamic.map(seqOf).join(', ')}), which no request for the balance work asked to free`);
  const cur = w[L.pc + PC.NR_CUR_ALLOC]!;
  if (cur !== 0) problems.push(`nr_cur_alloc is ${cur} after everything was freed`);
  if (k.wq.queued()) problems.push(`work is still queued: ${k.wq.describe()}`);

  // the heap: the temp pages array, the first (and reserved) chunk's kmalloc'ed maps, a record and a map per chunk
  const reserved = w[L.pc + PC.RESERVED_CHUNK]!;
  const objects = (w[L.pc + PC.TEMP_PAGES] ? 1 : 0) + (reserved && reserved !== first ? 2 : 1) + dynamic.length * 2;
  const heap = heapStats(st.shm).objects;
  if (heap !== objects) {
    const live = Object.entries(heapLiveByTag(st.shm)).map(([t, n]) => `${n} ${t}`).join(', ');
    problems.push(`heap holds ${heap} objects (${live}), the remaining chunks account for ${objects} (the temp pages array, the first chunk's maps, a record and a map per chunk)`);
  }

  let pages = 0;
  if (k.spec.cfg.backend === 'vm') {
    for (const c of dynamic) for (let i = 0; i < L.bitmapWords; i++) pages += popcount(w[c + C.POPULATED + i]!) * st.nrCpus;
  } else {
    const nr = st.groupSize(0) >>> st.pageShift;
    pages = dynamic.length * (1 << (32 - Math.clz32(Math.max(nr - 1, 0))));
  }
  const used = pagesUsed(st.shm);
  if (used !== pages) problems.push(`page pool has ${used} pages allocated, the remaining chunks account for ${pages}`);
  if (k.spec.cfg.backend === 'vm') {
    const slots = vmSlotsUsed(st.shm) - (k.spec.cfg.firstChunk === 'page' ? 1 : 0);
    if (slots !== dynamic.length) problems.push(`${slots} vm areas reserved for ${dynamic.length} chunks`);
  }
  // every chunk's map extension work that was requested ran
  for (const c of [...dynamic, first, reserved]) {
    if (!c) continue;
    const work = c + L.chunkX + C41.MAP_EXTEND_WORK;
    if (k.wq.pending(work)) problems.push(`chunk ${seqOf(c)}'s map extension work is still pending`);
  }
  return problems;
}
