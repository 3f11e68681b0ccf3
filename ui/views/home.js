// The home screen: how to start collecting, with the tracker snippet and a test
// event to send.

import { h, show, copy } from '../dom.js';

export function renderHome() {
  const origin = window.location.origin;
  const snippet = `<script defer data-domain="example.com" src="${origin}/mallard.js"></script>`;
  const curl = `curl -X POST ${origin}/api/event -H 'Content-Type: application/json' -A 'Mozilla/5.0' \\\n  -d '{"d":"example.com","n":"pageview","u":"https://example.com/"}'`;
  const copySnippet = h('button', { type: 'button', class: 'secondary', id: 'copy-snippet' }, 'Copy');
  copySnippet.addEventListener('click', () => copy(snippet, copySnippet));
  show(h('h1', {}, 'Start collecting'),
    h('section', { class: 'card' },
      h('h2', {}, '1. Add the tracker to your site'),
      h('p', {}, 'Put this in the <head> of every page, with your site’s domain as data-domain. It is under 1 KB, sets no cookies and works on local dev servers too.'),
      h('pre', { id: 'snippet' }, snippet),
      h('div', { class: 'row' }, copySnippet),
      h('h2', {}, '2. Or send a test event'),
      h('pre', {}, curl),
      h('p', { class: 'muted' }, 'Events are stored in one SQLite file on this machine. IP addresses are never stored.')));
}
