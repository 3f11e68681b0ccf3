// Imports: every import of traffic recorded elsewhere (server access logs,
// with `mallard import logs`), what it read and counted, and Undo, which
// removes exactly the visits and events it added (after a confirmation).

import { h, confirmDialog, errorBox, scroller } from '../dom.js';
import { listImports, undoImport } from '../api.js';

const when = (time) => (time ? new Date(time).toLocaleString() : '');
const day = (time) => (time ? time.slice(0, 10) : '');
const number = (n) => Number(n ?? 0).toLocaleString('en-US');

function undoButton(item, refresh, error) {
  const button = h('button', { type: 'button', class: 'danger', 'data-import': String(item.id), 'aria-label': `Undo import ${item.id}` }, 'Undo');
  button.addEventListener('click', async () => {
    const sure = await confirmDialog({
      title: `Undo import ${item.id}?`,
      text: `This removes the ${number(item.imported)} page views it added to ${item.site_id}, and the stats follow. Its files can be imported again.`,
      confirm: 'Undo import',
      id: 'confirm-undo-import',
    });
    if (!sure) return;
    try {
      await undoImport(item.id);
      await refresh();
    } catch (err) {
      error.replaceChildren(errorBox(err));
    }
  });
  return button;
}

function importsTable(imports, refresh, error) {
  if (!imports.length) {
    return h('p', { class: 'muted', id: 'no-imports' }, 'No imports yet. Import a server’s access logs with Import logs above, or with ',
      h('code', {}, 'mallard import logs --site example.com access.log'), '.');
  }
  return scroller(h('table', { id: 'imports-table' },
    h('caption', { class: 'visually-hidden' }, 'Imports'),
    h('thead', {}, h('tr', {}, ['Import', 'Site', 'Period', 'Page views', 'Lines', 'Files', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, imports.map((item) => h('tr', { 'data-import': String(item.id) },
      h('th', { scope: 'row' }, `#${item.id} (${item.kind === 'pull' ? 'pulled from a Mallard server' : item.format})`, h('div', { class: 'muted small' }, when(item.started_at))),
      h('td', {}, h('a', { href: `#/?site=${encodeURIComponent(item.site_id)}&period=custom&from=${day(item.first_event_at)}&to=${day(item.last_event_at)}` }, item.site_id)),
      h('td', {}, item.first_event_at ? `${day(item.first_event_at)} – ${day(item.last_event_at)}` : '—'),
      h('td', { class: 'num' }, number(item.imported)),
      h('td', { class: 'num', title: `${number(item.unparsed)} unreadable; skipped: ${Object.entries(item.skipped).map(([k, v]) => `${k} ${number(v)}`).join(', ') || 'none'}` }, number(item.lines)),
      h('td', {}, item.files.join(', ')),
      h('td', {}, item.undone_at
        ? h('span', { class: 'badge revoked', title: `Undone ${when(item.undone_at)}` }, 'Undone')
        : undoButton(item, refresh, error)))))));
}

/** The imports section of the Sites screen. */
export function importsSection() {
  const listing = h('div', { id: 'imports-listing' }, h('p', { class: 'loading', role: 'status' }, 'Loading imports…'));
  const error = h('div', { id: 'imports-error' });
  const refresh = async () => {
    try {
      listing.replaceChildren(importsTable(await listImports(), refresh, error));
    } catch (err) {
      listing.replaceChildren(errorBox(err));
    }
  };
  refresh();
  return h('section', { 'aria-labelledby': 'imports-title' }, h('h2', { id: 'imports-title' }, 'Imports'),
    h('p', {}, h('a', { href: '#/import', class: 'button', id: 'import-logs-link' }, 'Import logs…')), error, listing);
}
