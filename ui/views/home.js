// The first screen before any site exists: add a site and get its snippet, or
// just send a test event (a site appears with its first event).

import { h, show } from '../dom.js';
import { snippetBlock } from '../snippet.js';
import { addSiteForm, addedCard } from './sites.js';

export function renderHome() {
  const added = h('div', { id: 'added' });
  show(h('h1', {}, 'Start collecting'),
    h('p', { class: 'muted' }, 'No events yet. Add your site to get its snippet, or send a test event: a site also appears with its first event. Events are stored in one SQLite file on this machine; IP addresses are never stored.'),
    added,
    addSiteForm((site) => { added.replaceChildren(addedCard(site)); added.querySelector('h2')?.focus(); }),
    h('section', { class: 'card' }, h('h2', {}, 'The tracker, for any site'), snippetBlock('example.com')));
}

/** The empty state of a site that has no events yet. */
export function emptySite(siteId) {
  return h('section', { class: 'card', id: 'empty-site' },
    h('h2', {}, `No events from ${siteId} yet`),
    h('p', {}, 'Once the tracker runs on a page, or you send the test event below, the numbers show here (reload or wait a few seconds on the Realtime screen).'),
    snippetBlock(siteId, 'empty-snippet'));
}
