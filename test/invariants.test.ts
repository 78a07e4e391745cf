// Each invariant, broken on purpose, is reported under its own name. A
// clean machine reports nothing, so none of these can pass by accident.

import test from 'ava';
import { machine } from './helpers.ts';
import { InvariantChecker, type InvariantName } from '../src/check/invariants.ts';
import { C } from '../src/percpu/records.ts';
import { setBit } from '../src/percpu/chunk.ts';
import { setPageIndex } from '../src/mm/pages.ts';
import { vmToPfn } from '../src/mm/vm.ts';
import type { Kernel } from '../src/run/machine.ts';

/** A machine with a dynamic chunk holding a few areas; returns that chunk. */
function setup(): { k: Kernel; chunk: number; ptrs: number[] } {
  const { k } = machine({ cpus: 2 });
  const cpu = k.cpu(0);
  k.pcpu.pcpuAlloc(cpu, 20480, 4, false); // fill the first chunk's dynamic area
  const ptrs = [64, 128, 256, 512].map((s) => k.pcpu.pcpuAlloc(cpu, s, 8, false));
  const chunk = k.pcpu.chunkAddrSearch(cpu, ptrs[0]!);
  k.pcpu.freePercpu(cpu, ptrs[1]!); // a free hole between allocated areas
  return { k, chunk, ptrs };
}

function expectOnly(t: import('ava').ExecutionContext, k: Kernel, name: InvariantName, pattern: RegExp): void {
  const failures = new InvariantChecker(k).checkAll();
  const mine = failures.filter((f) => f.invariant === name);
  t.true(mine.length > 0, `expected ${name}, got ${JSON.stringify(failures)}`);
  t.regex(mine[0]!.message, pattern);
}

test('a clean machine breaks no invariant', (t) => {
  const { k } = setup();
  t.deepEqual(new InvariantChecker(k).checkAll(), []);
});

test('map-entries: a zero map entry', (t) => {
  const { k, chunk } = setup();
  const m = k.st.map(chunk);
  k.st.w.copyWithin(m + 1, m, m + k.st.mapUsed(chunk));
  k.st.w[m] = 0;
  k.st.w[chunk + C.MAP_USED]!++;
  expectOnly(t, k, 'map-entries', /map\[0\] is zero/);
});

test('map-span: the map covers more than the chunk', (t) => {
  const { k, chunk } = setup();
  const last = k.st.map(chunk) + k.st.mapUsed(chunk) - 1;
  k.st.w[last] = k.st.w[last]! + 8;
  k.st.w[chunk + C.FREE_SIZE] = k.st.freeSize(chunk) + 8;
  expectOnly(t, k, 'map-span', /sum of \|map\| is 32776, the chunk manages 32768 bytes/);
});

test('free-size: free_size disagrees with the map', (t) => {
  const { k, chunk } = setup();
  k.st.w[chunk + C.FREE_SIZE] = k.st.freeSize(chunk) - 4;
  expectOnly(t, k, 'free-size', /free_size \d+ but the free entries add up to \d+/);
});

test('adjacent-free: two free entries side by side', (t) => {
  const { k, chunk } = setup();
  const m = k.st.map(chunk);
  const used = k.st.mapUsed(chunk);
  const last = k.st.w[m + used - 1]!; // the free tail
  k.st.w[m + used - 1] = last - 16;
  k.st.w[m + used] = 16;
  k.st.w[chunk + C.MAP_USED] = used + 1;
  expectOnly(t, k, 'adjacent-free', /are both free/);
});

test('contig-hint: the hint is below the largest free block', (t) => {
  const { k, chunk } = setup();
  k.st.w[chunk + C.CONTIG_HINT] = 8;
  expectOnly(t, k, 'contig-hint', /contig_hint 8 < largest free block \d+/);
});

test('slot: a chunk on the wrong slot list', (t) => {
  const { k, chunk } = setup();
  k.st.listMove(chunk, k.st.slotHead(1));
  expectOnly(t, k, 'slot', /is on pcpu_slot\[1\] but free_size/);
});

test('one-list: the reserved chunk on a slot list', (t) => {
  const { k } = setup();
  k.st.listMove(k.st.reservedChunk, k.st.slotHead(2));
  expectOnly(t, k, 'one-list', /the reserved chunk is on pcpu_slot\[2\]/);
});

test('list-links: a prev pointer that does not point back', (t) => {
  const { k, chunk } = setup();
  k.st.w[chunk + C.LIST_PREV] = chunk;
  expectOnly(t, k, 'list-links', /does not point back/);
});

test('map-used: map_used beyond map_alloc', (t) => {
  const { k, chunk } = setup();
  k.st.w[chunk + C.MAP_USED] = k.st.mapAlloc(chunk) + 1;
  expectOnly(t, k, 'map-used', /map_used 17 > map_alloc 16/);
});

test('populated: an allocated area on a page that is not populated', (t) => {
  const { k, chunk } = setup();
  setBit(k.st.w, chunk + C.POPULATED, 0, false);
  expectOnly(t, k, 'populated', /page 0 is not populated/);
});

test('back-pointer: a mapped page that points to another chunk', (t) => {
  const { k, chunk } = setup();
  const pfn = vmToPfn(k.shm, k.pcpu.chunkAddr(chunk, 1, 0), k.st.pageShift);
  setPageIndex(k.shm, pfn, k.st.firstChunk);
  expectOnly(t, k, 'back-pointer', /points to w\[\d+\], not to its chunk/);
});

test('first-chunk: the static area overwritten', (t) => {
  const { k } = setup();
  const base = k.st.baseAddr(k.st.firstChunk);
  const at = k.shm.L.pageData + (base - k.shm.L.linBase) + k.st.unitOffset(1);
  k.shm.b[at] = k.shm.b[at]! ^ 0xff;
  expectOnly(t, k, 'first-chunk', /static area of cpu1 overwritten at offset 0/);
});

test('first-chunk: the first chunk made mutable', (t) => {
  const { k } = setup();
  k.st.w[k.st.firstChunk + C.IMMUTABLE] = 0;
  expectOnly(t, k, 'first-chunk', /is not immutable/);
});
