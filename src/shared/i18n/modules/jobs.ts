/** Messages of the operator console's job queue page (S-56). Merged into the catalogues by ../zh-CN.ts and ../en.ts. */
export const jobsZh = {
  'jobs.nav': '投递失败',
  'jobs.title': '投递失败的任务',
  'jobs.hint': '登出通知、短信和邮件在后台投递，失败后自动重试；多次重试仍失败的任务列在这里，可在排除故障后重试。',
  'jobs.counts': '待投递 {pending}，投递中 {running}，已完成 {done}，失败 {failed}',
  'jobs.kind': '类型',
  'jobs.target': '对象',
  'jobs.attempts': '尝试次数',
  'jobs.error': '最后一次错误',
  'jobs.retry': '重试',
  'jobs.retried': '已重新排队。',
  'jobs.none': '没有投递失败的任务。',
  'jobs.kind.backchannel_logout': '后台登出通知',
  'jobs.kind.notification': '短信或邮件',
} as const;

export const jobsEn: Record<keyof typeof jobsZh, string> = {
  'jobs.nav': 'Failed deliveries',
  'jobs.title': 'Failed deliveries',
  'jobs.hint':
    'Back-channel logouts, text messages and e-mails are delivered in the background and retried; those that still failed after every attempt are listed here and can be retried once the cause is fixed.',
  'jobs.counts': 'Pending {pending}, in delivery {running}, done {done}, failed {failed}',
  'jobs.kind': 'Kind',
  'jobs.target': 'Target',
  'jobs.attempts': 'Attempts',
  'jobs.error': 'Last error',
  'jobs.retry': 'Retry',
  'jobs.retried': 'Queued again.',
  'jobs.none': 'No failed deliveries.',
  'jobs.kind.backchannel_logout': 'Back-channel logout',
  'jobs.kind.notification': 'Text message or e-mail',
};
