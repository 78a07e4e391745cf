// Lockdep's shared records: usage bits per class, the dependency graph with
// where each edge was first seen, the reports made, and the chain cache.

export const MAX_CLASSES = 16;
export const MAX_CHAINS = 128;
export const MAX_CHAIN = 8;
export const CHAIN_WORDS = 3 + MAX_CHAIN;
export enum LD { GRAPH_LOCK, REPORTS, DISABLED, SIZE }
