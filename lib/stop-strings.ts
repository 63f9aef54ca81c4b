/**
 * Watches generated text for stop strings. Text that could still turn out to be the start
 * of a stop string is held back until it can be told apart.
 */
export class StopStringFilter {
  private text = '';
  private emitted = 0;
  stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  /** Adds generated text; returns the part that is now safe to show. */
  push(piece: string): string {
    if (this.stopped) return '';
    this.text += piece;
    let cut = -1;
    for (const s of this.stops) {
      const at = this.text.indexOf(s, Math.max(0, this.emitted - s.length + 1));
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.stopped = true;
      this.text = this.text.slice(0, cut);
      return this.release(this.text.length);
    }
    return this.release(this.text.length - this.heldBack());
  }

  /** Everything not yet shown (at the end of generation). */
  flush(): string {
    return this.release(this.text.length);
  }

  /** The final text, stop string excluded. */
  get value(): string {
    return this.text;
  }

  private heldBack(): number {
    let hold = 0;
    for (const s of this.stops)
      for (let k = Math.min(s.length - 1, this.text.length - this.emitted); k > hold; k--)
        if (this.text.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
    return hold;
  }

  private release(upTo: number): string {
    if (upTo <= this.emitted) return '';
    const out = this.text.slice(this.emitted, upTo);
    this.emitted = upTo;
    return out;
  }
}
