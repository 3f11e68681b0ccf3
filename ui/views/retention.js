// The retention screen: weekly cohorts of visitors (by the week of their first
// visit in the period) against the weeks after, as a table whose cells are
// shaded by the share that came back and show that share and its count.
// The number of weeks is in the URL (#/retention?…&weeks=8).

import { retention } from '../queries.js';
import { h } from '../dom.js';
import { number, rate } from './dashboard.js';
import { go, loadInto, renderScreen, statsQuery } from './behaviour.js';

const WEEKS = ['4', '8', '12', '26'];

function cell(entry, week, size) {
  if (!size) return h('td', { class: 'ret-cell ret-future', 'data-week': week }, h('span', { 'aria-hidden': 'true' }, '–'), h('span', { class: 'visually-hidden' }, 'no visitors'));
  if (entry.visitors === null) {
    return h('td', { class: 'ret-cell ret-future', 'data-week': week }, h('span', { 'aria-hidden': 'true' }, '–'), h('span', { class: 'visually-hidden' }, 'not yet'));
  }
  const td = h('td', { class: 'ret-cell', 'data-week': week, title: `${number(entry.visitors)} visitors (${rate(entry.rate)}) came back in week ${week}` },
    h('span', { class: 'ret-pct' }, rate(entry.rate)), ' ',
    h('span', { class: 'ret-count' }, number(entry.visitors)));
  td.style.setProperty('--share', String(Number(entry.rate)));
  return td;
}

function grid(cohorts, count) {
  if (!cohorts.length) {
    return h('p', { id: 'retention-empty' }, 'No visits in this period. Pick a longer period, or remove a filter.');
  }
  const weeks = Array.from({ length: count }, (_, i) => i + 1);
  return h('div', { class: 'table-wrap' }, h('table', { class: 'retention', id: 'retention-grid' },
    h('caption', { class: 'visually-hidden' }, 'Share and number of each weekly cohort’s visitors who visited again 1 or more weeks later'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Cohort (week of)'), h('th', { scope: 'col', class: 'num' }, 'Visitors'),
      weeks.map((week) => h('th', { scope: 'col', class: 'num' }, `Week ${week}`)))),
    h('tbody', {}, cohorts.map((cohort) => h('tr', { 'data-cohort': cohort.cohort_date },
      h('th', { scope: 'row' }, cohort.cohort_date),
      h('td', { class: 'num ret-size' }, number(cohort.visitors)),
      cohort.retention.map((entry) => cell(entry, entry.week, Number(cohort.visitors))))))));
}

export function renderRetention() {
  return renderScreen('retention', 'Retention', ['weeks'], async (state, body) => {
    const weeks = state.query.get('weeks') ?? '4';
    const choice = h('select', { id: 'retention-weeks' }, [...new Set([...WEEKS, weeks])].map((w) => h('option', { value: w, selected: w === weeks }, `${w} weeks`)));
    choice.addEventListener('change', () => go('retention', state, { weeks: choice.value }));
    const out = h('div', { id: 'retention-out' });
    body.append(h('section', { class: 'card' },
      h('div', { class: 'controls' }, h('label', { class: 'inline', for: 'retention-weeks' }, 'Weeks after the first: ', choice)),
      h('p', { class: 'muted small' }, 'Each row is the visitors whose first visit in the period fell in that week (Monday to Sunday); each cell is how many of them visited again that many weeks later. The browser tracker gives a visitor a new id every day, so its visitors never come back here; visitors of SDKs that keep an anon_id do.'),
      out));
    await loadInto(out, async () => grid(await retention(statsQuery(state, { weeks })), Number(weeks)));
  });
}
