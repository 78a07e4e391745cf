// The first chunk's geometry as pcpu_build_alloc_info() describes it (struct
// pcpu_alloc_info): plain data that sizes the shared memory and travels to
// the worker threads.

export interface GroupInfo {
  baseOffset: number;
  nrUnits: number;
  cpuMap: number[]; // nrUnits entries, NR_CPUS where unused
}

export interface AllocInfo {
  staticSize: number;
  reservedSize: number;
  dynSize: number;
  unitSize: number;
  atomSize: number;
  allocSize: number;
  groups: GroupInfo[];
}
