// 获取验证码 countdown: a button with data-countdown="60" stays disabled for that many seconds, its label showing
// the wait (data-wait-label, "{seconds}" replaced). Only a convenience: the server enforces the wait anyway.
document.addEventListener('DOMContentLoaded', () => {
  for (const button of document.querySelectorAll('button[data-countdown]')) {
    let seconds = Number(button.dataset.countdown) || 0;
    if (seconds <= 0) continue;
    const label = button.textContent;
    const wait = button.dataset.waitLabel || '{seconds}';
    const tick = () => {
      if (seconds <= 0) {
        button.disabled = false;
        button.textContent = label;
        return;
      }
      button.disabled = true;
      button.textContent = wait.replace('{seconds}', String(seconds));
      seconds -= 1;
      setTimeout(tick, 1000);
    };
    tick();
  }
});
