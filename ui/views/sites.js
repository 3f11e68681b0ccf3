// Sites: add one (with its time zone) and get its tracking snippet; list the
// sites with their time zones (changed in Settings); delete a site with all
// its data, or the visits of a date range (each confirmed by typing the
// site's name); and the imports of traffic recorded elsewhere (./imports.js).

import { h, show, errorBox, scroller, confirmDialog } from '../dom.js';
import { addSite, listSites, deleteSite, deleteSiteData } from '../api.js';
import { snippetBlock } from '../snippet.js';
import { importsSection } from './imports.js';

/** The browser's own time zone, the default for a new site. */
export function browserTimeZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; }
}

/** A <datalist> of IANA time zone names for autocompletion. */
export function timeZoneList(id) {
  let zones = ['UTC'];
  try { zones = ['UTC', ...Intl.supportedValuesOf('timeZone')]; } catch { /* older browsers: type it */ }
  return h('datalist', { id }, zones.map((zone) => h('option', { value: zone })));
}

/** The add-site form; `onAdded(site)` runs after the server created it. */
export function addSiteForm(onAdded) {
  const site = h('input', { id: 'new-site', name: 'site_id', required: true, maxlength: 256, placeholder: 'example.com', autocomplete: 'off', 'aria-describedby': 'new-site-help' });
  const zone = h('input', { id: 'new-site-tz', name: 'time_zone', list: 'time-zones', value: browserTimeZone(), autocomplete: 'off' });
  const error = h('div', { id: 'add-site-error' });
  const form = h('form', { class: 'card', id: 'add-site', novalidate: true },
    h('h2', {}, 'Add a site'),
    h('label', { for: 'new-site' }, 'Site id (its domain)'), site,
    h('p', { class: 'muted small', id: 'new-site-help' }, 'Usually the domain without https://, e.g. example.com or localhost:3000. The tracker sends it as data-domain.'),
    h('label', { for: 'new-site-tz' }, 'Time zone (days and hours of its stats)'), zone, timeZoneList('time-zones'),
    error,
    h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Add site')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.replaceChildren();
    const id = site.value.trim().replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    if (!id) {
      error.replaceChildren(errorBox({ message: 'Enter the site’s domain, e.g. example.com.' }));
      site.focus();
      return;
    }
    try {
      const created = await addSite(id, zone.value.trim() || 'UTC');
      site.value = '';
      onAdded(created);
    } catch (err) {
      error.replaceChildren(errorBox(err));
    }
  });
  return form;
}

/** The card shown once a site was added: its snippet and a test event. */
export function addedCard(site) {
  return h('section', { class: 'card secret', id: 'site-added', 'aria-live': 'polite' },
    h('h2', {}, `${site.site_id} is ready`),
    h('p', {}, `Its stats use the time zone ${site.time_zone}. `,
      h('a', { href: `#/?site=${encodeURIComponent(site.site_id)}` }, 'Open its dashboard')),
    snippetBlock(site.site_id, 'site-snippet'));
}

/** Deletes `site` once the person typed its name; `done(message)` after. */
async function confirmSiteDeletion(site, done) {
  const sure = await confirmDialog({
    title: `Delete ${site}?`,
    text: `Every visit and event of ${site} is deleted, with its imports. This cannot be undone. If its pages still carry the tracking script, its next event adds it again as a new, empty site.`,
    confirm: 'Delete site',
    id: 'confirm-delete-site',
    typed: site,
  });
  if (!sure) return;
  try {
    await deleteSite(site);
    done(h('p', { class: 'notice', role: 'status', id: 'site-deleted' }, `${site} is deleted. Its data is purged in the background and the space it took given back.`));
  } catch (err) {
    done(errorBox(err, 'delete-site-error'));
  }
}

function sitesTable(sites, onDeleted) {
  if (!sites.length) return h('p', { class: 'muted', id: 'no-sites' }, 'No sites yet. Add one above, or just send events: a site appears with its first event.');
  return scroller(h('table', { id: 'sites-table' },
    h('caption', { class: 'visually-hidden' }, 'Sites'),
    h('thead', {}, h('tr', {}, ['Site', 'Time zone', 'Events', '', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, sites.map((s) => h('tr', { 'data-site': s.site_id },
      h('td', {}, s.site_id),
      h('td', {}, s.time_zone),
      h('td', {}, s.has_events ? 'Receiving events'
        : s.imported ? `Imported days only (${s.imported.first_date} – ${s.imported.last_date})`
          : h('span', { class: 'badge' }, 'No events yet')),
      h('td', {}, h('a', { href: `#/?site=${encodeURIComponent(s.site_id)}` }, 'Dashboard')),
      h('td', {}, h('button', {
        type: 'button',
        class: 'link danger delete-site',
        'aria-label': `Delete ${s.site_id}`,
        onclick: () => confirmSiteDeletion(s.site_id, onDeleted),
      }, 'Delete…')))))));
}

/** The form that deletes a site's visits between two dates; `onDeleted(message)` after. */
function deleteRangeForm(sites, onDeleted) {
  const site = h('select', { id: 'delete-range-site' }, sites.map((s) => h('option', { value: s.site_id }, s.site_id)));
  const from = h('input', { type: 'date', id: 'delete-range-from', required: true });
  const to = h('input', { type: 'date', id: 'delete-range-to', required: true });
  const result = h('div', { id: 'delete-range-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'card', id: 'delete-range', novalidate: true },
    h('h2', {}, 'Delete a date range'),
    h('p', { class: 'muted small' }, 'Deletes the visits that started on these days (in the site’s time zone), with all their events, and counts those days again from what is left.'),
    h('label', { for: 'delete-range-site' }, 'Site'), site,
    h('div', { class: 'row' },
      h('div', {}, h('label', { for: 'delete-range-from' }, 'From'), from),
      h('div', {}, h('label', { for: 'delete-range-to' }, 'To (included)'), to)),
    result,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'danger' }, 'Delete visits…')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    result.replaceChildren();
    if (!from.value || !to.value || from.value > to.value) {
      result.replaceChildren(errorBox({ message: 'Pick the first and the last day, the first not after the last.' }));
      return;
    }
    const sure = await confirmDialog({
      title: `Delete ${site.value}’s visits from ${from.value} to ${to.value}?`,
      text: 'The visits that started on these days are deleted with all their events. This cannot be undone.',
      confirm: 'Delete visits',
      id: 'confirm-delete-range',
      typed: site.value,
    });
    if (!sure) return;
    try {
      const deleted = await deleteSiteData(site.value, from.value, to.value);
      onDeleted(h('p', { class: 'notice', role: 'status', id: 'range-deleted' },
        `Deleted ${deleted.visits.toLocaleString()} visits (${deleted.events.toLocaleString()} events) of ${deleted.site_id}.`));
    } catch (err) {
      result.replaceChildren(errorBox(err));
    }
  });
  return form;
}

export async function renderSites() {
  const listing = h('div', { id: 'sites-listing' }, h('p', { class: 'loading', role: 'status' }, 'Loading sites…'));
  const deletion = h('div', { id: 'sites-deletion' });
  const status = h('div', { id: 'sites-status' });
  const added = h('div', { id: 'added' });
  const refresh = async () => {
    try {
      const sites = await listSites();
      const onDeleted = (message) => { status.replaceChildren(message); refresh(); };
      listing.replaceChildren(sitesTable(sites, onDeleted));
      deletion.replaceChildren(sites.length ? deleteRangeForm(sites, onDeleted) : '');
    } catch (err) {
      listing.replaceChildren(errorBox(err));
    }
  };
  show(h('h1', {}, 'Sites'),
    h('p', { class: 'muted' }, 'Every site you track. Change a site’s time zone under Settings.'),
    added,
    addSiteForm(async (site) => { added.replaceChildren(addedCard(site)); await refresh(); added.querySelector('h2')?.focus(); }),
    h('h2', {}, 'All sites'), status, listing,
    deletion,
    importsSection());
  await refresh();
}
