// Realtime: visitors of the last five minutes and the latest events of one
// site, refreshed every 5 seconds without a reload; polling pauses while the
// tab is hidden and stops when another screen opens.

import { h, show, errorBox, scroller } from '../dom.js';
import { listSites, recentEvents } from '../api.js';
import { isAbort, realtimeVisitors } from '../queries.js';
import { emptySite, renderHome } from './home.js';

const EVERY_MS = 5000;

function siteFromHash() {
  return new URLSearchParams(window.location.hash.split('?')[1] ?? '').get('site') ?? '';
}

function eventsTable(events) {
  if (!events.length) {
    return h('p', { class: 'muted', id: 'no-recent' }, 'No events in the last 30 minutes. Open a page with the tracker, or send the test event from the site’s empty dashboard.');
  }
  const cell = (value) => h('td', {}, value ?? '—');
  return scroller(h('table', { id: 'recent-events' },
    h('caption', { class: 'visually-hidden' }, 'Latest events, newest first'),
    h('thead', {}, h('tr', {}, ['Time', 'Event', 'Page', 'Source', 'Country', 'Browser'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, events.map((e) => h('tr', {},
      h('td', {}, h('time', { datetime: e.time }, new Date(e.time).toLocaleTimeString())),
      cell(e.name), cell(e.page), cell(e.source), cell(e.country), cell(e.browser))))));
}

/** Shows the screen; returns a function that stops the polling. */
export async function renderRealtime() {
  let sites;
  try {
    sites = await listSites();
  } catch (err) {
    show(h('h1', {}, 'Realtime'), errorBox(err));
    return () => {};
  }
  if (!sites.length) {
    renderHome();
    return () => {};
  }
  const current = sites.find((s) => s.site_id === siteFromHash()) ?? sites[0];
  const picker = h('select', { id: 'realtime-site', 'aria-label': 'Site' },
    sites.map((s) => h('option', { value: s.site_id, selected: s.site_id === current.site_id }, s.site_id)));
  picker.addEventListener('change', () => { window.location.hash = `#/realtime?site=${encodeURIComponent(picker.value)}`; });
  const count = h('div', { class: 'stat-value', id: 'live-count' }, '…');
  const updated = h('p', { class: 'muted small', id: 'live-updated', role: 'status' }, 'Loading…');
  const list = h('div', { id: 'recent' });
  show(h('h1', {}, 'Realtime'),
    h('div', { class: 'controls' }, picker, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), h('span', { class: 'muted' }, 'Updates every 5 seconds')),
    h('section', { class: 'stats', 'aria-label': 'Live visitors' },
      h('div', { class: 'stat', id: 'stat-live-now' }, h('div', { class: 'stat-label' }, 'Visitors in the last 5 minutes'), count)),
    current.has_events ? null : emptySite(current.site_id),
    h('h2', {}, 'Latest events'), list, updated);
  let timer = null;
  let stopped = false;
  let inflight = false;
  const tick = async () => {
    timer = null;
    if (stopped || inflight) return;
    if (document.hidden) return; // resumed by visibilitychange
    inflight = true;
    try {
      const [live, recent] = await Promise.all([realtimeVisitors(current.site_id), recentEvents(current.site_id)]);
      if (stopped) return;
      count.textContent = Number(live.visitors).toLocaleString('en-US');
      list.replaceChildren(eventsTable(recent.events));
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (stopped || isAbort(err)) return;
      list.replaceChildren(errorBox(err));
    } finally {
      inflight = false;
    }
    if (!stopped && !document.hidden) timer = setTimeout(tick, EVERY_MS);
  };
  const visibility = () => {
    if (!document.hidden && !stopped && timer === null && !inflight) tick();
    if (document.hidden && timer !== null) { clearTimeout(timer); timer = null; }
  };
  document.addEventListener('visibilitychange', visibility);
  await tick();
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    document.removeEventListener('visibilitychange', visibility);
  };
}
