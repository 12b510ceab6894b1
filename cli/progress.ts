/**
 * Progress for long work: a redrawn bar on a terminal, plain lines otherwise (logs, CI, pipes),
 * at most one line per task and step so logs stay short.
 */
import { formatBytes } from '../src/utils/format_bytes.js';

export interface Progress {
  update(task: string, done: number, total?: number): void;
  line(message: string): void;
  finish(): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr, quiet = false): Progress {
  if (quiet) return { update() {}, line() {}, finish() {} };
  const tty = Boolean(stream.isTTY);
  let drawn = false;
  const reported = new Map<string, number>();
  const clear = () => {
    if (drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };
  return {
    update(task, done, total) {
      if (tty) {
        const width = 28;
        const frac = total ? Math.min(done / total, 1) : 0;
        const bar = total ? `[${'#'.repeat(Math.round(frac * width)).padEnd(width, '.')}] ${(frac * 100).toFixed(0).padStart(3)}%` : '';
        clear();
        stream.write(`${task} ${bar} ${formatBytes(done)}${total ? ` / ${formatBytes(total)}` : ''}`);
        drawn = true;
        return;
      }
      // Plain mode: the start, every quarter, and the end.
      const step = total ? Math.floor((done / total) * 4) : 0;
      if (reported.get(task) === step) return;
      reported.set(task, step);
      stream.write(`${task}: ${formatBytes(done)}${total ? ` of ${formatBytes(total)}` : ''}\n`);
    },
    line(message) {
      clear();
      stream.write(`${message}\n`);
    },
    finish() {
      clear();
    },
  };
}

