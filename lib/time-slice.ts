/**
 * Long loops on the JavaScript thread (sampling a step's rows) call `pause()` between
 * items: once `ms` have passed since the last turn, it waits for the next turn of the event
 * loop, so timers, I/O and an app's UI keep running.
 */
export class TimeSlice {
  private start = performance.now();

  constructor(private readonly ms: number) {}

  async pause(): Promise<void> {
    if (performance.now() - this.start <= this.ms) return;
    await new Promise((resolve) => setImmediate(resolve));
    this.start = performance.now();
  }
}
