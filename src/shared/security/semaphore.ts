/** Thrown by `Semaphore.run` when the queue is full: the caller answers 503 with Retry-After at once (S-28). */
export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

/**
 * Limits how many async operations run at once; the others wait in FIFO order, at most `maxQueue` of them. Beyond
 * that the work is refused at once instead of queued, so that one client cannot pile up unbounded costly work
 * (argon2) and delay everybody else's sign-in (S-28).
 */
export class Semaphore {
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly maxQueue: number = Number.POSITIVE_INFINITY,
  ) {}

  get pending(): number {
    return this.#waiting.length;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) {
      if (this.#waiting.length >= this.maxQueue) throw new QueueFullError('the queue is full');
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#active += 1;
    }
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next)
        next(); // hand the slot over directly
      else this.#active -= 1;
    }
  }
}
