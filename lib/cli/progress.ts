const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface Spinner {
  /** Replaces the spinner's text. */
  update(text: string): void;
  /** Clears the line; prints `final` (plus a newline) when given. */
  stop(final?: string): void;
}

/**
 * A spinner with elapsed seconds on `stream` (stderr) while work runs. Only on a terminal:
 * when the stream is a file or a pipe nothing is written, so logs and scripts stay clean.
 */
export function spinner(text: string, stream: NodeJS.WriteStream = process.stderr): Spinner {
  if (!stream.isTTY) return { update() {}, stop() {} };
  const t0 = Date.now();
  let frame = 0;
  let current = text;
  const draw = () => {
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    const line = `${FRAMES[frame++ % FRAMES.length]} ${current} ${seconds}s`;
    const width = stream.columns && stream.columns > 1 ? stream.columns - 1 : 79;
    stream.write(`\r\x1b[K${line.length > width ? line.slice(0, width) : line}`);
  };
  draw();
  const timer = setInterval(draw, 80);
  timer.unref();
  let stopped = false;
  return {
    update(t: string) {
      current = t;
    },
    stop(final?: string) {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      stream.write('\r\x1b[K' + (final !== undefined ? `${final}\n` : ''));
    },
  };
}
