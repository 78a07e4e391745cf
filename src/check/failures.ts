// Every failure justified: an allocation that returns NULL, and every
// warning the allocator prints about one, must be explained by a reason this
// checker knows on its own, never by what the allocator says of itself:
//
//   illegal     the request breaks 2.6.35's documented rules (size 0 or over
//               PCPU_MIN_UNIT_SIZE, align over PAGE_SIZE), restated here;
//   injected    a memory call failed by injection on this CPU during the call
//               (the memory layer tells the machine, src/mm/kernel-api.ts);
//   capacity    the emulator itself ran out of heap, page frames or address
//               space during the call (the same way);
//   no room     the allocator claims a chunk it may use had no room (a
//               reserved request and the reserved chunk; 4.1: an atomic
//               request and the populated pages), and this checker's own
//               first fit over that chunk's map, at the moment of the claim
//               with pcpu_lock held, agrees.
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

export class FailureJudge implements FailureHooks {
  /** Per entity and context (task, hardirq). */
  private readonly calls: Call[] = [];

  constructor(private readonly st: PcpuState, private readonly firstFit: FirstFit) {}

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

  /** The documented rules of pcpu_alloc's arguments, restated. */
  static illegal(size: number, align: number, pageSize: number): boolean {
    return size === 0 || size > PCPU_MIN_UNIT_SIZE_RULE || align > pageSize;
  }

  /** The caller is about to call pcpu_alloc. */
  begin(cpu: Cpu, size: number, align: number, reserved: boolean): void {
    const c = this.call(cpu);
    c.active = true;
    c.size = size;
    c.align = align;
    c.reserved = reserved;
    c.illegal = FailureJudge.illegal(size, align, this.st.pageSize);
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
      return;
    }
    if (c.active) c.noRoom = name;
  }

  /** A line the allocator printed: it must match the failure of the call in progress. */
  printed(cpu: Cpu, line: string): void {
    const illegalWarn = line.startsWith('WARNING: at mm/percpu.c:pcpu_alloc()');
    const m = /^PERCPU: allocation failed, size=(\d+) align=(\d+), (.*)$/.exec(line);
    if (!illegalWarn && !m) return;
    const c = this.call(cpu);
    if (!c.active) return; // a call nobody judges (a test calling pcpu_alloc itself)
    if (illegalWarn) {
      if (!c.illegal) this.fail(cpu, `percpu: pcpu_alloc() warned of an illegal request that is legal (size ${c.size}, align ${c.align})`, `"${line.replace(/\n/g, ': ')}" printed for pcpu_alloc(size ${c.size}, align ${c.align}), a legal request by 2.6.35's rules ${this.rules()}`);
      c.warnedIllegal = true;
      return;
    }
    if (c.illegal || Number(m![1]) !== c.size || Number(m![2]) !== c.align) {
      this.fail(cpu, `percpu: pcpu_alloc() printed a failure that is not this call's (size ${c.size}, align ${c.align})`, `"${line}" printed during pcpu_alloc(size ${c.size}, align ${c.align})${c.illegal ? ', an illegal request (2.6.35 only WARNs about those)' : ''}`);
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
      if (ptr !== 0) this.fail(cpu, `percpu: pcpu_alloc() served an illegal request (size ${c.size}, align ${c.align})`, `${call} returned an area, although the request is illegal by 2.6.35's rules ${this.rules()}: it must WARN and return NULL`);
      else if (!c.warnedIllegal) this.fail(cpu, `percpu: pcpu_alloc() refused an illegal request without its WARNING (size ${c.size}, align ${c.align})`, `${call} returned NULL for an illegal request without its "WARNING: at mm/percpu.c:pcpu_alloc()"`);
      return;
    }
    if (ptr !== 0) {
      if (c.warnedFail) this.fail(cpu, `percpu: pcpu_alloc() printed a failure and then succeeded (size ${c.size}, align ${c.align})`, `${call} printed "PERCPU: allocation failed, … ${c.warnedFail}" and then returned an area`);
      return;
    }
    if (c.mm.length > 0 || c.noRoom) return;
    this.fail(cpu, `percpu: pcpu_alloc() returned NULL for no reason 2.6.35 has (size ${c.size}, align ${c.align}${c.reserved ? ', reserved' : ''})`, `${call} returned NULL${err ? ` ("${err}")` : ''} for no reason 2.6.35 has: the request is legal ${this.rules()}, ` +
      `no memory call failed on ${cpu.name} during it (no injected failure, the emulator's capacity not reached)` +
      `${c.reserved ? ', and the reserved chunk was never found without room' : ', and it is not a reserved request'}`);
  }

  private rules(): string {
    return `(size 1..${PCPU_MIN_UNIT_SIZE_RULE}, align at most PAGE_SIZE ${this.st.pageSize})`;
  }

  private fail(cpu: Cpu, title: string, what: string): void {
    cpu.report('spec', title, `${what}\n(failure-justified: every NULL and every warning of pcpu_alloc needs a reason the checker knows on its own)`, false, { check: 'failure-justified', function: 'pcpu_alloc' });
  }
}
