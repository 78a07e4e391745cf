// The first chunk (2.6.35): placed as both kernels place it
// (src/percpu/first-chunk.ts), then pcpu_setup_first_chunk builds the static
// chunk (static + reserved area, or static + dynamic area when there is no
// reserved area) and, with a reserved area, a second chunk over the same
// memory for the dynamic area. Both are immutable, fully populated, use
// 2-entry static maps and are never freed.
//
// CONTEXT: boot, on the main thread, before any CPU runs.

import { C, PC } from '../records.ts';
import type { Config } from '../../shm/config.ts';
import { verifyAllocInfo, type AllocInfo } from '../alloc-info.ts';
import { chunkRelocate } from './area-map.ts';
import { setBit, type PcpuState } from '../chunk.ts';
import { placeFirstChunk } from '../first-chunk.ts';
import { bootmemAlloc } from '../../mm/heap.ts';

export { staticByte } from '../first-chunk.ts';

/**
 * Place the first chunk and set the allocator up. Returns the boot log
 * lines in the kernel's order: the PERCPU: line, then the pcpu-alloc dump.
 */
export function setupFirstChunk(st: PcpuState, cfg: Config, ai: AllocInfo): string[] {
  const { shm, w, h, L } = st; // h: the allocator's header block
  verifyAllocInfo(cfg, ai);
  const { base, log } = placeFirstChunk(st, cfg, ai);

  // the static chunk: static + reserved (or + dynamic) area
  const chunkWords = L.chunkWords;
  const newChunk = (seq: number): number => {
    const c = bootmemAlloc(shm, chunkWords);
    w.fill(0, c, c + chunkWords);
    st.initListHead(c);
    w[c + C.BASE_ADDR] = base;
    w[c + C.MAP] = bootmemAlloc(shm, 2);
    w[c + C.MAP_ALLOC] = 2;
    w[c + C.IMMUTABLE] = 1;
    w[c + C.SEQ] = seq;
    for (let p = 0; p < st.unitPages; p++) setBit(w, c + C.POPULATED, p, true);
    return c;
  };
  const push = (c: number, v: number): void => {
    w[w[c + C.MAP]! + w[c + C.MAP_USED]!] = v;
    w[c + C.MAP_USED]!++;
  };
  let dyn = ai.dynSize;
  const schunk = newChunk(0);
  if (ai.reservedSize) {
    w[schunk + C.FREE_SIZE] = ai.reservedSize;
    w[h + PC.RESERVED_CHUNK] = schunk;
    w[h + PC.RESERVED_LIMIT] = ai.staticSize + ai.reservedSize;
  } else {
    w[schunk + C.FREE_SIZE] = dyn;
    dyn = 0; // the static chunk covers the dynamic area
  }
  w[schunk + C.CONTIG_HINT] = w[schunk + C.FREE_SIZE]!;
  push(schunk, -ai.staticSize);
  if (w[schunk + C.FREE_SIZE]) push(schunk, w[schunk + C.FREE_SIZE]!);
  let seq = 1;
  let dchunk = 0;
  if (dyn) {
    dchunk = newChunk(seq++);
    w[dchunk + C.FREE_SIZE] = dyn;
    w[dchunk + C.CONTIG_HINT] = dyn;
    push(dchunk, -w[h + PC.RESERVED_LIMIT]!);
    push(dchunk, dyn);
  }
  w[h + PC.FIRST_CHUNK] = dchunk || schunk;
  w[h + PC.CHUNK_SEQ] = seq;
  w[h + PC.NR_CHUNKS] = 1;
  w[h + PC.NR_MAX_CHUNKS] = 1;
  st.attach(); // the first and reserved chunks are known now
  chunkRelocate(st, dchunk || schunk, -1);
  return log;
}
