// A progress line on stderr when it is a terminal; silent otherwise. The
// line never wraps: it is cut to one column less than the terminal's width,
// and the rest of the line is cleared rather than padded (padding past the
// width is what wraps). A fraction < 0 draws no bar (work of unknown length).

export class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private last = '';
  private shown = false;

  /** The line for a label at a fraction done, cut to `columns`. */
  static line(label: string, fraction: number, columns: number): string {
    const barWidth = columns >= 60 ? 20 : columns >= 40 ? 10 : 0;
    let line = label;
    if (barWidth && fraction >= 0) {
      const done = Math.round(Math.max(0, Math.min(1, fraction)) * barWidth);
      line = `[${'#'.repeat(done)}${'.'.repeat(barWidth - done)}] ${label}`;
    }
    const max = Math.max(1, columns - 1);
    return line.length > max ? `${line.slice(0, max - 1)}…` : line;
  }

  /** Is a line drawn at all (a caller whose label costs something to make asks first)? */
  get active(): boolean {
    return this.tty;
  }

  update(label: string, fraction: number): void {
    if (!this.tty) return;
    const line = Progress.line(label, fraction, process.stderr.columns ?? 80);
    if (line === this.last) return;
    this.last = line;
    // carriage return, the line, then clear to the end of the line (ESC [ K)
    process.stderr.write(`\r${line}\x1b[K`);
    this.shown = true;
  }

  clear(): void {
    if (this.tty && this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
    this.last = '';
  }
}
