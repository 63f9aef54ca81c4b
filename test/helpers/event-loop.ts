// Watching the event loop: how long it went without running a timer.

/**
 * Ticks every millisecond until stop(), which returns the longest gap between ticks (ms),
 * the one from the last tick to stop() included: work that blocks right before the awaited
 * call resolves never lets another tick run.
 */
export function watchEventLoopGaps(): { stop(): number } {
  let last = performance.now();
  let maxGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 1);
  return {
    stop() {
      clearInterval(ticker);
      return Math.max(maxGap, performance.now() - last);
    },
  };
}
