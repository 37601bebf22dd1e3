/** A progress line with rate and ETA: redrawn in place on a terminal, every 10% otherwise. */
export class Progress {
  private readonly start = Date.now();
  private readonly initial: number;
  private lastDecile = -1;

  constructor(
    private readonly total: number,
    private done: number,
    private readonly label: string,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.initial = done;
  }

  advance(by: number): void {
    this.done += by;
    const frac = this.total === 0 ? 1 : this.done / this.total;
    const elapsed = (Date.now() - this.start) / 1000;
    const rate = elapsed > 0 ? (this.done - this.initial) / elapsed : 0;
    const eta = rate > 0 ? (this.total - this.done) / rate : Infinity;
    const line = `${this.label} ${this.done}/${this.total} (${(100 * frac).toFixed(0)}%) ${rate.toFixed(1)}/s ETA ${fmt(eta)}`;
    if (this.out.isTTY) {
      const width = 24;
      const bar = "#".repeat(Math.round(frac * width)).padEnd(width, "-");
      this.out.write(`\r[${bar}] ${line}\x1b[K`);
      if (this.done >= this.total) this.out.write("\n");
    } else if (Math.floor(frac * 10) > this.lastDecile) {
      this.lastDecile = Math.floor(frac * 10);
      this.out.write(line + "\n");
    }
  }
}

function fmt(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${Math.ceil(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, "0")}s`;
}
