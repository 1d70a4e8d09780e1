import nodemailer, { type Transporter } from 'nodemailer';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { maskRecipient, type Notification, type Notifier } from './notifier.js';

export interface SmtpOptions {
  /** nodemailer connection URL: `smtp://user:password@host:587` (STARTTLS when offered) or `smtps://…:465`. */
  url: string;
  from: string;
  timeoutMs: number;
  logger: Logger;
}

/**
 * E-mail through an SMTP server (nodemailer), plain text in UTF-8. Failures are logged and surface to the user as
 * `notifier_failed` (502).
 */
export class SmtpNotifier implements Notifier {
  readonly #transport: Transporter;

  constructor(private readonly options: SmtpOptions) {
    this.#transport = nodemailer.createTransport({ url: options.url, connectionTimeout: options.timeoutMs, greetingTimeout: options.timeoutMs, socketTimeout: options.timeoutMs });
  }

  async send(notification: Notification): Promise<void> {
    if (notification.channel !== 'email') throw new Error(`SMTP cannot send ${notification.channel}`);
    const log = { channel: 'email', to: maskRecipient(notification.to), template: notification.template };
    try {
      await this.#transport.sendMail({
        from: this.options.from,
        to: notification.to,
        subject: notification.subject ?? notification.body.split('\n')[0]!.slice(0, 80),
        text: notification.body,
      });
    } catch (error) {
      this.options.logger.error({ ...log, err: error }, 'SMTP server did not accept the message');
      throw new AppError('notifier_failed');
    }
    this.options.logger.info(log, 'notification sent (SMTP)');
  }

  close(): void {
    this.#transport.close();
  }
}
