// The independent model of live allocations: what the allocator handed out
// must be aligned, inside its chunk, and never overlap another live area.
// It knows nothing of area maps; it only remembers intervals.

export interface LiveArea {
  chunk: number;
  off: number;
  size: number;
}

export class AreaModel {
  private readonly byChunk = new Map<number, LiveArea[]>();
  live = 0;

  /** Record a new area; returns what is wrong with it, or null. */
  add(chunk: number, off: number, size: number, align: number, span: number): string | null {
    if (off % align !== 0) return `offset ${off} in chunk ${chunk} is not aligned to ${align}`;
    if (off < 0 || off + size > span) return `area [${off}, ${off + size}) lies outside chunk ${chunk} (${span} bytes)`;
    const list = this.byChunk.get(chunk) ?? [];
    for (const a of list) {
      if (off < a.off + a.size && a.off < off + size) {
        return `area [${off}, ${off + size}) in chunk ${chunk} overlaps live area [${a.off}, ${a.off + a.size})`;
      }
    }
    list.push({ chunk, off, size });
    this.byChunk.set(chunk, list);
    this.live++;
    return null;
  }

  remove(chunk: number, off: number): boolean {
    const list = this.byChunk.get(chunk);
    const i = list?.findIndex((a) => a.off === off) ?? -1;
    if (!list || i < 0) return false;
    list.splice(i, 1);
    this.live--;
    return true;
  }

  /** Forget a destroyed chunk; returns how many areas it still had (should be 0). */
  dropChunk(chunk: number): number {
    const n = this.byChunk.get(chunk)?.length ?? 0;
    this.byChunk.delete(chunk);
    return n;
  }
}
