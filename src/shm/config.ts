// Run configuration: everything that shapes the shared memory and the first
// chunk. A config is validated once, on the main thread, and then travels to
// the workers as plain data; every capacity in the layout derives from it.

export type Backend = 'vm' | 'km';
/** The kernels the harness ports, each a generation of its own (src/percpu/2.6.35/, src/percpu/4.1/). */
export const KERNELS = ['2.6.35', '4.1'] as const;
export type KernelVersion = (typeof KERNELS)[number];
export const DEFAULT_KERNEL: KernelVersion = '2.6.35';
export type FirstChunkMode = 'embed' | 'page';

export interface Config {
  /** Which kernel's allocator the machine boots. */
  kernel: KernelVersion;
  cpus: number;
  pageSize: number;
  staticSize: number;
  reservedSize: number;
  /** Dynamic area of the first chunk in bytes; -1 = auto (fill the page alignment). */
  dynSize: number;
  /** Unit size, 0 = derived by buildAllocInfo like the kernel does. */
  unitSize: number;
  /** Allocation atom of the embed first chunk (kernel: PAGE_SIZE or a large page). */
  atomSize: number;
  backend: Backend;
  firstChunk: FirstChunkMode;
  /** NUMA node of each CPU; CPUs on different nodes are at REMOTE_DISTANCE. */
  nodes: number[];
  /** Capacity: chunks (first chunk included) that can exist at once. */
  maxChunks: number;
  /** Capacity: bytes of the emulated kmalloc/vmalloc heap. */
  heapBytes: number;
  /** Capacity: page frames of the emulated page allocator (0 = derived). */
  pages: number;
}

/** PCPU_MIN_UNIT_SIZE: the largest single percpu allocation and the smallest unit. */
export const PCPU_MIN_UNIT_SIZE = 32 << 10;
export const MAX_CPUS = 64;

export const DEFAULTS: Config = {
  kernel: DEFAULT_KERNEL,
  cpus: 4,
  pageSize: 4096,
  staticSize: 4096,
  reservedSize: 8192,
  dynSize: 20480,
  unitSize: 0,
  atomSize: 0,
  backend: 'vm',
  firstChunk: 'embed',
  nodes: [],
  maxChunks: 64,
  heapBytes: 0,
  pages: 0,
};

/** A bad configuration: the CLI turns it into a one-line error and exit code 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function intIn(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new ConfigError(`${name} must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Merge a partial config over the defaults and validate it. Sizes are
 * checked the way pcpu_setup_first_chunk() checks them (PCPU_SETUP_BUG_ON),
 * so a config that passes here always boots.
 */
export function makeConfig(partial: Partial<Config> = {}): Config {
  for (const k of Object.keys(partial)) {
    if (!(k in DEFAULTS)) throw new ConfigError(`unknown config key '${k}'`);
  }
  const c: Config = { ...DEFAULTS, ...partial, nodes: [...(partial.nodes ?? DEFAULTS.nodes)] };
  if (!(KERNELS as readonly unknown[]).includes(c.kernel)) throw new ConfigError(`kernel must be ${KERNELS.join(' or ')}, got ${JSON.stringify(c.kernel)}`);
  intIn('cpus', c.cpus, 1, MAX_CPUS);
  intIn('pageSize', c.pageSize, 256, 65536);
  if (!isPow2(c.pageSize)) throw new ConfigError(`pageSize must be a power of two, got ${c.pageSize}`);
  intIn('staticSize', c.staticSize, 1, 1 << 24);
  intIn('reservedSize', c.reservedSize, 0, 1 << 24);
  intIn('dynSize', c.dynSize, -1, 1 << 24);
  intIn('unitSize', c.unitSize, 0, 1 << 24);
  if (c.unitSize !== 0) {
    if (c.unitSize % c.pageSize !== 0) throw new ConfigError(`unitSize ${c.unitSize} is not a multiple of the page size ${c.pageSize}`);
    if (c.unitSize < PCPU_MIN_UNIT_SIZE) throw new ConfigError(`unitSize ${c.unitSize} is below PCPU_MIN_UNIT_SIZE (${PCPU_MIN_UNIT_SIZE})`);
    const sum = c.staticSize + c.reservedSize + Math.max(c.dynSize, 0);
    if (c.unitSize < sum) throw new ConfigError(`unitSize ${c.unitSize} is smaller than static+reserved+dyn (${sum})`);
  }
  if (c.atomSize === 0) c.atomSize = c.pageSize;
  intIn('atomSize', c.atomSize, c.pageSize, 1 << 24);
  if (!isPow2(c.atomSize)) throw new ConfigError(`atomSize must be a power of two, got ${c.atomSize}`);
  if (c.backend !== 'vm' && c.backend !== 'km') throw new ConfigError(`backend must be vm or km, got ${JSON.stringify(c.backend)}`);
  if (c.firstChunk !== 'embed' && c.firstChunk !== 'page') {
    throw new ConfigError(`firstChunk must be embed or page, got ${JSON.stringify(c.firstChunk)}`);
  }
  if (c.nodes.length === 0) c.nodes = new Array<number>(c.cpus).fill(0);
  if (c.nodes.length !== c.cpus) throw new ConfigError(`nodes lists ${c.nodes.length} CPUs, expected ${c.cpus}`);
  c.nodes.forEach((n, i) => intIn(`nodes[${i}]`, n, 0, MAX_CPUS - 1));
  const multiNode = new Set(c.nodes).size > 1;
  if (c.backend === 'km' && multiNode) throw new ConfigError('the km backend cannot handle more than one group (all CPUs must be on one node)');
  if (c.backend === 'km' && c.firstChunk === 'page') throw new ConfigError('the km backend is incompatible with the page first chunk');
  if (c.firstChunk === 'page' && multiNode) throw new ConfigError('the page first chunk supports a single group only');
  intIn('maxChunks', c.maxChunks, 2, 1 << 16);
  intIn('heapBytes', c.heapBytes, 0, 1 << 30);
  intIn('pages', c.pages, 0, 1 << 20);
  return c;
}
