import type { Queryable } from '../../shared/db/database.js';

/** What the operator dashboard charts, hour by hour over the last 24 hours, from the audit log. */
export const DASHBOARD_SERIES = ['sign_ins', 'failures', 'lockouts', 'codes', 'appeals'] as const;
/** Jobs parked as failed after their last attempt, from the job queue (not the audit log). */
export type DashboardSeries = (typeof DASHBOARD_SERIES)[number] | 'failed_jobs';

const SIGN_IN_ACTIONS = ['person.sign_in', 'unit.sign_in', 'operator.sign_in'];
export const HOURS = 24;

export interface Bar {
  x: number;
  y: number;
  width: number;
  height: number;
  value: number;
  /** Hours before now at which the bar's hour starts (23 … 0). */
  hoursAgo: number;
}

export interface Chart {
  series: DashboardSeries;
  total: number;
  max: number;
  bars: Bar[];
  width: number;
  height: number;
  baseline: number;
}

export interface Dashboard {
  charts: Chart[];
  pendingAppeals: number;
  /** Jobs parked as failed now (all of them, not only the last 24 h's), for the link to /operator/jobs. */
  failedJobs: number;
  from: Date;
  to: Date;
}

export const CHART = { width: 480, height: 120, axis: 16 } as const;

/** Geometry of a bar chart of 24 hourly values, oldest first (pure; drawn by views/operator/dashboard.njk as SVG). */
export function barChart(series: DashboardSeries, values: number[]): Chart {
  const max = Math.max(1, ...values);
  const slot = CHART.width / values.length;
  const baseline = CHART.height - CHART.axis;
  const bars = values.map((value, index) => {
    const height = Math.round((value / max) * (baseline - 4) * 10) / 10;
    return {
      x: Math.round(index * slot * 10) / 10 + 1,
      y: Math.round((baseline - height) * 10) / 10,
      width: Math.round((slot - 2) * 10) / 10,
      height,
      value,
      hoursAgo: values.length - 1 - index,
    };
  });
  return { series, total: values.reduce((sum, value) => sum + value, 0), max, bars, width: CHART.width, height: CHART.height, baseline };
}

/**
 * Counts of the last 24 hours per hour: successful and failed sign-ins (all account kinds), lockouts imposed,
 * counter authorisation codes issued, appeals filed; jobs parked as failed (from the job queue); and the appeals
 * pending and the jobs failed now. One indexed range scan of the
 * audit log (audit_event_at).
 */
export interface JobStats {
  counts(): Promise<{ failed: number }>;
  failedPerHour(hours: number): Promise<number[]>;
}

/** The operator dashboard's data, built once with what it reads (the audit log, appeals and the job queue). */
export class OperatorDashboard {
  constructor(
    private readonly db: Queryable,
    private readonly jobs: JobStats,
    private readonly now: () => Date,
  ) {}

  lastDay(): Promise<Dashboard> {
    return lastDay(this.db, this.jobs, this.now());
  }
}

export async function lastDay(db: Queryable, jobs: JobStats, now: Date): Promise<Dashboard> {
  const from = new Date(now.getTime() - HOURS * 3600 * 1000);
  const { rows } = await db.query<Record<DashboardSeries, number> & { ago: number }>(
    `SELECT floor(extract(epoch FROM ($1::timestamptz - at)) / 3600)::int AS ago,
       count(*) FILTER (WHERE action = ANY($3) AND outcome = 'success')::int AS sign_ins,
       count(*) FILTER (WHERE action = ANY($3) AND outcome = 'failure')::int AS failures,
       count(*) FILTER (WHERE action = 'sign_in.lockout')::int AS lockouts,
       count(*) FILTER (WHERE action = 'unit.code_issue')::int AS codes,
       count(*) FILTER (WHERE action = 'appeal.submit')::int AS appeals
     FROM audit_event WHERE at > $2 AND at <= $1 GROUP BY 1`,
    [now, from, SIGN_IN_ACTIONS],
  );
  const pending = await db.query<{ count: number }>("SELECT count(*)::int AS count FROM appeal WHERE status = 'pending'");
  const charts = DASHBOARD_SERIES.map((series) => {
    const values = new Array<number>(HOURS).fill(0);
    for (const row of rows) if (row.ago >= 0 && row.ago < HOURS) values[HOURS - 1 - row.ago] = row[series];
    return barChart(series, values);
  });
  charts.push(barChart('failed_jobs', await jobs.failedPerHour(HOURS)));
  const { failed } = await jobs.counts();
  return { charts, pendingAppeals: pending.rows[0]?.count ?? 0, failedJobs: failed, from, to: now };
}
