// The counter's printable slip: the 打印 button prints the page (no inline script; the CSP allows 'self' only).
document.addEventListener('DOMContentLoaded', () => {
  for (const button of document.querySelectorAll('.print-button')) button.addEventListener('click', () => window.print());
});
