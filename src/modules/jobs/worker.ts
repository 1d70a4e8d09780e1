import type { Logger } from '../../shared/logger.js';
import { registerJobQueue } from '../../shared/metrics.js';
import type { ClaimedJob, JobQueue } from './queue.js';

/** Delivers one job; throwing means the attempt failed (it is retried or parked). */
export type JobHandler = (payload: Record<string, unknown>) => Promise<void>;

export interface JobWorkerOptions {
  pollMs: number;
  /** Jobs claimed (and delivered in parallel) at once. */
  batch?: number;
}

/**
 * Runs in every instance: claims due jobs, delivers each outside any transaction (no connection is held during
 * an HTTP or SMTP call) and records the outcome. Woken at once after a local commit that enqueued a job, and
 * otherwise polls, which is how jobs enqueued by another instance or the admin CLI arrive.
 */
export class JobWorker {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = true;
  readonly #outcomes: ReturnType<typeof registerJobQueue>;

  constructor(
    private readonly queue: JobQueue,
    private readonly handlers: Record<string, JobHandler>,
    private readonly logger: Logger,
    private readonly options: JobWorkerOptions,
  ) {
    queue.onEnqueued(() => this.kick());
    // Issue #16: the queue's depth is read at scrape time; each outcome below is counted.
    this.#outcomes = registerJobQueue(() => queue.depth());
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#timer = setInterval(() => this.kick(), this.options.pollMs);
    this.#timer.unref();
    this.kick();
  }

  /** Runs the queue now (or right after the run in progress). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.kick();
      }
    });
  }

  async #loop(): Promise<void> {
    try {
      while (!this.#stopped && (await this.runOnce()) > 0) {
        /* until nothing is due */
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'job queue unavailable; retrying at the next poll');
    }
  }

  /** Claims one batch and delivers it; returns how many jobs were claimed. */
  async runOnce(): Promise<number> {
    const jobs = await this.queue.claim(this.options.batch ?? 10);
    await Promise.all(jobs.map((job) => this.#deliver(job)));
    return jobs.length;
  }

  async #deliver(job: ClaimedJob): Promise<void> {
    const handler = this.handlers[job.kind];
    try {
      if (!handler) throw new Error(`no handler for job kind ${job.kind}`);
      await handler(job.payload);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const state = await this.queue.fail(job, message);
      if (state === 'failed') this.#outcomes.failed(job.kind);
      else this.#outcomes.retried(job.kind);
      this.logger.warn(
        { jobId: job.id, kind: job.kind, attempt: job.attempts, of: job.maxAttempts, state, error: message },
        state === 'failed' ? 'job failed for good; parked for an operator' : 'job attempt failed; will retry',
      );
      return;
    }
    await this.queue.complete(job.id);
    this.#outcomes.completed(job.kind);
  }

  /** Stops polling and waits for the run in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running;
  }
}
