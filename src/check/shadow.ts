// Shadow stamps and lookups: what a user of alloc_percpu relies on, checked
// from the outside. Every live allocation carries a stamp written into
// every CPU's copy through per_cpu_ptr (its first word and, when there is
// room, its last word); a fresh area must read as zero before it is
// stamped; its address must be aligned as the caller asked (a multiple of
// the align it passed, whatever that was); the stamps must be intact when the
// area is touched and freed;
// per_cpu_ptr_to_phys must name where a copy's bytes really are. Accesses go
// through the page tables, so a hole is a page fault and a freed page a
// use-after-free, as on real hardware with the kernel's debugging on.

import type { Cpu } from '../sync/cpu.ts';
import { perCpuPtr, readWord, translate, writeWord } from '../percpu/access.ts';
import type { PcpuState } from '../percpu/chunk.ts';
import type { Allocator } from '../percpu/allocator.ts';
import { kmHandedOutUncleared } from './known.ts';

export class ShadowStamps {
  /** Unzeroed areas reported this run: those percpu-km handed out uncleared, and any other. */
  private unzeroedKm = false;
  private unzeroedOther = false;
  private misaligned = false;
  private misalignedOdd = false;

  constructor(private readonly st: PcpuState, private readonly pcpu: Allocator) {}

  /** A new run. */
  reset(): void {
    this.unzeroedKm = false;
    this.unzeroedOther = false;
    this.misaligned = false;
    this.misalignedOdd = false;
  }

  /**
   * The caller asked for `align`: the area it got must start at a multiple of
   * it (the percpu pointer; units are page-aligned, so for a power of two up
   * to a page every copy is aligned alike). Reported once per run for a power
   * of two, once for any other alignment.
   */
  aligned(cpu: Cpu, ptr: number, size: number, align: number): void {
    if (align <= 1 || ptr % align === 0) return;
    // once a run for powers of two, once for any other: a known misalignment hides no other
    const pow2 = (align & (align - 1)) === 0;
    if (pow2 ? this.misaligned : this.misalignedOdd) return;
    if (pow2) this.misaligned = true;
    else this.misalignedOdd = true;
    cpu.report('spec', `percpu: pcpu_alloc returned an area misaligned for its request (align ${align})`,
      `pcpu_alloc(size ${size}, align ${align}) returned ${ptr.toString(16)}, ${ptr % align} bytes past a multiple of ${align}: ` +
      'the caller was promised an area aligned as it asked (or a refusal)\n',
      false, { check: 'alignment', ptr, size, align, function: 'pcpu_alloc' });
  }

  /**
   * Check that a fresh area is zero in every copy, then stamp it; an area of
   * 1-3 bytes gets only its own bytes stamped.
   */
  stamp(cpu: Cpu, ptr: number, size: number, stamp: number): void {
    const st = this.st;
    const n = size < 4 ? size : 4;
    for (let c = 0; c < st.nrCpus; c++) {
      const a = perCpuPtr(st, ptr, c);
      if (readWord(cpu, st, a, n) !== 0 || (size >= 8 && readWord(cpu, st, a + size - 4) !== 0)) this.unzeroed(cpu, ptr, size, c);
      writeWord(cpu, st, a, stamp, n);
      if (size >= 8) writeWord(cpu, st, a + size - 4, ~stamp);
    }
  }

  /**
   * Report a fresh area found not zeroed: once per run and cause (later areas
   * handed out the same way tell the same story). Unless the bytes are this
   * very allocation's, stamped a moment ago into another CPU's copy that
   * lives at the same physical address: then two units map one page, and
   * that is the report.
   */
  private unzeroed(cpu: Cpu, ptr: number, size: number, copy: number): void {
    const at = translate(this.st, perCpuPtr(this.st, ptr, copy));
    for (let c = 0; c < copy; c++) {
      if (at < 0 || translate(this.st, perCpuPtr(this.st, ptr, c)) !== at) continue;
      const phys = at - this.st.L.pageData;
      cpu.report('shadow', `percpu: cpu${c}'s and cpu${copy}'s copies of area ${ptr.toString(16)} are the same memory`,
        `per_cpu_ptr(${ptr.toString(16)}, ${c}) and per_cpu_ptr(${ptr.toString(16)}, ${copy}) both reach physical 0x${phys.toString(16)} (pfn ${Math.floor(phys / this.st.pageSize)}): ` +
        `two units map the same page, so one CPU's writes are another's; the bytes found in cpu${copy}'s copy are the stamp just written into cpu${c}'s`,
        undefined, { ptr, size, cpus: [c, copy], phys });
      return;
    }
    const km = kmHandedOutUncleared(this.st.shm, cpu.id, ptr, size);
    if (km ? this.unzeroedKm : this.unzeroedOther) return;
    if (km) this.unzeroedKm = true;
    else this.unzeroedOther = true;
    cpu.report('uninitialized', `percpu: fresh area ${ptr.toString(16)} (${size} bytes) is not zeroed in cpu${copy}'s copy`,
      'pcpu_alloc returned memory a previous user left behind: callers of alloc_percpu rely on zeroed areas', false, { ptr, size, cpu: copy });
  }

  /** Check the stamps of an area (before it is freed, or when it is touched). */
  verify(cpu: Cpu, ptr: number, size: number, stamp: number): void {
    const st = this.st;
    const n = size < 4 ? size : 4;
    const want = n === 4 ? stamp : stamp & ((1 << (8 * n)) - 1);
    for (let c = 0; c < st.nrCpus; c++) {
      const a = perCpuPtr(st, ptr, c);
      const head = readWord(cpu, st, a, n);
      const tail = size >= 8 ? readWord(cpu, st, a + size - 4) : ~stamp;
      if (head !== want || tail !== ~stamp) {
        cpu.report('shadow', `percpu: live area ${ptr.toString(16)} (${size} bytes) was overwritten in cpu${c}'s copy`,
          `expected stamp ${(want >>> 0).toString(16)}, found ${(head >>> 0).toString(16)}/${(~tail >>> 0).toString(16)}: another allocation overlaps it`,
          undefined, { ptr, size, cpu: c });
      }
    }
  }

  /**
   * per_cpu_ptr_to_phys() of CPU `target`'s copy of an area, against the
   * physical address its bytes really have (through the page tables). A
   * wrong answer is one finding, whatever went wrong; whether it is one of
   * 2.6.35's two known issues is for their mechanisms to say
   * (src/check/known.ts).
   */
  phys(cpu: Cpu, ptr: number, size: number, target: number): void {
    const st = this.st;
    const addr = perCpuPtr(st, ptr, target);
    const at = translate(st, addr);
    if (at < 0) return; // not mapped: the touch checks report that
    const truth = at - st.L.pageData;
    const got = this.pcpu.perCpuPtrToPhys(cpu, addr);
    if (got === truth) return;
    const hex = (n: number): string => (n < 0 ? 'a bogus address (vmalloc_to_page of an unmapped address)' : `0x${n.toString(16)}`);
    cpu.report('spec', 'BUG: per_cpu_ptr_to_phys() returned a wrong physical address',
      `per_cpu_ptr_to_phys(${hex(addr)}), cpu${target}'s copy of a ${size}-byte area, returned ${hex(got)}; its bytes are at physical ${hex(truth)}`,
      false, { check: 'per_cpu_ptr_to_phys', addr, got, truth, target });
  }
}
