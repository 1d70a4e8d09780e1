import { currentStep, totpCode, TOTP_STEP_SECONDS } from '../../src/shared/security/totp.js';
import { Browser, type Page } from './browser.js';

/**
 * An authenticator app for tests: codes from the secret shown at enrolment. Each code is of a step later than the
 * one used before (the provider refuses replays), within the ±1 step the check allows, waiting for the next step
 * only when that window is used up.
 */
export class TestAuthenticator {
  #last = -Infinity;

  constructor(readonly secret: string) {}

  async code(): Promise<string> {
    for (;;) {
      const now = currentStep(new Date());
      const step = Math.max(this.#last + 1, now - 1);
      if (step <= now + 1) {
        this.#last = step;
        return totpCode(this.secret, step);
      }
      await new Promise((resolve) => setTimeout(resolve, TOTP_STEP_SECONDS * 1000 - (Date.now() % (TOTP_STEP_SECONDS * 1000)) + 20));
    }
  }

  /** A code of a step already used: what a replayed code looks like. */
  replay(): string {
    return totpCode(this.secret, this.#last);
  }
}

/** Enrols an authenticator in the account centre (the browser is signed in, freshly) and returns it with the recovery codes. */
export async function enrolTotp(browser: Browser): Promise<{ authenticator: TestAuthenticator; recoveryCodes: string[]; page: Page }> {
  const enrol = await browser.get('/account/security/totp');
  const secret = enrol.html.querySelector('#totp-secret')?.text.replace(/\s+/g, '');
  if (!secret) throw new Error(`no TOTP secret on ${enrol.url}:\n${Browser.text(enrol).slice(0, 800)}`);
  const authenticator = new TestAuthenticator(secret);
  const page = await browser.submit(enrol, 'form#totp-confirm', { totp: await authenticator.code() });
  const recoveryCodes = page.html.querySelectorAll('#recovery-codes code').map((node) => node.text.trim());
  if (recoveryCodes.length === 0) throw new Error(`no recovery codes after enrolment:\n${Browser.text(page).slice(0, 800)}`);
  return { authenticator, recoveryCodes, page };
}
