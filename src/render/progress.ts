// A progress bar on stderr when it is a terminal; silent otherwise.

export class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private last = '';

  update(label: string, fraction: number): void {
    if (!this.tty) return;
    const width = 30;
    const done = Math.round(Math.max(0, Math.min(1, fraction)) * width);
    const line = `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${label}`;
    if (line === this.last) return;
    this.last = line;
    process.stderr.write(`\r${line.slice(0, (process.stderr.columns ?? 100) - 1).padEnd(this.lastLen)}`);
    this.lastLen = line.length;
  }

  private lastLen = 0;

  clear(): void {
    if (this.tty && this.lastLen) process.stderr.write(`\r${' '.repeat(this.lastLen)}\r`);
    this.lastLen = 0;
    this.last = '';
  }
}
