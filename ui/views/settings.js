// Settings: ingestion (site allowlist, bot filter, per-site rate limit), data
// retention, the geolocation database, the collector's API key mode and rate limits, each site's time
// zone, remote servers to pull events from, the local server's port
// (changeable in the desktop app), the tracker
// snippet and export links. Values saved here are stored in
// the database and in force at once; a value set by an environment variable is
// shown read-only with the variable's name.

import { h, show, errorBox, scroller } from '../dom.js';
import { getSettings, listSites, saveSettings, setSiteTimeZone } from '../api.js';
import { snippetBlock } from '../snippet.js';
import { timeZoneList } from './sites.js';
import { hostCard } from './host.js';
import { backupsCard } from './backups.js';
import { goalsCard } from './goals.js';
import { remotesCard } from './remotes.js';

const SOURCES = { default: 'Default', file: 'From the config file', dashboard: 'Saved here', env: 'Set by the environment' };

// name, label, kind, help
const GROUPS = [
  ['Ingestion', [
    ['site_ids', 'Site allowlist', 'list', 'One site id per line. When the list is not empty, only these sites may send events, and browsers only from their pages. Empty: every site.'],
    ['filter_bots', 'Filter bots', 'bool', 'Drop events from bots and crawlers (they are still counted in the metrics).'],
    ['rate_limit_per_site', 'Events per second per site (/api/event and /events)', 'number', '0 means unlimited.'],
    ['max_new_sites_per_day', 'New sites per day from events', 'number', 'Events for a site not seen before create it, up to this many a day (UTC); beyond, such events are refused until you add the site on the Sites screen. 0: only sites added by hand or on the allowlist.'],
  ]],
  ['Data', [
    ['retention_days', 'Keep data for (days)', 'number', '0 keeps everything. Older events and visits are deleted hourly, in small chunks.'],
    ['backup_every', 'Automatic backups', 'every', 'How often a checked copy of the database is written to the backup directory, while the app runs.'],
    ['backup_dir', 'Backup directory', 'path', 'Empty: backups/ in the data directory. Or the full path of a directory, e.g. on another disk.'],
    ['backup_keep', 'Backups to keep', 'number', 'The oldest automatic backups beyond this many are deleted.'],
  ]],
  ['Geolocation', [
    ['geoip_database', 'Geolocation database (.mmdb file)', 'path', 'Empty: the bundled country database (ip-location-db, CC BY 4.0). Or the full path of a GeoLite2 or DB-IP country or city database, which is read before it is saved; a city database adds the Regions and Cities of the Locations card for visits from then on. Addresses are looked up in memory and never stored.'],
  ]],
  ['Collector (/events, /s2s/events)', [
    ['api_key_mode', 'API key mode', 'mode', 'disabled: the bearer is the site id. tag: an lk_live_ key if one matches, else the site id. require: only active lk_live_ keys.'],
    ['rate_limit_ip_rps', 'Per-IP rate (requests/s)', 'number', ''],
    ['rate_limit_ip_burst', 'Per-IP burst', 'number', ''],
    ['rate_limit_key_rps', 'Per-key rate (requests/s)', 'number', ''],
    ['rate_limit_key_burst', 'Per-key burst', 'number', ''],
  ]],
];

function field(name, label, kind, help, setting) {
  const id = `setting-${name}`;
  const locked = !setting.editable;
  const common = { id, name, disabled: locked, 'aria-describedby': `${id}-help` };
  let input;
  if (kind === 'bool') {
    input = h('input', { ...common, type: 'checkbox', checked: setting.value === true });
  } else if (kind === 'list') {
    input = h('textarea', { ...common, rows: 3, spellcheck: 'false' }, setting.value.join('\n'));
  } else if (kind === 'path') {
    input = h('input', { ...common, type: 'text', value: setting.value, placeholder: name === 'backup_dir' ? '/path/to/backups' : '/path/to/GeoLite2-City.mmdb', spellcheck: 'false', autocomplete: 'off' });
  } else if (kind === 'mode') {
    input = h('select', common, ['disabled', 'tag', 'require'].map((m) => h('option', { value: m, selected: setting.value === m }, m)));
  } else if (kind === 'every') {
    input = h('select', common, ['off', 'hourly', 'daily', 'weekly'].map((m) => h('option', { value: m, selected: setting.value === m }, m)));
  } else {
    input = h('input', { ...common, type: 'number', min: 0, step: 1, inputmode: 'numeric', value: setting.value });
  }
  const source = locked
    ? h('span', { class: 'badge pinned' }, `Set by ${setting.env}: read-only here`)
    : h('span', { class: 'badge' }, SOURCES[setting.source] ?? setting.source);
  return h('div', { class: `setting${kind === 'bool' ? ' inline-setting' : ''}`, 'data-setting': name },
    kind === 'bool' ? h('label', { class: 'inline', for: id }, input, ` ${label}`) : [h('label', { for: id }, label), input],
    h('p', { class: 'muted small', id: `${id}-help` }, help, help ? ' ' : '', source));
}

function valueOf(form, name, kind) {
  const input = form.querySelector(`#setting-${name}`);
  if (kind === 'bool') return input.checked;
  if (kind === 'list') return input.value.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
  if (kind === 'mode' || kind === 'every') return input.value;
  if (kind === 'path') return input.value.trim();
  return input.value.trim() === '' ? NaN : Number(input.value);
}

function settingsForm(settings, message = '') {
  const status = h('p', { class: 'muted', id: 'settings-status', role: 'status' }, message);
  const error = h('div', { id: 'settings-error' });
  const form = h('form', { class: 'card', id: 'settings-form', novalidate: true },
    GROUPS.map(([title, fields]) => h('fieldset', {}, h('legend', {}, title),
      fields.map(([name, label, kind, help]) => field(name, label, kind, help, settings[name])))),
    error,
    h('div', { class: 'row' }, h('button', { type: 'submit', id: 'save-settings' }, 'Save settings'), status));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.replaceChildren();
    status.textContent = '';
    const changes = {};
    for (const [, fields] of GROUPS) {
      for (const [name, label, kind] of fields) {
        if (!settings[name].editable) continue;
        const value = valueOf(form, name, kind);
        if (Number.isNaN(value)) {
          error.replaceChildren(errorBox({ message: `Enter a whole number for “${label}”.` }));
          form.querySelector(`#setting-${name}`).focus();
          return;
        }
        if (JSON.stringify(value) !== JSON.stringify(settings[name].value)) changes[name] = value;
      }
    }
    if (!Object.keys(changes).length) {
      status.textContent = 'Nothing changed.';
      return;
    }
    try {
      const saved = await saveSettings(changes);
      // Redraw with the saved values and their new sources.
      const fresh = settingsForm(saved, 'Saved. The new values are in force now.');
      form.replaceWith(fresh);
      fresh.querySelector('#save-settings').focus();
    } catch (err) {
      error.replaceChildren(errorBox(err));
    }
  });
  return form;
}

function timeZones(sites) {
  if (!sites.length) return h('p', { class: 'muted' }, 'No sites yet.');
  const rows = sites.map((site) => {
    const id = `tz-${site.site_id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const input = h('input', { id, value: site.time_zone, list: 'settings-time-zones', autocomplete: 'off', 'aria-label': `Time zone of ${site.site_id}` });
    const result = h('span', { class: 'muted small', role: 'status' });
    const save = h('button', { type: 'button', class: 'secondary', 'data-save-tz': site.site_id }, 'Save');
    save.addEventListener('click', async () => {
      result.textContent = 'Saving… (stats are recomputed in the new zone)';
      try {
        const updated = await setSiteTimeZone(site.site_id, input.value.trim());
        result.textContent = `Saved: ${updated.time_zone}`;
      } catch (err) {
        result.replaceChildren(errorBox(err));
      }
    });
    return h('tr', { 'data-site': site.site_id }, h('th', { scope: 'row' }, site.site_id), h('td', {}, input), h('td', {}, save, ' ', result));
  });
  return h('div', {}, timeZoneList('settings-time-zones'), scroller(h('table', { id: 'time-zones-table' },
    h('caption', { class: 'visually-hidden' }, 'Time zone per site'),
    h('thead', {}, h('tr', {}, ['Site', 'Time zone', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows))));
}

function exportLinks(sites) {
  if (!sites.length) return h('p', { class: 'muted' }, 'Nothing to export yet.');
  const site = h('select', { id: 'export-site', 'aria-label': 'Site to export' }, sites.map((s) => h('option', { value: s.site_id }, s.site_id)));
  const period = h('select', { id: 'export-period', 'aria-label': 'Period to export' },
    [['30d', 'Last 30 days'], ['7d', 'Last 7 days'], ['90d', 'Last 90 days'], ['12mo', 'Last 12 months'], ['all', 'All time']].map(([v, l]) => h('option', { value: v }, l)));
  const csv = h('a', { class: 'button secondary', id: 'export-csv', download: '' }, 'Events (CSV)');
  const json = h('a', { class: 'button secondary', id: 'export-json', download: '' }, 'Events (JSON)');
  const daily = h('a', { class: 'button secondary', id: 'export-daily-csv', download: '' }, 'Daily totals (CSV)');
  const notes = h('a', { class: 'button secondary', id: 'export-notes-csv', download: '' }, 'Notes (CSV)');
  const update = () => {
    const query = (path, format) => `/api/stats/${path}?${new URLSearchParams({ site_id: site.value, period: period.value, format })}`;
    csv.href = query('export/events', 'csv');
    json.href = query('export/events', 'json');
    daily.href = query('export', 'csv');
    notes.href = `/api/annotations?${new URLSearchParams({ site_id: site.value, format: 'csv' })}`;
  };
  site.addEventListener('change', update);
  period.addEventListener('change', update);
  update();
  return h('div', { class: 'row' }, site, period, csv, json, daily, notes);
}

export async function renderSettings() {
  let settings;
  let sites;
  let host;
  let backups;
  show(h('h1', {}, 'Settings'), h('p', { class: 'loading', role: 'status' }, 'Loading settings…'));
  try {
    [settings, sites, host, backups] = await Promise.all([getSettings(), listSites(), hostCard(), backupsCard()]);
  } catch (err) {
    show(h('h1', {}, 'Settings'), errorBox(err));
    return;
  }
  const snippetSite = h('select', { id: 'snippet-site', 'aria-label': 'Site of the snippet' },
    (sites.length ? sites : [{ site_id: 'example.com' }]).map((s) => h('option', { value: s.site_id }, s.site_id)));
  const snippetHolder = h('div', {}, snippetBlock(snippetSite.value, 'settings-snippet'));
  snippetSite.addEventListener('change', () => snippetHolder.replaceChildren(snippetBlock(snippetSite.value, 'settings-snippet')));
  show(h('h1', {}, 'Settings'),
    h('p', { class: 'muted' }, 'Changes are saved in the database and apply at once. Environment variables win over values saved here (those settings are read-only below); values saved here win over the config file.'),
    settingsForm(settings),
    goalsCard(sites),
    backups,
    remotesCard(),
    host,
    h('section', { class: 'card' }, h('h2', {}, 'Time zone per site'),
      h('p', { class: 'muted small' }, 'Days and hours of a site’s stats follow its time zone. Changing it recomputes the site’s stats.'),
      timeZones(sites)),
    h('section', { class: 'card' }, h('h2', {}, 'Tracker snippet'), snippetSite, snippetHolder),
    h('section', { class: 'card', id: 'api-card' }, h('h2', {}, 'API'),
      h('p', { class: 'muted small' }, 'Scripts read the stats and manage keys over HTTP, as Mallard Metrics’ clients do. The OpenAPI 3.1 description lists every route, parameter and answer of both API families.'),
      h('p', {}, h('a', { href: '/api/openapi.json', id: 'openapi-link', target: '_blank', rel: 'noopener' }, 'OpenAPI description (openapi.json)'))),
    h('section', { class: 'card' }, h('h2', {}, 'Export'),
      h('p', { class: 'muted small' }, 'Every event of a site and period as CSV or JSON, its visitors and page views per day with the top page and source, or the notes on its charts.'), exportLinks(sites)));
  // #/settings?card=remotes (the desktop app's File → Pull from Remote
  // Servers…) scrolls to that card.
  const card = new URLSearchParams(window.location.hash.split('?')[1] ?? '').get('card');
  if (card) document.getElementById(card)?.scrollIntoView({ block: 'start' });
}
