// pcpu_alloc refusing an alignment that is not a power of two, as
// 3ca45a46f8af ("percpu: ensure requested alignment is power of two", 4.10)
// has it. 4.1 passes any alignment up to PAGE_SIZE to ALIGN(), whose mask
// arithmetic is meant for powers of two: an odd alignment gives an offset
// that is no multiple of it, and the caller an area misaligned for what it
// asked. The fix adds !is_power_of_2(align) to the arguments pcpu_alloc
// refuses (with its WARN, as for the others).

import type { Percpu, PcpuOps } from '../core.ts';
import { argsIllegal as argsIllegal41 } from '../core.ts';
import type { LaterFix } from '../../variant.ts';

function argsIllegal(p: Percpu, size: number, align: number): boolean {
  return argsIllegal41(p, size, align) || (align & (align - 1)) !== 0;
}

export const alignPowerOfTwo: LaterFix<PcpuOps> = {
  name: 'align-power-of-two',
  commit: '3ca45a46f8af',
  subject: 'percpu: ensure requested alignment is power of two',
  summary: 'pcpu_alloc refuses (and warns about) an alignment that is not a power of two',
  ops: { argsIllegal },
  fixes: 'align-not-pow2',
};
