// KASAN on the emulated heap (src/mm/kasan.ts): every heap and bootmem object
// the allocator indexes has bounds, checked at the access and on bulk copies,
// and reported before the write lands; a use-after-free is reported only for
// objects the heap recorded as freed, naming who freed them. Each test puts a
// one-line bug into a machine of its own (a patched accessor or operation, as
// test/mutants.ts does to copies of the sources) and reads the report.

import test from 'ava';
import { machine, v2635 } from './helpers.ts';
import { bootMachine, type Kernel } from '../src/run/machine.ts';
import { Oops, type Violation } from '../src/report/violation.ts';
import { Tag } from '../src/mm/heap.ts';
import { kfree, kzalloc } from '../src/mm/kernel-api.ts';
import { HEAP_ALLOC, HO, MM } from '../src/mm/records.ts';
import { C, PC } from '../src/percpu/records.ts';
import { F } from '../src/sync/sites.ts';

/** Allocate small areas on cpu0 until `stop` says so or something is reported; returns the pointers. */
function allocUntil(k: Kernel, n: number, size = 8): number[] {
  const cpu = k.cpu(0);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    try {
      out.push(k.pcpu.pcpuAlloc(cpu, size, 4, false));
    } catch (e) {
      if (e instanceof Oops) break;
      throw e;
    }
    if (k.violations.some((v) => v.fatal)) break;
  }
  return out;
}

const first = (k: Kernel): Violation | undefined => k.violations[0];

test('a map extension that copies 4 x map_alloc words into the new map is a slab-out-of-bounds write in pcpu_extend_area_map, reported at the copy', (t) => {
  const { k } = machine({ cpus: 2 });
  // the bug: copy four times the old map's length (the new map holds twice it); the first
  // extension of the first chunk's 2-entry static map is left alone here (see below)
  const copy = k.st.copyEntriesOut.bind(k.st);
  k.st.copyEntriesOut = (c, m, dst, n) => copy(c, m, dst, n >= 16 ? n * 4 : n);
  allocUntil(k, 200);
  const v = first(k);
  t.truthy(v, 'reported');
  t.is(v!.kind, 'out-of-bounds');
  t.is(v!.title, 'BUG: KASAN: slab-out-of-bounds in pcpu_extend_area_map');
  t.regex(v!.text, /^Write of size \d+ at addr w\[\d+\] by task cpu0/m);
  t.regex(v!.text, /belongs to the object at w\[\d+\]\n which belongs to the cache kmalloc-\d+ of size \d+ \(the area map, \d+ bytes requested\)/);
  t.regex(v!.text, /Allocated by task cpu0:\n pcpu_extend_area_map\n pcpu_alloc\n/);
  t.regex(v!.text, /an access of \d+ bytes at offset 0 of the area map, of size \d+, allocated by pcpu_extend_area_map/);
  t.true(v!.fatal, 'the run stops before anything reads the damage');
  t.is(k.violations.length, 1, k.violations.map((x) => x.title).join('\n'));
  // the same bug on the static map: a read past a boot-time array (a global to KASAN)
  const { k: k2 } = machine({ cpus: 2 });
  const copy2 = k2.st.copyEntriesOut.bind(k2.st);
  k2.st.copyEntriesOut = (c, m, dst, n) => copy2(c, m, dst, n * 4);
  allocUntil(k2, 200);
  t.is(first(k2)?.title, 'BUG: KASAN: global-out-of-bounds in pcpu_extend_area_map');
  t.regex(first(k2)!.text, /^Read of size 32 at addr w\[\d+\]/m);
});

test('the same copy into a vmalloc\'ed map is a vmalloc-out-of-bounds write', (t) => {
  // a 256-byte page: maps past 64 entries come from vmalloc
  const { k } = machine({ cpus: 2, pageSize: 256, dynSize: 2048 });
  const copy = k.st.copyEntriesOut.bind(k.st);
  k.st.copyEntriesOut = (c, m, dst, n) => copy(c, m, dst, n >= 64 ? n * 4 : n);
  allocUntil(k, 600, 1);
  const v = first(k);
  t.is(v?.title, 'BUG: KASAN: vmalloc-out-of-bounds in pcpu_extend_area_map', k.violations.map((x) => x.title).join('\n'));
  t.regex(v!.text, /belongs to the virtual mapping at\n \[w\[\d+\], w\[\d+\]\) created by vmalloc \(the area map, 512 bytes\)/);
});

test('a temp pages array 4 words long written with 16 is a slab-out-of-bounds write in pcpu_get_pages_and_bitmap, not a use-after-free of a chunk', (t) => {
  const { k } = machine({ cpus: 2 });
  const cpu = k.cpu(0);
  t.true(k.st.nrUnits * k.st.unitPages > 4);
  // the bug: the array allocated 16 bytes long (pcpu_get_pages_and_bitmap allocates it on first use)
  cpu.enter(F.pcpu_get_pages_and_bitmap);
  k.shm.w[k.shm.L.pc + PC.TEMP_PAGES] = kzalloc(cpu, 16, Tag.TEMP_PAGES);
  cpu.leave();
  t.throws(() => k.pcpu.pcpuAlloc(cpu, 30000, 8, false), { instanceOf: Oops });
  const v = first(k);
  t.is(v?.title, 'BUG: KASAN: slab-out-of-bounds in pcpu_get_pages_and_bitmap', k.violations.map((x) => x.title).join('\n'));
  t.regex(v!.text, /Write of size \d+ at addr/);
  t.regex(v!.text, /the temp pages array, 16 bytes requested/);
  t.false(k.violations.some((x) => x.kind === 'use-after-free'));
});

test('a map freed while its chunk still uses it is a use-after-free of the map, naming who freed it', (t) => {
  const { k } = machine({ cpus: 2 });
  const cpu = k.cpu(0);
  // the bug: the extension frees the new, live map instead of the old one
  const extend = v2635(k).ops.extendAreaMap;
  v2635(k).ops = {
    ...v2635(k).ops,
    extendAreaMap: (p, c, chunk, n) => {
      const r = extend(p, c, chunk, n);
      c.enter(F.pcpu_extend_area_map);
      kfree(c, k.shm.w[chunk + C.MAP]!);
      c.leave();
      return r;
    },
  };
  allocUntil(k, 50);
  const v = first(k);
  t.is(v?.kind, 'use-after-free', k.violations.map((x) => x.title).join('\n'));
  t.regex(v!.title, /^BUG: KASAN: use-after-free in pcpu_(alloc_area|alloc)$/);
  t.regex(v!.text, /\(the area map, \d+ bytes requested\)|a freed object/);
  t.regex(v!.text, /Freed by task cpu0:\n pcpu_extend_area_map\n pcpu_alloc\n/);
  t.false(k.violations.some((x) => x.kind === 'lock-discipline' || x.kind === 'data-race'), 'not the side effect of some other access');
  void cpu;
});

test('use-after-free only for what the heap recorded as freed: a destroyed chunk names its destroyer, a damaged header is a wild access', (t) => {
  // a chunk destroyed by reclaim, then used
  {
    const { k } = machine({ cpus: 2 });
    const cpu = k.cpu(0);
    const a = k.pcpu.pcpuAlloc(cpu, 30000, 8, false);
    const b = k.pcpu.pcpuAlloc(cpu, 30000, 8, false);
    const chunkB = k.pcpu.chunkAddrSearch(cpu, b);
    k.pcpu.freePercpu(cpu, b);
    k.pcpu.freePercpu(cpu, a);
    t.true(k.runReclaimIfPending().length > 0);
    k.st.ck!.cpu = cpu;
    t.throws(() => k.st.freeSize(chunkB), { instanceOf: Oops });
    const v = first(k);
    t.is(v?.kind, 'use-after-free');
    t.regex(v!.text, /Freed by task kworker\/0:1:\n pcpu_destroy_chunk\n/);
    t.regex(v!.text, /pcpu_chunk\.free_size of chunk #\d+/);
  }
  // a live chunk whose heap header was overwritten (nothing freed it)
  {
    const { k } = machine({ cpus: 2 });
    const cpu = k.cpu(0);
    const p = k.pcpu.pcpuAlloc(cpu, 30000, 8, false);
    const chunk = k.pcpu.chunkAddrSearch(cpu, p);
    k.shm.w[chunk - HO.SIZE + HO.STATE] = 0x1234;
    k.st.ck!.cpu = cpu;
    t.throws(() => k.st.freeSize(chunk), { instanceOf: Oops });
    const v = first(k);
    t.not(v?.kind, 'use-after-free', v?.text);
    t.regex(v!.title, /^BUG: KASAN: wild-memory-access in /);
    t.notRegex(v!.text, /destroyed|pcpu_destroy_chunk/);
  }
});

test('bounds cost nothing they should not: the faithful allocator, 20k random operations with extensions and reclaim, reports nothing', (t) => {
  const { k } = machine({ cpus: 2, pageSize: 256, dynSize: 2048 });
  const cpu = k.cpu(0);
  const live: number[] = [];
  let x = 11;
  for (let i = 0; i < 20000; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    if (live.length > 0 && (x & 3) === 0) {
      k.pcpu.freePercpu(cpu, live.splice(x % live.length, 1)[0]!);
      k.runReclaimIfPending();
    } else {
      const p = k.pcpu.pcpuAlloc(cpu, [1, 2, 4, 8, 64, 300, 2000][x % 7]!, [1, 4, 8][(x >> 5) % 3]!, false);
      if (p) live.push(p);
    }
  }
  t.deepEqual(k.violations.filter((v) => !v.mechanism).map((v) => v.title), []);
});

test('bounds learned in one run are never used in the next: a new boot forgets them (the heap and its count of frees start over)', (t) => {
  const { k } = machine({ cpus: 2 });
  const cpu = k.cpu(0);
  allocUntil(k, 6); // the first chunk's map extended to a 16-entry heap map
  const c = k.st.firstChunk, m = k.shm.w[c + C.MAP]!;
  k.st.ck!.cpu = cpu;
  t.is(k.st.entry(c, m, 10), k.shm.w[m + 10]!, 'in bounds: cached');
  // a new run boots the machine again: at the same place, the same count of frees, a smaller object
  bootMachine(k.spec, k.shm);
  k.attach();
  const w = k.shm.w, obj = m - HO.SIZE;
  w[obj + HO.STATE] = HEAP_ALLOC;
  w[obj + HO.CLASS] = 0;
  w[obj + HO.BYTES] = 16;
  w[obj + HO.TAG_OR_NEXT] = Tag.MAP;
  w[k.shm.L.mm + MM.HEAP_TOP] = m + 4;
  k.st.ck!.cpu = cpu;
  t.throws(() => k.st.entry(c, m, 10), { instanceOf: Oops });
  t.regex(k.violations.at(-1)?.title ?? '', /^BUG: KASAN: slab-out-of-bounds/);
});
