// Every failure justified: an allocation that returns NULL, and every
// warning the allocator prints about one, must be explained by a reason this
// checker knows on its own, never by what the allocator says of itself:
//
//   illegal     the request breaks the kernel's documented rules (size 0 or
//               over PCPU_MIN_UNIT_SIZE, align over PAGE_SIZE; 4.1 adjusts the
//               request first), restated here;
//   injected    a memory call failed by injection on this CPU during the call
//               (the memory layer tells the machine, src/mm/kernel-api.ts);
//   capacity    the emulator itself ran out of heap, page frames or address
//               space during the call (the same way);
//   no room     the allocator claims a chunk it may use had no room (a
//               reserved request and the reserved chunk; 4.1: an atomic
//               request and the populated pages of every chunk, or a map
//               that would have to grow), and this checker's own first fit
//               over the maps, at the moment of the claim with pcpu_lock
//               held, agrees.
//
// The verdict is the caller's (the CPU program, src/run/thread): after
// pcpu_alloc returns, a NULL with none of these reasons is a finding, an
// illegal request that got an area is one, and so is a warning that matches
// no failure the checker predicted (a "WARNING: at mm/percpu.c:pcpu_alloc()"
// for a legal request, a "PERCPU: allocation failed" for a call that then
// succeeded or for another size), or an illegal request without its WARNING.
// The state is per CPU and context and lives on the CPU's own thread: the
// failures of one call happen on the thread that makes it.

import type { Cpu } from '../sync/cpu.ts';
import type { FailureHooks } from '../percpu/hooks.ts';
import type { PcpuState } from '../percpu/chunk.ts';
import { C, PC } from '../percpu/records.ts';

/** include/linux/percpu.h: the largest request pcpu_alloc serves (32 KiB), restated. */
const PCPU_MIN_UNIT_SIZE_RULE = 32 << 10;

interface Call {
  active: boolean;
  size: number;
  align: number;
  reserved: boolean;
  illegal: boolean;
  /** Memory failures seen during the call: injected at a site, or capacity. */
  mm: string[];
  /** A no-room claim the checker confirmed (the chunk named), or ''. */
  noRoom: string;
  warnedIllegal: boolean;
  warnedFail: string;
}

export type FirstFit = (chunk: number, size: number, align: number) => number;

/** A kernel's rules for its arguments and its warnings, restated (not taken from the allocator). */
export interface FailureRules {
  kernel: string;
  /** The request is illegal by the kernel's documented rules. */
  illegal(size: number, align: number, pageSize: number): boolean;
  /** The size and alignment the kernel prints for a request (4.1 prints them as it adjusted them). */
  printed(size: number, align: number): [number, number];
  /** 4.1: the first fit of an atomic request, on populated pages only, in a chunk (-1: none). */
  atomicFit?: FirstFit;
  /** The rules of the kernel with later fixes booted (fix-verification), by the fixes' names; none: unchanged. */
  withFixes?(names: readonly string[]): FailureRules;
  /** How the rules read in a report. */
  text?: string;
}

/** Linux 2.6.35's rules. */
export const RULES_2635: FailureRules = {
  kernel: '2.6.35',
  illegal: (size, align, pageSize) => size === 0 || size > PCPU_MIN_UNIT_SIZE_RULE || align > pageSize,
  printed: (size, align) => [size, align],
};

/**
 * Linux 4.1's: pcpu_alloc forces a 2-byte alignment and an even size first,
 * refuses size 0 or over PCPU_MIN_UNIT_SIZE (PFN_ALIGN(32 KiB): a page when
 * pages are bigger) and an alignment over PAGE_SIZE, and prints what it
 * adjusted.
 */
export function rules41(atomicFit: FirstFit, powerOfTwo = false): FailureRules {
  const adjust = (size: number, align: number): [number, number] => [size + (size & 1), Math.max(align, 2)];
  return {
    kernel: powerOfTwo ? '4.1 (with 4.10\'s align rule)' : '4.1',
    illegal: (size, align, pageSize) => {
      const [s, a] = adjust(size, align);
      return s === 0 || s > Math.max(PCPU_MIN_UNIT_SIZE_RULE, pageSize) || a > pageSize || (powerOfTwo && (a & (a - 1)) !== 0);
    },
    printed: adjust,
    atomicFit,
    // 3ca45a46f8af (4.10) makes an alignment that is not a power of two illegal too, with its WARN (the fix's own
    // name is how fix-verification boots it: src/percpu/4.1/later/align-power-of-two.ts)
    withFixes: (names) => rules41(atomicFit, powerOfTwo || names.includes('align-power-of-two')),
    text: powerOfTwo ? 'align a power of two' : undefined,
  };
}

export class FailureJudge implements FailureHooks {
  /** Per entity and context (task, hardirq). */
  private readonly calls: Call[] = [];

  private rules: FailureRules;

  constructor(private readonly st: PcpuState, private readonly firstFit: FirstFit, private readonly base: FailureRules = RULES_2635) {
    this.rules = base;
  }

  /** The later fixes booted for the next run (by name): their rules, where a fix changes what is legal. */
  booted(fixes: readonly string[]): void {
    this.rules = fixes.length && this.base.withFixes ? this.base.withFixes(fixes) : this.base;
  }

  private call(cpu: Cpu): Call {
    const i = cpu.id * 2 + (cpu.inIrq() ? 1 : 0);
    let c = this.calls[i];
    if (!c) this.calls[i] = c = { active: false, size: 0, align: 0, reserved: false, illegal: false, mm: [], noRoom: '', warnedIllegal: false, warnedFail: '' };
    return c;
  }

  /** A new run: no call is in progress. */
  reset(): void {
    for (const c of this.calls) if (c) c.active = false;
  }

  /** The caller is about to call pcpu_alloc. */
  begin(cpu: Cpu, size: number, align: number, reserved: boolean): void {
    const c = this.call(cpu);
    c.active = true;
    c.size = size;
    c.align = align;
    c.reserved = reserved;
    c.illegal = this.rules.illegal(size, align, this.st.pageSize);
    c.mm.length = 0;
    c.noRoom = '';
    c.warnedIllegal = false;
    c.warnedFail = '';
  }

  /** A memory call failed on `cpu` for a reason outside the allocator (CpuHost.mmFailed). */
  mmFailed(cpu: Cpu, why: string): void {
    const c = this.call(cpu);
    if (c.active && c.mm.length < 8) c.mm.push(why);
  }

  /** pcpu_lock held: the allocator gives up because `chunk` has no room for (size, align). */
  noRoom(cpu: Cpu, chunk: number, size: number, align: number): void {
    const c = this.call(cpu);
    const at = this.firstFit(chunk, size, align);
    const name = chunk === this.st.reservedChunk ? 'the reserved chunk' : `chunk w[${chunk}]`;
    if (at >= 0) {
      this.fail(cpu, `percpu: pcpu_alloc() gave up on ${name} although it has room (size ${size}, align ${align})`, `pcpu_alloc(size ${size}, align ${align}${c.reserved ? ', reserved' : ''}) gives up for lack of room in ${name}, which has room at offset ${at} ` +
        '(its first free block that holds the aligned request)');
      // reported: the NULL that follows is this finding, not another
      if (c.active) c.noRoom = name;
      return;
    }
    if (c.active) c.noRoom = name;
  }

  /** 4.1: an allocation may split an area in two more entries than it uses, so an atomic one needs 3 to spare in the map. */
  private mapCanSplit(chunk: number): boolean {
    const w = this.st.w;
    return w[chunk + C.MAP_ALLOC]! >= w[chunk + C.MAP_USED]! + 3;
  }

  /** 4.1: an atomic request found no populated room anywhere: every chunk on the slot lists, by the checker's own fit. */
  noRoomAtomic(cpu: Cpu, size: number, align: number): void {
    const c = this.call(cpu);
    const fit = this.rules.atomicFit;
    if (!fit) return;
    const { w, L } = this.st.shm;
    const nrSlots = w[L.pc + PC.NR_SLOTS]!;
    for (let s = 0; s < nrSlots; s++) {
      const head = L.slots + s * 2;
      for (let pos = w[head]!, n = 0; pos !== head && n < 1 << 16; pos = w[pos]!, n++) {
        // an atomic request cannot grow a map: a chunk without spare entries is out of its reach
        if (!this.mapCanSplit(pos)) continue;
        const at = fit(pos, ...this.rules.printed(size, align));
        if (at >= 0) {
          this.fail(cpu, `percpu: pcpu_alloc() gave up an atomic request although chunk w[${pos}] has populated room (size ${size}, align ${align})`,
            `an atomic pcpu_alloc(size ${size}, align ${align}) walked the chunks and gave up, but chunk w[${pos}] (on pcpu_slot[${s}]) has room at offset ${at} on populated pages, and map entries to spare`);
          if (c.active) c.noRoom = 'reported';
          return;
        }
      }
    }
    if (c.active) c.noRoom = 'the populated pages of every chunk';
  }

  /** 4.1: an atomic request gives up on `chunk` because its map is short: the checker reads the map's length itself. */
  mapShort(cpu: Cpu, chunk: number): void {
    const c = this.call(cpu);
    const w = this.st.w;
    if (this.mapCanSplit(chunk)) {
      this.fail(cpu, `percpu: pcpu_alloc() gave up an atomic request on a map that has room to split`, `chunk w[${chunk}]'s map has ${w[chunk + C.MAP_ALLOC]} entries for ${w[chunk + C.MAP_USED]} used: an atomic request needs 3 to spare, and has them`);
      if (c.active) c.noRoom = 'reported';
      return;
    }
    if (c.active) c.noRoom = `the reserved chunk's map (an atomic request cannot extend it)`;
  }

  /** A line the allocator printed: it must match the failure of the call in progress. */
  printed(cpu: Cpu, line: string): void {
    const illegalWarn = line.startsWith('WARNING: at mm/percpu.c:pcpu_alloc()');
    const m = /^PERCPU: allocation failed, size=(\d+) align=(\d+)(?: atomic=\d)?, (.*)$/.exec(line);
    if (!illegalWarn && !m) return;
    const c = this.call(cpu);
    if (!c.active) return; // a call nobody judges (a test calling pcpu_alloc itself)
    if (illegalWarn) {
      if (!c.illegal) this.fail(cpu, `percpu: pcpu_alloc() warned of an illegal request that is legal (size ${c.size}, align ${c.align})`, `"${line.replace(/\n/g, ': ')}" printed for pcpu_alloc(size ${c.size}, align ${c.align}), a legal request by ${this.rules.kernel}'s rules ${this.rulesText()}`);
      c.warnedIllegal = true;
      return;
    }
    const [ps, pa] = this.rules.printed(c.size, c.align);
    if (c.illegal || Number(m![1]) !== ps || Number(m![2]) !== pa) {
      this.fail(cpu, `percpu: pcpu_alloc() printed a failure that is not this call's (size ${c.size}, align ${c.align})`, `"${line}" printed during pcpu_alloc(size ${c.size}, align ${c.align})${c.illegal ? `, an illegal request (${this.rules.kernel} only WARNs about those)` : ''}`);
    }
    c.warnedFail = m![3]!;
  }

  /**
   * pcpu_alloc returned `ptr` (0: NULL, the allocator's own explanation in
   * `err`): is that what 2.6.35 does, for a reason this checker knows?
   */
  end(cpu: Cpu, ptr: number, err: string): void {
    const c = this.call(cpu);
    if (!c.active) return;
    c.active = false;
    const call = `pcpu_alloc(size ${c.size}, align ${c.align}${c.reserved ? ', reserved' : ''})`;
    if (c.illegal) {
      if (ptr !== 0) this.fail(cpu, `percpu: pcpu_alloc() served an illegal request (size ${c.size}, align ${c.align})`, `${call} returned an area, although the request is illegal by ${this.rules.kernel}'s rules ${this.rulesText()}: it must WARN and return NULL`);
      else if (!c.warnedIllegal) this.fail(cpu, `percpu: pcpu_alloc() refused an illegal request without its WARNING (size ${c.size}, align ${c.align})`, `${call} returned NULL for an illegal request without its "WARNING: at mm/percpu.c:pcpu_alloc()"`);
      return;
    }
    if (ptr !== 0) {
      if (c.warnedFail) this.fail(cpu, `percpu: pcpu_alloc() printed a failure and then succeeded (size ${c.size}, align ${c.align})`, `${call} printed "PERCPU: allocation failed, … ${c.warnedFail}" and then returned an area`);
      return;
    }
    if (c.mm.length > 0 || c.noRoom) return;
    this.fail(cpu, `percpu: pcpu_alloc() returned NULL for no reason ${this.rules.kernel} has (size ${c.size}, align ${c.align}${c.reserved ? ', reserved' : ''})`, `${call} returned NULL${err ? ` ("${err}")` : ''} for no reason ${this.rules.kernel} has: the request is legal ${this.rulesText()}, ` +
      `no memory call failed on ${cpu.name} during it (no injected failure, the emulator's capacity not reached)` +
      `${c.reserved ? ', and the reserved chunk was never found without room' : this.rules.atomicFit ? ', and no chunk was found without room for it' : ', and it is not a reserved request'}`);
  }

  private rulesText(): string {
    return `(size 1..${PCPU_MIN_UNIT_SIZE_RULE}, align at most PAGE_SIZE ${this.st.pageSize}${this.rules.text ? `, ${this.rules.text}` : ''})`;
  }

  private fail(cpu: Cpu, title: string, what: string): void {
    cpu.report('spec', title, `${what}\n(failure-justified: every NULL and every warning of pcpu_alloc needs a reason the checker knows on its own)`, false, { check: 'failure-justified', function: 'pcpu_alloc' });
  }
}
