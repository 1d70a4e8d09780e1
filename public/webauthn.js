// Passkeys (WebAuthn): a button with data-webauthn="register" or "authenticate" and the options from the server
// (data-options) asks the browser, then posts the answer in the hidden field `response` of its form. Uses
// @simplewebauthn/browser, loaded before this file from /webauthn/browser.js (no inline script: the CSP allows 'self').
document.addEventListener('DOMContentLoaded', () => {
  for (const button of document.querySelectorAll('[data-webauthn]')) {
    const form = document.getElementById(button.dataset.form);
    const failed = form && form.querySelector('.webauthn-error');
    if (!form || !window.SimpleWebAuthnBrowser || !window.SimpleWebAuthnBrowser.browserSupportsWebAuthn()) {
      button.disabled = true;
      if (failed) failed.hidden = false;
      continue;
    }
    button.addEventListener('click', async () => {
      const { startAuthentication, startRegistration } = window.SimpleWebAuthnBrowser;
      const optionsJSON = JSON.parse(button.dataset.options);
      try {
        const answer = button.dataset.webauthn === 'register' ? await startRegistration({ optionsJSON }) : await startAuthentication({ optionsJSON });
        form.querySelector('input[name="response"]').value = JSON.stringify(answer);
        form.submit();
      } catch {
        if (failed) failed.hidden = false;
      }
    });
  }
});
