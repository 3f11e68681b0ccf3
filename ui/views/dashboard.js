// The analytics dashboard for one site: period and comparison, top stats,
// the timeseries chart (a plotters SVG from the server) and breakdown cards.
// Clicking a row filters everything; the whole view lives in the URL hash
// (#/?site=…&period=…&filters=…), so it can be bookmarked and reloaded.
// Stats requests go through queries.js: a change of view (period, filters,
// site, screen) aborts those in flight, and so does a change of a card's tab
// for that card's request; an aborted request shows nothing. A view asks
// for everything it first shows in one request (/api/stats/view: top stats,
// chart and the first tab of every card): filtered, counted in one pass
// over the period; unfiltered, each panel read from the rollups, the
// server answering them on two cores at once.

import { api } from '../api.js';
import { isAbort, statsGet, viewSignal } from '../queries.js';
import { revenueCard, revenueTile } from './revenue.js';
import { chartNotes } from './annotations.js';
import { h, show, errorBox } from '../dom.js';
import { emptySite, renderHome } from './home.js';

// For the filter-click benchmark (tests/bin/filter_click.rs): each panel
// (top stats, chart, every breakdown card's body) is stamped with
// `data-drawn-at`, the `performance.now()` at which it showed its data or its
// error.
const markDrawn = (panel) => { panel.dataset.drawnAt = String(performance.now()); };

export const PERIODS = [['today', 'Today'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days'], ['90d', 'Last 90 days'], ['12mo', 'Last 12 months'], ['all', 'All time'], ['custom', 'Custom range']];

// Breakdown cards: each tab names a dimension and the filter a row click adds.
// The `map` tab draws the countries on a world map (a plotters SVG); a click
// on a shaded country adds its filter. Regions and cities are known only
// with a city database (Settings → Geolocation); without one they list
// every visit as "(unknown)". The `props` tab lists the custom property
// keys; a click on one lists its values, and a click on a value adds its
// `props.KEY` filter. The `goals` tab lists the site's goals (Settings →
// Goals) with their conversions.
const CARDS = [
  { title: 'Pages', tabs: [['pages', 'Top pages', 'page', 'pageviews'], ['entry_pages', 'Entry pages', 'entry_page', 'visits'], ['exit_pages', 'Exit pages', 'exit_page', 'visits']] },
  { title: 'Sources', tabs: [['sources', 'Sources', 'source', 'visits'], ['referrers', 'Referrers', 'referrer', 'visits'], ['utm_source', 'UTM source', 'utm_source', 'visits'], ['utm_medium', 'UTM medium', 'utm_medium', 'visits'], ['utm_campaign', 'UTM campaign', 'utm_campaign', 'visits'], ['utm_term', 'UTM term', 'utm_term', 'visits'], ['utm_content', 'UTM content', 'utm_content', 'visits']] },
  { title: 'Locations', tabs: [['countries', 'Countries', 'country', 'visits'], ['regions', 'Regions', 'region', 'visits'], ['cities', 'Cities', 'city', 'visits'], ['map', 'Map', 'country', 'visitors']] },
  { title: 'Devices', tabs: [['browsers', 'Browsers', 'browser', 'visits'], ['os', 'Operating systems', 'os', 'visits'], ['devices', 'Devices', 'device', 'visits'], ['screen_sizes', 'Screen sizes', 'screen_size', 'visits']] },
  { title: 'Goals', tabs: [['events', 'Custom events', 'event', 'events'], ['props', 'Properties', null, 'events'], ['goals', 'Goals', null, 'visitors']] },
];

/** The view state, read from and written to the URL hash. */
export function readState() {
  const query = new URLSearchParams(window.location.hash.split('?')[1] ?? '');
  return {
    site: query.get('site') ?? '',
    period: query.get('period') ?? '30d',
    from: query.get('from') ?? '',
    to: query.get('to') ?? '',
    compare: query.get('compare') === '1',
    filters: (query.get('filters') ?? '').split(';').filter(Boolean),
    // Imported daily aggregates count unless switched off (`imported=0`).
    imported: query.get('imported') !== '0',
  };
}

function writeState(state) {
  const query = new URLSearchParams();
  if (state.site) query.set('site', state.site);
  query.set('period', state.period);
  if (state.period === 'custom') { query.set('from', state.from); query.set('to', state.to); }
  if (state.compare) query.set('compare', '1');
  if (state.filters.length) query.set('filters', state.filters.join(';'));
  if (state.imported === false) query.set('imported', '0');
  window.location.hash = `#/?${query}`;
}

/** Sets the entries of `values` on `query`, leaving out empty ones. */
export function setPresent(query, values) {
  for (const [key, value] of Object.entries(values)) {
    if (value !== '' && value !== null && value !== undefined) query.set(key, value);
  }
  return query;
}

/** Query parameters for the stats API; empty `extra` values are left out. */
export function statsQuery(state, extra = {}) {
  const query = new URLSearchParams({ site_id: state.site });
  if (state.period === 'custom') {
    query.set('start_date', state.from);
    query.set('end_date', nextDay(state.to));
  } else {
    query.set('period', state.period);
  }
  if (state.filters.length) query.set('filters', state.filters.join(';'));
  if (state.imported !== false) query.set('with_imported', 'true');
  return setPresent(query, extra);
}

export function nextDay(date) {
  const day = new Date(`${date}T00:00:00Z`);
  day.setUTCDate(day.getUTCDate() + 1);
  return day.toISOString().slice(0, 10);
}

export const number = (n) => Number(n ?? 0).toLocaleString('en-US');
export const percent = (n) => `${Number(n ?? 0).toFixed(1)}%`;
/** A fraction from 0 to 1 (every `*_rate` of the API) as a percentage. */
export const rate = (f) => percent(Number(f ?? 0) * 100);
export function duration(seconds) {
  const s = Math.round(Number(seconds ?? 0));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

function change(current, previous, lowerIsBetter = false) {
  if (previous === undefined || previous === null) return null;
  if (Number(previous) === 0) return current > 0 ? h('span', { class: 'change up' }, 'new') : null;
  const delta = ((Number(current) - Number(previous)) / Number(previous)) * 100;
  const good = lowerIsBetter ? delta <= 0 : delta >= 0;
  return h('span', { class: `change ${good ? 'up' : 'down'}`, title: 'Change against the previous period' },
    `${delta >= 0 ? '↑' : '↓'} ${Math.abs(delta).toFixed(0)}%`);
}

function topStats(main, live) {
  const previous = main.previous ?? {};
  const tiles = [
    ['Unique visitors', number(main.unique_visitors), change(main.unique_visitors, previous.unique_visitors), 'stat-visitors'],
    ['Visits', number(main.visits), change(main.visits, previous.visits), 'stat-visits'],
    ['Pageviews', number(main.total_pageviews), change(main.total_pageviews, previous.total_pageviews), 'stat-pageviews'],
    ['Views per visit', Number(main.views_per_visit ?? 0).toFixed(2), change(main.views_per_visit, previous.views_per_visit), 'stat-views-per-visit'],
    ['Bounce rate', rate(main.bounce_rate), change(main.bounce_rate, previous.bounce_rate, true), 'stat-bounce'],
    ['Visit duration', duration(main.avg_visit_duration_secs), change(main.avg_visit_duration_secs, previous.avg_visit_duration_secs), 'stat-duration'],
    ['Live now', number(live.visitors), null, 'stat-live'],
  ];
  return h('section', { class: 'stats', 'aria-label': 'Top stats' },
    tiles.map(([label, value, delta, id]) => h('div', { class: 'stat', id },
      h('div', { class: 'stat-label' }, label),
      h('div', { class: 'stat-value' }, value),
      delta)));
}

function filterChips(state) {
  if (!state.filters.length) return null;
  return h('div', { class: 'chips', id: 'filters', 'aria-label': 'Active filters' },
    state.filters.map((filter) => {
      const remove = h('button', { type: 'button', class: 'chip', title: 'Remove this filter', 'data-filter': filter },
        filter.replace('==', ' is ').replace('!=', ' is not '), ' ×');
      remove.addEventListener('click', () => writeState({ ...state, filters: state.filters.filter((f) => f !== filter) }));
      return remove;
    }));
}

/** The chart's numbers as a table: its text alternative (`view`: the answer of the view, if any). */
async function chartTable(state, details, signal, view) {
  try {
    const points = view?.timeseries ?? await statsGet(`/api/stats/timeseries?${statsQuery(state)}`, { signal });
    details.append(h('div', { class: 'table-wrap' }, h('table', { id: 'chart-data' },
      h('caption', { class: 'visually-hidden' }, `Visitors and pageviews per ${view?.interval ?? 'point of the chart'}`),
      h('thead', {}, h('tr', {}, ['Date', 'Visitors', 'Pageviews'].map((t, i) => h('th', { scope: 'col', class: i ? 'num' : null }, t)))),
      h('tbody', {}, points.map((row) => h('tr', {}, h('td', {}, row.date), h('td', { class: 'num' }, number(row.visitors)), h('td', { class: 'num' }, number(row.pageviews))))))));
  } catch (err) {
    if (!isAbort(err)) details.append(errorBox(err));
  }
}

const chartTheme = () => (window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
const CHART_SIZE = { width: 1100, height: 320 };

/** The chart; `view` is the answer of /api/stats/view when the view asked for one. */
function chart(state, signal, view) {
  const theme = chartTheme();
  const drawing = h('div', { class: 'chart-drawing' }, h('p', { class: 'loading' }, 'Drawing chart…'));
  const details = h('details', { class: 'chart-data' }, h('summary', {}, 'Show the chart’s numbers as a table'));
  details.addEventListener('toggle', () => { if (details.open && !details.querySelector('table, .error-box')) chartTable(state, details, signal, view); });
  const holder = h('figure', { class: 'card chart', id: 'chart', 'aria-labelledby': 'chart-caption' },
    h('figcaption', { id: 'chart-caption', class: 'visually-hidden' }, 'Visitors and pageviews over the period; the numbers are in the table below the chart.'),
    drawing, details);
  (async () => {
    try {
      const text = view?.chart_svg ?? await statsGet(`/api/stats/chart/timeseries.svg?${statsQuery(state, { theme, ...CHART_SIZE })}`, { signal, text: true });
      drawing.replaceChildren(importSvg(text));
      // Notes: listed under the chart, added by a click on a day.
      const redraw = () => holder.replaceWith(chart(state, signal, null));
      drawing.after(await chartNotes(state.site, drawing, redraw));
    } catch (err) {
      if (!isAbort(err)) drawing.replaceChildren(errorBox(err));
    }
    markDrawn(holder);
  })();
  return holder;
}

/** A server-drawn SVG, sized by its container and exposed as one image. */
function importSvg(text) {
  const svg = new DOMParser().parseFromString(text, 'image/svg+xml').documentElement;
  svg.removeAttribute('width');
  svg.removeAttribute('height');
  svg.setAttribute('role', 'img');
  return document.importNode(svg, true);
}

/** The world map of the view's visitors; a click on a country calls `pick` with its code. */
async function worldMap(state, signal, pick) {
  const text = await statsGet(`/api/stats/chart/map.svg?${statsQuery(state, { theme: chartTheme(), width: 800, height: 400 })}`, { signal, text: true });
  const svg = importSvg(text);
  svg.id = 'world-map';
  // Its shaded countries are buttons, so the map is a group, not one image.
  svg.setAttribute('role', 'group');
  for (const country of svg.querySelectorAll('.mm-country')) {
    country.setAttribute('tabindex', '0');
    country.setAttribute('role', 'button');
    country.addEventListener('click', () => pick(country.dataset.key));
    country.addEventListener('keydown', (event) => { if (event.key === 'Enter' || event.key === ' ') pick(country.dataset.key); });
  }
  return h('div', { class: 'map-drawing' }, svg);
}

/**
 * The rows of a breakdown answer as a table of buttons with bars; a click on
 * a row's value calls `pick` with it.
 */
function breakdownTable(rows, dimension, label, metric, pick) {
  const top = Math.max(...rows.map((row) => Number(row[metric] ?? 0)), 1);
  return h('table', { class: 'breakdown', 'data-dimension': dimension },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, label), h('th', { scope: 'col', class: 'num' }, metric))),
    h('tbody', {}, rows.map((row) => {
      const link = h('button', { type: 'button', class: 'row-filter', title: `Show only ${row.value}` }, row.value);
      link.addEventListener('click', () => pick(row.value));
      const bar = h('span', { class: 'bar' });
      bar.style.width = `${(Number(row[metric] ?? 0) / top) * 100}%`;
      return h('tr', {}, h('td', {}, bar, link), h('td', { class: 'num' }, number(row[metric])));
    })));
}

/**
 * The Properties tab: the custom property keys of the view; a click on a key
 * shows its values (with a way back to the keys), a click on a value adds
 * its `props.KEY==VALUE` filter.
 */
async function propertiesTab(state, signal, body, addFilter) {
  const keys = await statsGet(`/api/stats/props?${statsQuery(state, { limit: 50 })}`, { signal });
  if (!keys.length) return h('p', { class: 'muted' }, 'No custom properties in this period.');
  const showKeys = () => body.replaceChildren(breakdownTable(keys, 'props', 'Property', 'events', showValues));
  async function showValues(key) {
    body.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
    try {
      const values = await statsGet(`/api/stats/breakdown/props/${encodeURIComponent(key)}?${statsQuery(state, { limit: 10 })}`, { signal });
      const back = h('button', { type: 'button', class: 'link props-back' }, '← All properties');
      back.addEventListener('click', showKeys);
      body.replaceChildren(back, breakdownTable(values, `props/${key}`, key, 'events', (value) => addFilter(`props.${key}`, value)));
    } catch (err) {
      if (!isAbort(err)) body.replaceChildren(errorBox(err));
    }
  }
  return breakdownTable(keys, 'props', 'Property', 'events', showValues);
}

/**
 * The Goals tab: each goal's unique and total conversions and conversion
 * rate; a click on a goal adds its `goal==NAME` filter.
 */
async function goalsTab(state, signal, addNamedFilter) {
  const goals = await statsGet(`/api/stats/goals?${statsQuery(state, state.compare ? { compare: 'previous' } : {})}`, { signal });
  if (!goals.length) {
    return h('p', { class: 'muted', id: 'no-goals' }, 'No goals yet. ',
      h('a', { href: '#/settings' }, 'Add one in Settings → Goals'), ': a custom event, or visits to pages such as /blog/*.');
  }
  // Revenue per currency, never added up: "EUR 25.5 (12.75 each)".
  const withRevenue = goals.some((goal) => goal.revenue?.length);
  const revenueText = (goal) => (goal.revenue ?? []).map((r) => `${r.currency} ${r.total} (${r.average} each)`).join(' · ');
  const titles = ['Goal', 'Uniques', 'Total', 'Conversion rate', ...(withRevenue ? ['Revenue'] : [])];
  return h('table', { class: 'goals-table' },
    h('thead', {}, h('tr', {}, titles.map((title, index) => h('th', { scope: 'col', class: index ? 'num' : null }, title)))),
    h('tbody', {}, goals.map((goal) => h('tr', { 'data-goal': goal.goal },
      h('td', {}, h('button', { type: 'button', class: 'link goal-filter', title: `Filter by the goal ${goal.goal}`, onclick: () => addNamedFilter('goal', goal.goal) }, goal.goal)),
      h('td', { class: 'num' }, number(goal.unique_conversions), goal.previous ? change(goal.unique_conversions, goal.previous.unique_conversions) : null),
      h('td', { class: 'num' }, number(goal.total_conversions), goal.previous ? change(goal.total_conversions, goal.previous.total_conversions) : null),
      h('td', { class: 'num' }, `${(goal.conversion_rate * 100).toFixed(1)}%`, goal.previous ? change(goal.conversion_rate, goal.previous.conversion_rate) : null),
      withRevenue ? h('td', { class: 'num goal-revenue' }, revenueText(goal)) : null))));
}

/** A breakdown card; `first` is the view's answer for its first tab, if any. */
function breakdownCard(card, state, signal, first) {
  let active = 0;
  // The view's answer serves the first tab once; later clicks ask anew.
  let prefetched = first;
  // The request of the tab shown; a click on another tab aborts it.
  let shown = null;
  const body = h('div', { class: 'breakdown-body' });
  const tabs = card.tabs.map(([dimension, label], index) => {
    const tab = h('button', { type: 'button', role: 'tab', class: 'tab', 'data-dimension': dimension, 'aria-selected': String(index === 0) }, label);
    tab.addEventListener('click', () => { active = index; load(); });
    return tab;
  });
  async function load() {
    tabs.forEach((tab, index) => tab.setAttribute('aria-selected', String(index === active)));
    const [dimension, , filterName, metric] = card.tabs[active];
    body.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
    shown?.abort();
    shown = new AbortController();
    const addNamedFilter = (name, value) => {
      const filter = `${name}==${value}`;
      if (!state.filters.includes(filter)) writeState({ ...state, filters: [...state.filters, filter] });
    };
    const addFilter = (value) => addNamedFilter(filterName, value);
    try {
      if (dimension === 'map') {
        body.replaceChildren(await worldMap(state, AbortSignal.any([signal, shown.signal]), addFilter));
        markDrawn(body);
        return;
      }
      if (dimension === 'goals') {
        body.replaceChildren(await goalsTab(state, AbortSignal.any([signal, shown.signal]), addNamedFilter));
        markDrawn(body);
        return;
      }
      if (dimension === 'props') {
        body.replaceChildren(await propertiesTab(state, AbortSignal.any([signal, shown.signal]), body, addNamedFilter));
        markDrawn(body);
        return;
      }
      const data = (active === 0 && prefetched) || await statsGet(`/api/stats/breakdown/${dimension}?${statsQuery(state, { limit: 10 })}`, { signal: AbortSignal.any([signal, shown.signal]) });
      prefetched = null;
      if (!data.length) {
        body.replaceChildren(h('p', { class: 'muted' }, 'Nothing in this period.'));
        markDrawn(body);
        return;
      }
      body.replaceChildren(breakdownTable(data, dimension, card.tabs[active][1], metric, addFilter));
    } catch (err) {
      if (!isAbort(err)) body.replaceChildren(errorBox(err));
    }
    markDrawn(body);
  }
  load();
  return h('section', { class: 'card breakdown-card', 'aria-label': card.title },
    h('div', { class: 'tabs', role: 'tablist' }, tabs), body);
}

/**
 * The site and period pickers shared by the dashboard and the behaviour
 * screens: `[site, period, custom range]`; a change calls `navigate` with the
 * new state.
 */
export function sitePeriodPickers(state, sites, navigate) {
  const site = h('select', { id: 'site', 'aria-label': 'Site' }, sites.map((s) => h('option', { value: s.site_id, selected: s.site_id === state.site }, s.site_id)));
  site.addEventListener('change', () => navigate({ ...state, site: site.value, filters: [] }));
  const period = h('select', { id: 'period', 'aria-label': 'Period' }, PERIODS.map(([value, label]) => h('option', { value, selected: value === state.period }, label)));
  const today = new Date().toISOString().slice(0, 10);
  const from = h('input', { type: 'date', id: 'from', 'aria-label': 'From', value: state.from || today, max: today });
  const to = h('input', { type: 'date', id: 'to', 'aria-label': 'To (inclusive)', value: state.to || today, max: today });
  const custom = h('span', { class: 'custom', hidden: state.period !== 'custom' }, from, '–', to);
  period.addEventListener('change', () => {
    if (period.value === 'custom') { custom.hidden = false; return; }
    navigate({ ...state, period: period.value });
  });
  for (const input of [from, to]) {
    input.addEventListener('change', () => {
      if (from.value && to.value && from.value <= to.value) navigate({ ...state, period: 'custom', from: from.value, to: to.value });
    });
  }
  return [site, period, custom];
}

function controls(state, sites) {
  const [site, period, custom] = sitePeriodPickers(state, sites, writeState);
  const compare = h('input', { type: 'checkbox', id: 'compare', checked: state.compare });
  compare.addEventListener('change', () => writeState({ ...state, compare: compare.checked }));
  const exportQuery = (format) => {
    const query = state.period === 'custom'
      ? { site_id: state.site, start_date: state.from, end_date: nextDay(state.to), format }
      : { site_id: state.site, period: state.period, format };
    return `/api/stats/export/events?${new URLSearchParams(query)}`;
  };
  return h('div', { class: 'controls' }, site, period, custom,
    h('label', { class: 'inline', for: 'compare' }, compare, ' Compare with previous period'),
    h('span', { class: 'spacer' }),
    h('a', { href: '#/sites', id: 'add-site-link' }, '+ Add a site'),
    h('span', { class: 'exports' }, 'Export: ',
      h('a', { href: exportQuery('csv'), id: 'export-csv', download: '' }, 'CSV'), ' · ',
      h('a', { href: exportQuery('json'), id: 'export-json', download: '' }, 'JSON')));
}

/**
 * What the dashboard says about a site's imported daily aggregates (a
 * Plausible export): their days, what never counts them, and a switch.
 */
function importedNote(state, imported) {
  const toggle = h('input', { type: 'checkbox', id: 'with-imported', checked: state.imported });
  toggle.addEventListener('change', () => writeState({ ...state, imported: toggle.checked }));
  const days = `${imported.first_date} – ${imported.last_date}`;
  const limits = state.filters.length
    ? 'With a filter on, only native data counts: imported days are daily totals that cannot be filtered.'
    : 'Regions, cities, screen sizes, properties, hourly charts and the behaviour screens count native data only.';
  return h('p', { class: 'notice small', id: 'imported-note', role: 'note' },
    h('label', { class: 'inline', for: 'with-imported' }, toggle, ' Include imported data'),
    ` (daily totals imported from Plausible, ${days}; a day with native data counts natively). `, limits);
}

export async function renderDashboard() {
  const state = readState();
  const signal = viewSignal();
  let sites;
  try {
    sites = await api('GET', '/api/sites', undefined, { signal });
  } catch (err) {
    if (!isAbort(err)) show(h('h1', {}, 'Dashboard'), errorBox(err));
    return;
  }
  // Another view began meanwhile: it draws the screen.
  if (signal.aborted) return;
  if (!sites.length) {
    renderHome();
    return;
  }
  if (!sites.some((s) => s.site_id === state.site)) {
    writeState({ ...state, site: sites[0].site_id });
    return;
  }
  const selected = sites.find((s) => s.site_id === state.site);
  show(h('h1', { class: 'visually-hidden' }, `Dashboard for ${state.site}`),
    controls(state, sites), h('p', { class: 'loading', id: 'stats-loading', role: 'status' }, 'Loading stats…'));
  const main = document.getElementById('main');
  if (selected.imported) main.querySelector('.controls')?.after(importedNote(state, selected.imported));
  if (!selected.has_events && !selected.imported) {
    document.getElementById('stats-loading')?.remove();
    main.append(emptySite(state.site));
    return;
  }
  const compare = state.compare ? { compare: 'previous' } : {};
  // The whole first screen in one request.
  const viewQuery = () => statsQuery(state, {
    ...compare, limit: 10, chart: 'svg', theme: chartTheme(), ...CHART_SIZE,
    breakdowns: CARDS.map((card) => card.tabs[0][0]).join(','),
  });
  try {
    const [live, view] = await Promise.all([
      statsGet(`/api/stats/realtime?${statsQuery(state)}`, { signal }),
      statsGet(`/api/stats/view?${viewQuery()}`, { signal }),
    ]);
    document.getElementById('stats-loading')?.remove();
    main.append(filterChips(state) ?? '', topStats(view.main, live), chart(state, signal, view),
      h('div', { class: 'cards' }, CARDS.map((card) => breakdownCard(card, state, signal, view?.breakdowns[card.tabs[0][0]]))));
    // For tests and the first-load benchmark: when the numbers showed.
    document.documentElement.dataset.statsShownAt = String(Math.round(performance.now()));
    markDrawn(main.querySelector('.stats'));
    // Revenue, for a site that has any: asked after the first view, so it
    // never holds it up.
    statsGet(`/api/stats/revenue?${statsQuery(state)}`, { signal }).then((report) => {
      if (!report?.currencies?.length) return;
      const tile = revenueTile(report);
      main.querySelector('#stat-live')?.before(tile);
      main.querySelector('#chart')?.after(revenueCard(report));
      markDrawn(tile);
    }).catch(() => {});
  } catch (err) {
    if (!isAbort(err)) document.getElementById('stats-loading')?.replaceWith(errorBox(err));
  }
}
