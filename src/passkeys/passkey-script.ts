/**
 * The browser half of a passkey ceremony, inlined (under the page's CSP nonce) into the pages that
 * offer one. Progressive enhancement: the button starts `hidden` and shows only where WebAuthn is
 * available, so the page without JavaScript is the same page minus the passkey.
 *
 * The markup it expects: a button `[data-passkey="register"|"authenticate"]` with
 * `data-options` (POST, CSRF field of the form), `data-form` (the form to submit, with `csrf` and
 * `credential` fields) and `data-status` (a hidden message shown when the ceremony fails).
 * Binary fields travel as base64url, in the WebAuthn Level 3 JSON shape.
 */
export const passkeyScript = `(() => {
  const button = document.querySelector('[data-passkey]');
  if (!button || !window.PublicKeyCredential || !navigator.credentials) return;
  const form = document.getElementById(button.dataset.form);
  const status = document.getElementById(button.dataset.status);
  const decode = (s) => {
    const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4);
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  };
  const encode = (buffer) => {
    let text = '';
    for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
    return btoa(text).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  };
  const withIds = (list) => (list || []).map((c) => ({ ...c, id: decode(c.id) }));
  const serialise = (credential) => {
    const r = credential.response;
    const response = r.attestationObject
      ? { clientDataJSON: encode(r.clientDataJSON), attestationObject: encode(r.attestationObject), transports: r.getTransports ? r.getTransports() : undefined }
      : { clientDataJSON: encode(r.clientDataJSON), authenticatorData: encode(r.authenticatorData), signature: encode(r.signature), userHandle: r.userHandle ? encode(r.userHandle) : undefined };
    return JSON.stringify({
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      response,
    });
  };
  button.hidden = false;
  button.addEventListener('click', async () => {
    button.disabled = true;
    if (status) status.hidden = true;
    try {
      const answer = await fetch(button.dataset.options, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf: form.elements.csrf.value }),
      });
      if (!answer.ok) throw new Error('options refused');
      const options = await answer.json();
      options.challenge = decode(options.challenge);
      let credential;
      if (button.dataset.passkey === 'register') {
        options.user.id = decode(options.user.id);
        options.excludeCredentials = withIds(options.excludeCredentials);
        credential = await navigator.credentials.create({ publicKey: options });
      } else {
        options.allowCredentials = withIds(options.allowCredentials);
        credential = await navigator.credentials.get({ publicKey: options });
      }
      form.elements.credential.value = serialise(credential);
      form.submit();
    } catch {
      button.disabled = false;
      if (status) status.hidden = false;
    }
  });
})();`;
