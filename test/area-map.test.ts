// The area map allocator, against maps computed by hand from mm/percpu.c.

import test from 'ava';
import { mapOf, traceMachine } from './helpers.ts';
import { needToExtend, sizeToSlotRaw } from '../src/percpu/2.6.35/area-map.ts';

test('first fit splits the free block into the area and a free tail', (t) => {
  const k = traceMachine();
  const cpu = k.cpu(0);
  const p = k.pcpu.pcpuAlloc(cpu, 16, 4, false);
  t.deepEqual(mapOf(k, p), [-12288, -16, 20464]);
  t.is(k.st.freeSize(k.st.firstChunk), 20464);
});

test('an alignment head under 4 bytes is merged into the previous allocated block', (t) => {
  const k = traceMachine();
  const cpu = k.cpu(0);
  const a = k.pcpu.pcpuAlloc(cpu, 6, 2, false); // [12288, 12294)
  const b = k.pcpu.pcpuAlloc(cpu, 8, 8, false); // head 2 < 4 joins a's block
  t.is(b - a, 8);
  t.deepEqual(mapOf(k, b), [-12288, -8, -8, 20464]);
  // the head was taken out of free_size with the previous block
  t.is(k.st.freeSize(k.st.firstChunk), 20464);
});

test('an alignment head next to a free block is merged into that free block', (t) => {
  const k = traceMachine();
  const cpu = k.cpu(0);
  const a = k.pcpu.pcpuAlloc(cpu, 8, 4, false);
  const b = k.pcpu.pcpuAlloc(cpu, 8, 4, false);
  k.pcpu.pcpuAlloc(cpu, 8, 4, false);
  k.pcpu.freePercpu(cpu, b); // [-12288,-8,8,-8,rest]
  t.deepEqual(mapOf(k, a), [-12288, -8, 8, -8, 20456]);
  const c = k.pcpu.pcpuAlloc(cpu, 4, 16, false); // off 12320 aligned: head 12320-12312=8, previous block allocated, head >= 4: split
  t.deepEqual(mapOf(k, c), [-12288, -8, 8, -8, 8, -4, 20444]);
});

test('a tail under 4 bytes is absorbed into the allocation', (t) => {
  const k = traceMachine({ dynSize: 20480 });
  const cpu = k.cpu(0);
  const big = k.pcpu.pcpuAlloc(cpu, 20478, 2, false);
  t.deepEqual(mapOf(k, big), [-12288, -20480]);
  t.is(k.st.freeSize(k.st.firstChunk), 0);
});

test('free merges with both neighbours', (t) => {
  const k = traceMachine();
  const cpu = k.cpu(0);
  const a = k.pcpu.pcpuAlloc(cpu, 8, 4, false);
  const b = k.pcpu.pcpuAlloc(cpu, 8, 4, false);
  const c = k.pcpu.pcpuAlloc(cpu, 8, 4, false);
  k.pcpu.pcpuAlloc(cpu, 8, 4, false);
  k.pcpu.freePercpu(cpu, a);
  k.pcpu.freePercpu(cpu, c);
  t.deepEqual(mapOf(k, b), [-12288, 8, -8, 8, -8, 20448]);
  k.pcpu.freePercpu(cpu, b);
  t.deepEqual(mapOf(k, b), [-12288, 24, -8, 20448]);
  t.is(k.st.contigHint(k.st.firstChunk), 20448);
});

test('slots follow max(fls(size) - 5 + 2, 1) and the last slot is for fully free chunks', (t) => {
  t.is(sizeToSlotRaw(1), 1);
  t.is(sizeToSlotRaw(15), 1);
  t.is(sizeToSlotRaw(16), 2);
  t.is(sizeToSlotRaw(31), 2);
  t.is(sizeToSlotRaw(32), 3);
  t.is(sizeToSlotRaw(20480), 12);
  const k = traceMachine();
  t.is(k.st.nrSlots, sizeToSlotRaw(32768) + 2);
});

test('area maps grow 16 -> 32 -> 64 -> 128 entries as areas are added', (t) => {
  const k = traceMachine({ reservedSize: 0, dynSize: 4096 });
  const cpu = k.cpu(0);
  const seen: number[] = [];
  // fill the first chunk, then keep allocating in the second chunk
  for (let i = 0; i < 1024 + 1100; i++) {
    const p = k.pcpu.pcpuAlloc(cpu, 4, 4, false);
    t.true(p !== 0);
    const c = k.pcpu.chunkAddrSearch(cpu, p);
    if (c !== k.st.firstChunk && seen[seen.length - 1] !== k.st.mapAlloc(c)) seen.push(k.st.mapAlloc(c));
  }
  t.deepEqual(seen.slice(0, 4), [16, 32, 64, 128]);
  t.deepEqual(seen.slice(4), [256, 512, 1024, 2048]);
});

test('needToExtend asks for two spare entries, doubling from 16', (t) => {
  const k = traceMachine();
  const c = k.st.firstChunk; // static 2-entry map
  t.is(needToExtend(k.st, c), 16);
});
