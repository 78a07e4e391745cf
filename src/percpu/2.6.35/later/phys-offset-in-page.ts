// per_cpu_ptr_to_phys() as later kernels have it ("percpu: fix
// per_cpu_ptr_to_phys() handling of non-page-aligned addresses"): the
// page-based paths add offset_in_page(addr) to page_to_phys().

import type { Cpu } from '../../../sync/cpu.ts';
import { F } from '../../../sync/sites.ts';
import { vmToPfn } from '../../../mm/vm.ts';
import { PHYS_CHUNK, PHYS_LINEAR, PHYS_VMALLOC } from '../../../check/records.ts';
import type { Percpu, PcpuOps } from '../core.ts';
import type { LaterFix } from '../../variant.ts';

function perCpuPtrToPhys(p: Percpu, cpu: Cpu, addr: number): number {
  const st = p.st;
  const L = st.L;
  cpu.enter(F.per_cpu_ptr_to_phys);
  try {
    let pfn: number;
    let path: number;
    if (p.ops.addrInFirstChunk(p, addr)) {
      if (addr < L.vmBase) {
        p.known?.physPath(cpu, addr, PHYS_LINEAR, (addr - L.linBase) >> st.pageShift);
        return addr - L.linBase;
      }
      pfn = vmToPfn(st.shm, addr, st.pageShift);
      path = PHYS_VMALLOC;
    } else {
      pfn = p.backend.addrToPfn(addr);
      path = PHYS_CHUNK;
    }
    p.known?.physPath(cpu, addr, path, pfn);
    return pfn < 0 ? -1 : pfn * st.pageSize + (addr & (st.pageSize - 1)); // + offset_in_page(addr)
  } finally {
    cpu.leave();
  }
}

export const physOffsetInPage: LaterFix<PcpuOps> = {
  name: 'phys-offset-in-page', commit: '', subject: 'percpu: fix per_cpu_ptr_to_phys() handling of non-page-aligned addresses',
  summary: 'per_cpu_ptr_to_phys adds offset_in_page(addr) on the page-based paths', fixes: 'ptr-to-phys-offset',
  ops: { perCpuPtrToPhys },
};
