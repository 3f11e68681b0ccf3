// The flow screen: pick a page and see where its visits came from (the page
// before it, or the entrance) and went next (the page after, or the exit),
// with counts; any page in the flow opens its own flow. The page is in the URL
// (#/flow?…&page=/pricing).

import { flow, topPages } from '../queries.js';
import { h } from '../dom.js';
import { number } from './dashboard.js';
import { bar, go, loadInto, renderScreen, statsQuery } from './behaviour.js';

function side(state, title, id, rows) {
  if (!rows.length) return h('section', { class: 'flow-side', id }, h('h3', {}, title), h('p', { class: 'muted' }, 'None.'));
  const top = Math.max(...rows.map((row) => Number(row.visits)), 1);
  return h('section', { class: 'flow-side', id },
    h('h3', {}, title),
    h('table', { class: 'flow-table' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Page'), h('th', { scope: 'col', class: 'num' }, 'Visits'), h('th', { scope: 'col', class: 'num' }, 'Times'))),
      h('tbody', {}, rows.map((row) => {
        const special = row.value.startsWith('(');
        const name = special ? h('span', { class: 'muted' }, row.value)
          : h('button', { type: 'button', class: 'row-filter', title: `Show the flow of ${row.value}`, onclick: () => go('flow', state, { page: row.value }) }, row.value);
        return h('tr', { 'data-value': row.value },
          h('td', { class: 'flow-name' }, bar(Number(row.visits) / top, 'bar'), name),
          h('td', { class: 'num' }, number(row.visits)),
          h('td', { class: 'num' }, number(row.transitions)));
      }))));
}

function result(state, data) {
  if (!data.views) {
    return h('p', { id: 'flow-empty' }, `No visit viewed ${data.page} in this period. Paths match exactly (/pricing and /pricing/ differ); pick one of the suggestions or a longer period.`);
  }
  return h('div', { class: 'flow', id: 'flow-result' },
    side(state, 'Came from', 'flow-previous', data.previous),
    h('div', { class: 'flow-center', id: 'flow-page' },
      h('div', { class: 'flow-page-name' }, data.page),
      h('div', { class: 'small' }, `${number(data.visits)} visits · ${number(data.views)} views`)),
    side(state, 'Went next', 'flow-next', data.next));
}

export function renderFlow() {
  return renderScreen('flow', 'Flow', ['page'], async (state, body) => {
    const page = state.query.get('page') ?? '';
    const input = h('input', { type: 'text', id: 'flow-page-input', list: 'flow-pages', value: page, placeholder: '/pricing', spellcheck: 'false', autocomplete: 'off' });
    const suggestions = h('datalist', { id: 'flow-pages' });
    const message = h('p', { class: 'error', role: 'alert', hidden: true, id: 'flow-problem' });
    const form = h('form', { class: 'card', id: 'flow-form' },
      h('label', { for: 'flow-page-input' }, 'Page'), suggestions,
      h('div', { class: 'row flow-pick' }, input, h('button', { type: 'submit', id: 'show-flow' }, 'Show flow')),
      message);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const value = input.value.trim();
      const wrong = value.startsWith('/') ? null : 'A page path starts with “/”, e.g. /pricing.';
      message.hidden = !wrong;
      message.textContent = wrong ?? '';
      if (!wrong) go('flow', state, { page: value });
    });
    topPages(statsQuery(state, { limit: 20 }))
      .then((rows) => suggestions.replaceChildren(...rows.map((row) => h('option', { value: row.value }))))
      .catch(() => {});
    const out = h('div', { id: 'flow-out', class: 'card' });
    body.append(form, out);
    if (!page) {
      out.append(h('p', { class: 'muted', id: 'flow-hint' }, 'Type or pick a page to see the pages visitors viewed before and after it.'));
      return;
    }
    await loadInto(out, async () => result(state, await flow(statsQuery(state, { page }))));
  });
}
