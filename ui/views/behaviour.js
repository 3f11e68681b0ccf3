// The Behaviour section's frame: its tabs (funnel, retention, flow, sequences,
// sessions), the site and period pickers and filter chips shared with the
// dashboard, and the URL hash every screen keeps its state in
// (#/funnel?site=…&period=…&filters=…&steps=…), so a view can be bookmarked.
// A screen's stats requests (queries.js) belong to its view: they are
// aborted when the view changes, and an aborted one shows nothing.

import { listSites } from '../api.js';
import { isAbort, viewSignal } from '../queries.js';
import { h, show, errorBox } from '../dom.js';
import { readState as readShared, setPresent, sitePeriodPickers, statsQuery } from './dashboard.js';
import { emptySite, renderHome } from './home.js';

// The behaviour screens build their API queries as the dashboard does.
export { statsQuery };

export const SCREENS = [['funnel', 'Funnel'], ['retention', 'Retention'], ['flow', 'Flow'], ['sequences', 'Sequences'], ['sessions', 'Sessions']];

/** The shared state (site, period, filters) plus the screen's own parameters. */
export function readState() {
  const query = new URLSearchParams(window.location.hash.split('?')[1] ?? '');
  return { ...readShared(), query };
}

/** The shared part of the hash query: what the dashboard and every screen keep. */
export function sharedQuery(state) {
  const query = new URLSearchParams();
  if (state.site) query.set('site', state.site);
  query.set('period', state.period);
  if (state.period === 'custom') { query.set('from', state.from); query.set('to', state.to); }
  if (state.filters.length) query.set('filters', state.filters.join(';'));
  return query;
}

/** Opens `route` with the shared state and the screen's own parameters. */
export function go(route, state, own = {}) {
  window.location.hash = `#/${route}?${setPresent(sharedQuery(state), own)}`;
}

/** A date-time in the site's time zone, as `2024-03-04 10:00`. */
export function localTime(iso, timeZone) {
  const options = { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' };
  try {
    return new Date(iso).toLocaleString('sv-SE', { ...options, timeZone });
  } catch {
    return new Date(iso).toLocaleString('sv-SE', { ...options, timeZone: 'UTC' });
  }
}

/** A horizontal bar `share` (0..1) wide, decoration only. */
export function bar(share, className = 'hbar') {
  const element = h('span', { class: className, 'aria-hidden': 'true' });
  element.style.width = `${Math.max(0, Math.min(1, share)) * 100}%`;
  return element;
}

function tabs(route, state) {
  return h('nav', { class: 'subnav', 'aria-label': 'Behaviour' },
    SCREENS.map(([name, label]) => h('a', {
      href: `#/${name}?${sharedQuery(state)}`, id: `tab-${name}`, 'aria-current': name === route ? 'page' : null,
    }, label)));
}

function controls(route, state, sites, own) {
  const keep = Object.fromEntries(own.map((key) => [key, state.query.get(key) ?? '']));
  const [site, period, custom] = sitePeriodPickers(state, sites, (next) => go(route, next, keep));
  const chips = state.filters.length ? h('div', { class: 'chips', id: 'filters', 'aria-label': 'Active filters' },
    state.filters.map((filter) => h('button', {
      type: 'button', class: 'chip', title: 'Remove this filter', 'data-filter': filter,
      onclick: () => go(route, { ...state, filters: state.filters.filter((f) => f !== filter) }, keep),
    }, filter.replace('==', ' is ').replace('!=', ' is not '), ' ×'))) : null;
  return [h('div', { class: 'controls' }, site, period, custom), chips];
}

/**
 * Shows screen `route` titled `title`: loads the sites, keeps the shared
 * state valid, draws the tabs and pickers, then lets `fill(state, body)` draw
 * the screen into `body`. `own` names the screen's parameters that survive a
 * change of site, period or filters.
 */
export async function renderScreen(route, title, own, fill) {
  const state = readState();
  const signal = viewSignal();
  let sites;
  try {
    sites = await listSites({ signal });
  } catch (err) {
    if (!isAbort(err)) show(h('h1', {}, title), errorBox(err));
    return;
  }
  // Another view began meanwhile: it draws the screen. (Otherwise `fill`
  // starts its requests in this same turn, still in this view.)
  if (signal.aborted) return;
  if (!sites.length) {
    renderHome();
    return;
  }
  if (!sites.some((s) => s.site_id === state.site)) {
    const keep = Object.fromEntries(own.map((key) => [key, state.query.get(key) ?? '']));
    go(route, { ...state, site: sites[0].site_id }, keep);
    return;
  }
  const body = h('div', { class: 'behaviour-body', id: `${route}-screen` });
  show(h('h1', {}, `${title} `, h('span', { class: 'muted site-name' }, `· ${state.site}`)),
    tabs(route, state), controls(route, state, sites, own), body);
  if (!sites.find((s) => s.site_id === state.site).has_events) {
    body.append(emptySite(state.site));
    return;
  }
  await fill(state, body);
}

/** Runs `load` with a loading line in `holder`, then shows its result or the error in words. */
export async function loadInto(holder, load) {
  holder.replaceChildren(h('p', { class: 'loading', role: 'status' }, 'Loading…'));
  try {
    holder.replaceChildren(...[await load()].flat().filter(Boolean));
  } catch (err) {
    if (!isAbort(err)) holder.replaceChildren(errorBox(err));
  }
}
