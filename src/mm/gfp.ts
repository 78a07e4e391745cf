// Allocation masks (include/linux/gfp.h as Linux 4.1 has them). 2.6.35's
// percpu allocator takes no mask (it always allocates GFP_KERNEL); 4.1's
// pcpu_alloc calls an allocation atomic when the mask lacks any bit of
// GFP_KERNEL, and the emulated heap, page allocator and vmalloc space sleep
// only where the mask allows it (__GFP_WAIT).

export const __GFP_WAIT = 0x10;
export const __GFP_HIGH = 0x20;
export const __GFP_IO = 0x40;
export const __GFP_FS = 0x80;

export const GFP_ATOMIC = __GFP_HIGH;
export const GFP_NOWAIT = GFP_ATOMIC & ~__GFP_HIGH;
export const GFP_NOIO = __GFP_WAIT;
export const GFP_NOFS = __GFP_WAIT | __GFP_IO;
export const GFP_KERNEL = __GFP_WAIT | __GFP_IO | __GFP_FS;

/** The masks a program may name, by name (repros and reports spell them). */
export const GFP_NAMES: Readonly<Record<number, string>> = {
  [GFP_KERNEL]: 'GFP_KERNEL', [GFP_ATOMIC]: 'GFP_ATOMIC', [GFP_NOWAIT]: 'GFP_NOWAIT', [GFP_NOFS]: 'GFP_NOFS', [GFP_NOIO]: 'GFP_NOIO',
};

/** May an allocation with this mask sleep? */
export function gfpMaySleep(gfp: number): boolean {
  return (gfp & __GFP_WAIT) !== 0;
}
