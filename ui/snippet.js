// The tracking snippet and a test event for one site, with copy buttons: shown
// after adding a site, in settings, and in the empty state of a site without
// events.

import { h, copyButton } from './dom.js';

export function snippetText(siteId) {
  return `<script defer data-domain="${siteId}" src="${window.location.origin}/mallard.js"></script>`;
}

export function curlText(siteId) {
  const body = JSON.stringify({ d: siteId, n: 'pageview', u: `https://${siteId}/` });
  return `curl -X POST ${window.location.origin}/api/event -H 'Content-Type: application/json' -A 'Mozilla/5.0' \\\n  -d '${body}'`;
}

/** The two ways to send the first event, as a card body. */
export function snippetBlock(siteId, idPrefix = 'snippet') {
  const snippet = snippetText(siteId);
  const curl = curlText(siteId);
  return h('div', { class: 'snippet-block' },
    h('h3', {}, 'Add the tracker to your site'),
    h('p', {}, 'Put this in the <head> of every page. It is under 1 KB, sets no cookies and works on local dev servers too.'),
    h('pre', { id: idPrefix }, snippet),
    h('div', { class: 'row' }, copyButton(snippet, `copy-${idPrefix}`, 'the tracking snippet')),
    h('h3', {}, 'Or send a test event from a terminal'),
    h('pre', { id: `${idPrefix}-curl` }, curl),
    h('div', { class: 'row' }, copyButton(curl, `copy-${idPrefix}-curl`, 'the curl command')));
}
