/**
 * The table of a job's life: every move a job can make, from which statuses, to which,
 * and what happens with it. jobLife.ts runs these moves and nothing else changes a
 * job's status; jobLife.test.ts walks the whole table.
 *
 *   queued ──start──▶ running ──succeed──▶ succeeded
 *     ▲ │               │ │ ├──fail──────▶ failed ──reopen──▶ queued
 *     │ │               │ │ └──cancel────▶ canceled
 *     │ └─cancel, fail, recoverLost──▶ canceled / failed
 *     └──────retryLater, handBack─────┘
 *
 * Side effects, each exactly once, in the same Redis step as the move (scripts.ts):
 * - every move appends a `status` event to the job's stream and announces it;
 * - start and every ending go to the service-wide stream (webhooks);
 * - an ending starts the record's retention and counts in the tenant's usage of the day;
 * - leaving running frees the tenant's concurrency slot; an ending from queued takes the
 *   job out of the scheduler (intake, run queue, slot, the start its dispatch counted);
 * - reopen puts the job back in its tenant's intake and stops its record's expiry.
 * What happens to the BullMQ job is the `bullmq` column: the service's record decides,
 * BullMQ follows.
 */
import type { JobStatus } from '../job.js';

export interface Move {
  from: readonly JobStatus[];
  to: JobStatus;
  /** What becomes of the job's BullMQ job (the run queue's copy). */
  bullmq: string;
}

export const MOVES = {
  /** A new job: its record and its place in the tenant's intake, together. */
  submit: { from: [], to: 'queued', bullmq: 'none yet: dispatch adds it when a worker has a free slot' },
  /** A worker begins an attempt (or repeats one whose worker was lost: from running). */
  start: { from: ['queued', 'running'], to: 'running', bullmq: 'active, locked by the worker' },
  /** The attempt failed in a way a retry may fix: back to queued until next_attempt_at. */
  retryLater: { from: ['running'], to: 'queued', bullmq: 'delayed by the retry delay (an attempt spent)' },
  /** The worker is shutting down: back to queued without spending an attempt. */
  handBack: { from: ['running'], to: 'queued', bullmq: 'delayed to now (no attempt spent)' },
  succeed: { from: ['running'], to: 'succeeded', bullmq: 'completed, returning {status: "succeeded", session_id}' },
  /** A failure no retry fixes, or the last attempt's. Before start: e.g. its session is gone. */
  fail: { from: ['queued', 'running'], to: 'failed', bullmq: 'failed, its reason the error code' },
  /** By the caller (API) or an operator (the board's remove). */
  cancel: { from: ['queued', 'running'], to: 'canceled', bullmq: 'removed while waiting; a running one is stopped and completes as {status: "canceled"}' },
  /** Its workers died more often than WORKER_MAX_STALLED_COUNT. */
  recoverLost: { from: ['queued', 'running'], to: 'failed', bullmq: 'failed, reason worker_lost' },
  /** An operator's retry of a failed job (the board's retry): it runs again, dispatched as a new job. */
  reopen: { from: ['failed'], to: 'queued', bullmq: 'the failed job is removed; dispatch adds it again' },
} as const satisfies Record<string, Move>;

export type MoveName = keyof typeof MOVES;
