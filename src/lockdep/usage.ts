// Lock class usage bits and the graph's records, shared by the validator
// and its reports.

export const USED_IN_HARDIRQ = 1;
export const ENABLED_HARDIRQ = 2;
export const ENABLED_SOFTIRQ = 4;
export const USAGE_BITS = [USED_IN_HARDIRQ, ENABLED_HARDIRQ, ENABLED_SOFTIRQ] as const;

export interface UsageSite {
  cpu: number;
  site: string;
}

export interface DepEdge {
  from: number;
  to: number;
  cpu: number;
  site: string; // where `to` was acquired
  prevSite: string; // where `from` had been acquired
}
