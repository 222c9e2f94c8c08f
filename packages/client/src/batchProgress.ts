/** A batch's progress as `cq` shows it on stderr while it waits. */
import type { CliIo } from './command.js';
import type { Batch } from './types.js';

/** `120/500 done (118 succeeded, 2 failed)`, naming canceled requests only when there are some. */
export function describeCounts(batch: Batch): string {
  const { succeeded, failed, canceled } = batch.request_counts;
  const done = succeeded + failed + canceled;
  return `${done}/${batch.total} done (${succeeded} succeeded, ${failed} failed${canceled ? `, ${canceled} canceled` : ''})`;
}

export interface ProgressDisplay {
  /** Shows the batch's counts (called on each change). */
  show(batch: Batch): void;
  /** Leaves the last state on screen, the cursor on a new line. */
  end(): void;
}

const BAR_WIDTH = 30;

/**
 * On a terminal, one line redrawn in place with a bar; otherwise (a log file, CI) one
 * plain line per change, so nothing but text lands in the file.
 */
export function createProgressDisplay(stderr: CliIo['stderr']): ProgressDisplay {
  let drawn = false;
  return {
    show(batch) {
      const text = `${describeCounts(batch)}${batch.status === 'canceling' ? ' canceling' : ''}`;
      if (!stderr.isTTY) return void stderr.write(`${text}\n`);
      const { succeeded, failed, canceled } = batch.request_counts;
      const filled = batch.total ? Math.round(((succeeded + failed + canceled) / batch.total) * BAR_WIDTH) : BAR_WIDTH;
      // \r and erase-to-end-of-line: the new state replaces the old on the same line.
      stderr.write(`\r\x1b[K[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${text}`);
      drawn = true;
    },
    end() {
      if (drawn) stderr.write('\n');
      drawn = false;
    },
  };
}
