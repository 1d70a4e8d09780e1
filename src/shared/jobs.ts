import type { Queryable, Transaction } from './db/database.js';

/** An effect that leaves the transaction (S-56): a back-channel logout to one RP, an SMS, an e-mail, a decoy. */
export interface NewJob {
  kind: string;
  payload: Record<string, unknown>;
}

/**
 * The port services depend on to have an effect happen after their transaction commits: the job is written in the
 * caller's transaction (rolled back with it) and delivered, with retries, by a worker of any running instance.
 */
export interface Jobs {
  enqueue(tx: Queryable | Transaction, jobs: NewJob | NewJob[]): Promise<void>;
}
