// The sequences screen: the most common runs of consecutive steps (page views
// and custom events) within visits, with how many visits took each; a run
// opens as a funnel in one click. Length and rows are in the URL
// (#/sequences?…&length=3&limit=10).

import { sequences } from '../queries.js';
import { h } from '../dom.js';
import { number } from './dashboard.js';
import { bar, go, loadInto, renderScreen, statsQuery } from './behaviour.js';

function steps(run) {
  return h('ol', { class: 'path' }, run.map((step) => {
    const event = step.startsWith('event:');
    return h('li', { class: event ? 'path-step event' : 'path-step' }, event ? `★ ${step.slice(6)}` : step.replace(/^page:/, ''));
  }));
}

function table(state, data) {
  if (!data.results.length) {
    return h('p', { id: 'sequences-empty' }, `No visit in this period has ${data.length} steps or more. Try a shorter length or a longer period.`);
  }
  const top = Math.max(...data.results.map((row) => Number(row.visits)), 1);
  return h('div', { class: 'table-wrap' }, h('table', { id: 'sequences-table' },
    h('caption', { class: 'visually-hidden' }, `The most common paths of ${data.length} steps`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Path'), h('th', { scope: 'col', class: 'num' }, 'Visits'), h('th', { scope: 'col', class: 'num' }, 'Times'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
    h('tbody', {}, data.results.map((row, index) => h('tr', { 'data-rank': index + 1, 'data-steps': row.steps.join(';') },
      h('td', { class: 'path-cell' }, bar(Number(row.visits) / top, 'bar'), steps(row.steps)),
      h('td', { class: 'num' }, number(row.visits)),
      h('td', { class: 'num' }, number(row.occurrences)),
      h('td', {}, h('button', { type: 'button', class: 'secondary small-button', 'aria-label': `Open path ${index + 1} as a funnel`, onclick: () => go('funnel', state, { steps: row.steps.join(',') }) }, 'As funnel')))))));
}

export function renderSequences() {
  return renderScreen('sequences', 'Sequences', ['length', 'limit'], async (state, body) => {
    const length = state.query.get('length') ?? '3';
    const limit = state.query.get('limit') ?? '10';
    const lengths = h('select', { id: 'sequence-length' }, ['2', '3', '4', '5'].map((n) => h('option', { value: n, selected: n === length }, `${n} steps`)));
    const limits = h('select', { id: 'sequence-limit' }, [...new Set(['10', '25', '50', limit])].map((n) => h('option', { value: n, selected: n === limit }, `Top ${n}`)));
    const change = () => go('sequences', state, { length: lengths.value, limit: limits.value });
    lengths.addEventListener('change', change);
    limits.addEventListener('change', change);
    const out = h('div', { id: 'sequences-out' });
    body.append(h('section', { class: 'card' },
      h('div', { class: 'controls' },
        h('label', { class: 'inline', for: 'sequence-length' }, 'Path length: ', lengths),
        h('label', { class: 'inline', for: 'sequence-limit' }, 'Rows: ', limits)),
      h('p', { class: 'muted small' }, 'Runs of consecutive page views and custom events (★) within one visit; a reload counts once. Visits: visits that took the path; times: how often it was taken.'),
      out));
    await loadInto(out, async () => table(state, await sequences(statsQuery(state, { length, limit }))));
  });
}
