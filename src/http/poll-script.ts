import { html, trusted, type SafeHtml } from './html.js';

/**
 * The script of a page that waits on something happening elsewhere (a phone scanning a QR code, a
 * wallet answering a presentation request). It asks `statusUrl` every second while the answer is
 * `pending`, then submits the form `formId`, whose POST shows the outcome; a failed poll retries
 * after 3 s. Without JavaScript the form's own button does the same by hand.
 *
 * `bearerField`: the form field whose value goes as a bearer token (a page that is not tied to a
 * cookie); without it the browser's cookies for this origin go instead.
 */
export function pollThenSubmit({ nonce, statusUrl, formId, bearerField }: { nonce: string; statusUrl: string; formId: string; bearerField?: string }): SafeHtml {
  const request = bearerField
    ? `{ headers: { authorization: 'Bearer ' + form.elements[${JSON.stringify(bearerField)}].value }, cache: 'no-store' }`
    : `{ credentials: 'same-origin', cache: 'no-store' }`;
  return html`<script nonce="${nonce}">
(function () {
  var form = document.getElementById(${trusted(JSON.stringify(formId))});
  function poll() {
    fetch(${trusted(JSON.stringify(statusUrl))}, ${trusted(request)})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.status === 'pending') return setTimeout(poll, 1000);
        form.submit();
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
})();
</script>`;
}
