// The sessions screen: the visits of the period, newest first, a page at a
// time (start in the site's time zone, duration, pages, entry and exit page,
// source, country, browser and device). The page and its size are in the
// URL (#/sessions?…&offset=25&limit=25).

import { sessionsList } from '../queries.js';
import { h } from '../dom.js';
import { duration, number } from './dashboard.js';
import { go, loadInto, localTime, renderScreen, statsQuery } from './behaviour.js';

const LIMIT = 25;

function list(state, data, offset, limit) {
  if (!data.results.length) {
    return h('p', { id: 'sessions-empty' }, offset ? 'No more visits: go back to the first page.' : 'No visits in this period. Pick a longer period, or remove a filter.');
  }
  const head = ['Started', 'Duration', 'Pages', 'Events', 'Entry → exit', 'Source', 'Country', 'Browser', 'Device'];
  const table = h('div', { class: 'table-wrap' }, h('table', { id: 'sessions-table' },
    h('caption', { class: 'visually-hidden' }, `Visits ${offset + 1} to ${offset + data.results.length}, newest first, times in ${data.time_zone}`),
    h('thead', {}, h('tr', {}, head.map((t, i) => h('th', { scope: 'col', class: [1, 2, 3].includes(i) ? 'num' : null }, t)))),
    h('tbody', {}, data.results.map((visit) => h('tr', { 'data-visit': visit.visit_id },
      h('td', { class: 'nowrap' }, localTime(visit.started_at, data.time_zone)),
      h('td', { class: 'num' }, duration(visit.duration_secs)),
      h('td', { class: 'num' }, number(visit.pageviews)),
      h('td', { class: 'num' }, number(visit.events)),
      h('td', { class: 'path-cell' }, visit.entry_page ?? '–', visit.exit_page && visit.exit_page !== visit.entry_page ? ` → ${visit.exit_page}` : '',
        visit.bounce ? [' ', h('span', { class: 'badge' }, 'bounce')] : null, visit.is_bot ? [' ', h('span', { class: 'badge' }, 'bot')] : null),
      h('td', {}, visit.source ?? 'Direct'),
      h('td', {}, visit.country ?? '–'),
      h('td', {}, visit.browser ?? '–'),
      h('td', {}, visit.device))))));
  const newer = h('button', { type: 'button', class: 'secondary', id: 'sessions-newer', disabled: offset === 0, onclick: () => go('sessions', state, { offset: Math.max(0, offset - limit) || '', limit: limit === LIMIT ? '' : limit }) }, '← Newer');
  const older = h('button', { type: 'button', class: 'secondary', id: 'sessions-older', disabled: data.next_offset === null, onclick: () => go('sessions', state, { offset: data.next_offset, limit: limit === LIMIT ? '' : limit }) }, 'Older →');
  return [table, h('div', { class: 'row pager' }, newer,
    h('span', { class: 'muted', id: 'sessions-range', role: 'status' }, `Visits ${number(offset + 1)}–${number(offset + data.results.length)}`), older)];
}

export function renderSessions() {
  return renderScreen('sessions', 'Sessions', ['limit'], async (state, body) => {
    const offset = Math.max(0, Number.parseInt(state.query.get('offset') ?? '0', 10) || 0);
    const limit = Math.min(1000, Math.max(1, Number.parseInt(state.query.get('limit') ?? '', 10) || LIMIT));
    const out = h('section', { class: 'card', id: 'sessions-out' });
    body.append(out);
    await loadInto(out, async () => list(state, await sessionsList(statsQuery(state, { limit, offset })), offset, limit));
  });
}
