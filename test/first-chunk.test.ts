// First-chunk geometry and setup, compared with what the kernel computes.

import test from 'ava';
import { machine } from './helpers.ts';
import { buildAllocInfo, dumpAllocInfo, NR_CPUS } from '../src/percpu/alloc-info.ts';
import { makeConfig } from '../src/shm/config.ts';
import { InvariantChecker } from '../src/check/invariants.ts';
import { leakCheck } from '../src/check/leak.ts';
import { allocMany, teardown } from './helpers.ts';

test('with a reserved area the first chunk is served by a static/reserved chunk and a dynamic chunk', (t) => {
  const { k, log } = machine({ cpus: 4, staticSize: 4096, reservedSize: 8192, dynSize: 20480 });
  const st = k.st;
  t.not(st.reservedChunk, 0);
  t.not(st.firstChunk, st.reservedChunk);
  t.deepEqual(st.mapArray(st.reservedChunk), [-4096, 8192]);
  t.deepEqual(st.mapArray(st.firstChunk), [-12288, 20480]);
  t.is(st.mapAlloc(st.firstChunk), 2);
  t.is(st.reservedLimit, 12288);
  // 2.6.35's order: pcpu_embed_first_chunk's PERCPU: line, then pcpu_setup_first_chunk's dump
  t.regex(log[0]!, /^PERCPU: Embedded \d+ pages\/cpu @[0-9a-f]+ s4096 r8192 d20480 u32768$/);
  t.is(log[1], 'pcpu-alloc: s4096 r8192 d20480 u32768 alloc=8*4096');
  t.is(log[2], 'pcpu-alloc: [0] 0 [0] 1 [0] 2 [0] 3 ');
});

test('without a reserved area the static chunk also serves the dynamic area', (t) => {
  const { k } = machine({ cpus: 2, staticSize: 8192, reservedSize: 0, dynSize: 8192 });
  t.is(k.st.reservedChunk, 0);
  t.deepEqual(k.st.mapArray(k.st.firstChunk), [-8192, 8192]); // the unit's rest past s+r+d is unused
});

test('dyn grows to fill the page alignment, and the unit to PCPU_MIN_UNIT_SIZE', (t) => {
  const ai = buildAllocInfo(makeConfig({ cpus: 2 }), 1000, 3000, 4096, true);
  t.is(ai.dynSize, 8192 - 4096 - 1000);
  t.is(ai.unitSize, 32768);
});

test('CPUs on different nodes go to different groups, units per allocation follow the atom size', (t) => {
  const cfg = makeConfig({ cpus: 8, nodes: [0, 0, 0, 0, 1, 1, 1, 1], atomSize: 2 << 20, staticSize: 40960, reservedSize: 8192, dynSize: 20480 });
  const ai = buildAllocInfo(cfg, 8192, 20480, 2 << 20, true);
  t.is(ai.groups.length, 2);
  t.deepEqual(ai.groups[0]!.cpuMap.filter((c) => c !== NR_CPUS), [0, 1, 2, 3]);
  t.deepEqual(ai.groups[1]!.cpuMap.filter((c) => c !== NR_CPUS), [4, 5, 6, 7]);
  // 4 units per 2 MiB allocation: the most that wastes no unit in a group of 4
  t.is(ai.unitSize, 524288);
  t.is(ai.groups[1]!.baseOffset, ai.groups[0]!.nrUnits * ai.unitSize);
  const dump = dumpAllocInfo(ai, 8).trimEnd().split('\n');
  t.regex(dump[0]!, /^pcpu-alloc: s40960 r8192 d\d+ u\d+ alloc=1\*2097152$/);
  t.true(dump.slice(1).every((l) => l.startsWith('pcpu-alloc: [0') || l.startsWith('pcpu-alloc: [1')));
});

test('a two-node machine boots and allocates clean in every unit', (t) => {
  const { k } = machine({ cpus: 4, nodes: [0, 0, 1, 1] });
  t.is(k.st.nrGroups, 2);
  const ptrs = allocMany(k, 500);
  t.deepEqual(new InvariantChecker(k).checkAll(), []);
  teardown(k, ptrs);
  t.deepEqual(leakCheck(k), []);
});

test('the page first chunk maps every unit page by page into a vm area', (t) => {
  const { k, log } = machine({ cpus: 3, firstChunk: 'page', reservedSize: 8192 });
  // pcpu_page_first_chunk prints its PERCPU: line before pcpu_setup_first_chunk dumps the layout
  t.regex(log[0]!, /^PERCPU: 8 4K pages\/cpu @[0-9a-f]+ s4096 r8192 d\d+$/);
  t.regex(log[1]!, /^pcpu-alloc: /);
  t.true(k.st.baseAddr(k.st.firstChunk) >= k.shm.L.vmBase);
  const ptrs = allocMany(k, 300);
  t.deepEqual(new InvariantChecker(k).checkAll(), []);
  teardown(k, ptrs);
  t.deepEqual(leakCheck(k), []);
});
