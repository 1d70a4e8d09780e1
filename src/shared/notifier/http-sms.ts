import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { maskRecipient, type Notification, type Notifier } from './notifier.js';

export interface HttpSmsOptions {
  url: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token: string | undefined;
  timeoutMs: number;
  logger: Logger;
}

/**
 * SMS through an HTTP gateway: `POST <url>` with the JSON body `{"to": "13800138000", "text": "…"}`; any 2xx
 * answer means accepted. A refusal, an unreachable gateway or a timeout is logged (without the text, which may
 * carry a code) and surfaces to the user as `notifier_failed` (502).
 */
export class HttpSmsNotifier implements Notifier {
  constructor(private readonly options: HttpSmsOptions) {}

  async send(notification: Notification): Promise<void> {
    if (notification.channel !== 'sms') throw new Error(`the SMS gateway cannot send ${notification.channel}`);
    const log = { channel: 'sms', to: maskRecipient(notification.to), template: notification.template };
    let response: Response;
    try {
      response = await fetch(this.options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          accept: 'application/json, text/plain, */*',
          ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
        },
        body: JSON.stringify({ to: notification.to, text: notification.body }),
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      const timedOut = (error as { name?: string }).name === 'TimeoutError';
      this.options.logger.error({ ...log, err: error, timeoutMs: timedOut ? this.options.timeoutMs : undefined }, timedOut ? 'SMS gateway timed out' : 'SMS gateway unreachable');
      throw new AppError('notifier_failed');
    }
    const answer = await response.text().catch(() => '');
    if (!response.ok) {
      this.options.logger.error({ ...log, status: response.status, answer: answer.slice(0, 200) }, 'SMS gateway refused the message');
      throw new AppError('notifier_failed');
    }
    this.options.logger.info({ ...log, status: response.status }, 'notification sent (SMS gateway)');
  }
}
