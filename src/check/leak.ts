// The leak check at quiescence: after every CPU freed what it held and the
// reclaim work was flushed, only the first chunk and at most one fully free
// chunk may remain (unless the kernel's reclaim rule never asked for more),
// nothing may be allocated, the heap and the page pool must hold exactly what
// the remaining chunks account for, and no work may be pending.

import { C, PC } from '../percpu/records.ts';
import { heapStats } from '../mm/heap.ts';
import { pagesUsed } from '../mm/pages.ts';
import { vmSlotsUsed } from '../mm/vm.ts';
import { PCPU_DFL_MAP_ALLOC } from '../percpu/2.6.35/area-map.ts';
import { WORK_RECLAIM } from '../workqueue/workqueue.ts';
import type { CheckTarget } from './target.ts';

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v; v &= v - 1) n++;
  return n;
}

/**
 * `judged`: the checks were on, so a reclaim request counts as served only by
 * a run the specification saw do its job (src/check/progress.ts), not by one
 * that merely started.
 */
export function leakCheck(k: CheckTarget, notes?: string[], judged = true): string[] {
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
  const freeOf = (c: number): number => w[c + C.FREE_SIZE]!;
  const seqOf = (c: number): number => w[c + C.SEQ]!;
  const notFree = dynamic.filter((c) => freeOf(c) !== unitSize);
  if (notFree.length) {
    problems.push(`${notFree.length} chunk(s) still hold allocations: ${notFree.map((c) => `chunk ${seqOf(c)} (${unitSize - freeOf(c)} bytes)`).join(', ')}`);
  } else if (dynamic.length > 1) {
    // 2.6.35 reclaims only when a free empties a second chunk: a chunk emptied
    // by the allocation path itself (populate failed, or a racing free made
    // room elsewhere first) waits for the next free. Extra empty chunks are a
    // leak when a reclaim request is outstanding: schedule_work was called and
    // no run of the work that did its job (checks on) or that started (checks
    // off) came after it.
    const reclaim = k.wq.work(WORK_RECLAIM);
    const unserved = judged ? k.wq.unjudged(reclaim) : k.wq.unserved(reclaim);
    const list = `chunks ${dynamic.map(seqOf).join(', ')}`;
    if (unserved > 0) {
      const started = k.wq.unserved(reclaim) < unserved;
      problems.push(`${dynamic.length} fully free chunks left (${list}) although reclaim was requested: ${unserved} schedule_work call(s) never followed by a run of the work${started ? ' that did its job (runs started, and returned without reclaiming)' : ''}`);
    }
    else notes?.push(`${dynamic.length} fully free chunks left (${list}), emptied by the allocation path; no reclaim was requested`);
  }
  const cur = w[L.pc + PC.NR_CUR_ALLOC]!;
  if (cur !== 0) problems.push(`nr_cur_alloc is ${cur} after everything was freed`);

  let objects = (w[L.pc + PC.TEMP_PAGES] ? 1 : 0) + (w[L.pc + PC.TEMP_BITMAP] ? 1 : 0) + dynamic.length * 2;
  // (with a reserved area and no dynamic one, the first chunk is the reserved chunk)
  for (const c of new Set([first, w[L.pc + PC.RESERVED_CHUNK]!])) if (c && w[c + C.MAP_ALLOC]! >= PCPU_DFL_MAP_ALLOC) objects++;
  const heap = heapStats(st.shm).objects;
  if (heap !== objects) problems.push(`heap holds ${heap} objects, the remaining chunks account for ${objects}`);

  let pages = 0;
  if (k.spec.cfg.backend === 'vm') {
    for (const c of dynamic) for (let i = 0; i < st.L.bitmapWords; i++) pages += popcount(w[c + C.POPULATED + i]!) * st.nrCpus;
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
  if (k.wq.pending(k.wq.work(WORK_RECLAIM))) problems.push('the reclaim work is still pending');
  return problems;
}
