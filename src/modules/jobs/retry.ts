import type { Database } from '../../shared/db/database.js';
import { AppError } from '../../shared/errors.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { JobQueue } from './queue.js';

/** An operator's retry of a job parked as failed (S-56), audited in the same transaction; console and API alike. */
export class JobRetry {
  constructor(
    private readonly db: Database,
    private readonly jobs: Pick<JobQueue, 'retry'>,
    private readonly audit: Pick<AuditLog, 'record'>,
  ) {}

  async retry(id: string, context: AuditContext): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (!(await this.jobs.retry(id, tx))) throw new AppError('not_found');
      await this.audit.record(context, { action: 'job.retry', target: { type: 'job', id } }, tx);
    });
  }
}
