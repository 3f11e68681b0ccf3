// Revenue on the dashboard, for a site that has any in the period: a tile
// beside the top stats (the total of the currency with the most events, and
// how many other currencies there are) and a card with each currency's total,
// events and average per event, and a bar per day (or hour) of the series.
// Amounts of different currencies are never added up or converted.

import { h } from '../dom.js';

/** An amount (a decimal string) in `currency`, as the browser writes money. */
export function money(amount, currency) {
  const value = Number(amount);
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency, maximumFractionDigits: 2 }).format(value);
  } catch {
    // Not an ISO 4217 code, e.g. "(unknown)".
    return `${value.toLocaleString(undefined, { maximumFractionDigits: 2 })} ${currency}`;
  }
}

/** The Revenue tile; `report` is the answer of /api/stats/revenue. */
export function revenueTile(report) {
  const [first, ...others] = report.currencies;
  return h('div', { class: 'stat', id: 'stat-revenue' },
    h('div', { class: 'stat-label' }, 'Revenue'),
    h('div', { class: 'stat-value' }, money(first.total, first.currency)),
    others.length ? h('span', { class: 'change', title: others.map((c) => money(c.total, c.currency)).join(', ') }, `+ ${others.length} more currenc${others.length === 1 ? 'y' : 'ies'}`) : null);
}

/** A bar per bucket with revenue, tallest = the largest. */
function bars(currency) {
  const top = Math.max(...currency.data.map((point) => Number(point.total)), 0) || 1;
  return h('div', { class: 'revenue-bars', role: 'img', 'aria-label': `${currency.currency} revenue over the period` },
    currency.data.map((point) => {
      const bar = h('span', { class: 'revenue-bar', title: `${point.date}: ${money(point.total, currency.currency)} (${point.events} events)` });
      bar.style.height = `${Math.max((Number(point.total) / top) * 100, 2)}%`;
      return bar;
    }));
}

/** The Revenue card: one row and one chart per currency. */
export function revenueCard(report) {
  return h('section', { class: 'card', id: 'revenue-card', 'aria-label': 'Revenue' },
    h('h2', {}, 'Revenue'),
    h('table', { class: 'revenue-table', id: 'revenue-table' },
      h('thead', {}, h('tr', {}, ['Currency', 'Total', 'Events', 'Average'].map((t, i) => h('th', { scope: 'col', class: i ? 'num' : null }, t)))),
      h('tbody', {}, report.currencies.map((c) => h('tr', { 'data-currency': c.currency },
        h('td', {}, c.currency),
        h('td', { class: 'num' }, money(c.total, c.currency)),
        h('td', { class: 'num' }, Number(c.events).toLocaleString('en-US')),
        h('td', { class: 'num' }, money(c.average, c.currency)))))),
    report.currencies.map((c) => h('figure', { class: 'revenue-chart' }, h('figcaption', { class: 'muted small' }, `${c.currency} per ${report.interval}`), bars(c))));
}
