/**
 * Progress for the commands that take more than a second: one status line on stderr, rewritten in
 * place, only when stderr is a terminal (piped output, CI logs and the PR workflow stay quiet).
 * The line is erased when the command finishes, so what remains is the command's own output.
 */
export interface Progress {
  /** The current step ("rendering prod (2/4)"). */
  step(label: string): void;
  /** Erase the status line. */
  done(): void;
}

const QUIET: Progress = { step() {}, done() {} };

export function progress(stream: NodeJS.WriteStream = process.stderr, prefix = 'stackbook'): Progress {
  if (!stream.isTTY) return QUIET;
  const started = Date.now();
  let shown = false;
  const width = () => Math.max(20, (stream.columns || 80) - 1);
  return {
    step(label) {
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      const line = `${prefix}: ${label} … ${secs} s`;
      stream.write(`\r\x1b[2K${line.length > width() ? `${line.slice(0, width() - 1)}…` : line}`);
      shown = true;
    },
    done() {
      if (shown) stream.write('\r\x1b[2K');
      shown = false;
    },
  };
}
