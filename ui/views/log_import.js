// Import server logs, a GoatCounter CSV export or a Plausible CSV export
// (#/import): choose the
// site, the format and what to leave out, then pick the files. In the desktop app the files are picked in
// the native dialog (POST /api/host/import-logs); a browser cannot hand the
// server a path, so elsewhere the screen shows the `mallard import logs`
// command to run instead. While the import runs the screen shows its
// progress (bytes read, time left, lines and what was skipped) with Cancel,
// and at the end a summary that links to the imported period. The job id is
// kept in the hash (#/import?job=N) so a reload keeps watching it.

import { h, show, errorBox } from '../dom.js';
import { api, listSites } from '../api.js';

const FORMATS = [
  ['auto', 'Detect from the first lines'], ['combined', 'Combined (nginx, Apache)'], ['common', 'Common (CLF)'],
  ['combined-vhost', 'Combined with virtual host'], ['caddy', 'Caddy (JSON)'], ['cloudfront', 'Amazon CloudFront'], ['bunny', 'Bunny CDN'],
  ['goatcounter', 'GoatCounter CSV export (version 2)'],
  ['plausible', 'Plausible CSV export (zip)'],
];
/** What an import's `imported` count counts, by the format it read. */
const IMPORTED_UNIT = { 'goatcounter-csv-2': 'events', 'plausible-csv': 'daily rows' };
const number = (n) => Number(n ?? 0).toLocaleString('en-US');
const POLL_MS = 400;

function hashParams() {
  return new URLSearchParams(window.location.hash.split('?')[1] ?? '');
}

/** "3 min 20 s" for a number of seconds. */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function skippedList(skipped) {
  const entries = Object.entries(skipped ?? {}).filter(([, count]) => count > 0);
  if (!entries.length) return h('li', {}, 'Nothing skipped');
  return entries.map(([reason, count]) => h('li', { 'data-skipped': reason }, `Skipped, ${reason}: ${number(count)}`));
}

function countsBlock(counts, format) {
  return h('ul', { class: 'import-counts' },
    h('li', { id: 'import-lines' }, `${number(counts?.lines)} lines read`),
    h('li', { id: 'import-imported' }, `${number(counts?.imported)} ${IMPORTED_UNIT[format] ?? 'page views'} imported`),
    h('li', { id: 'import-unparsed' }, `${number(counts?.unparsed)} unreadable lines`),
    skippedList(counts?.skipped));
}

/** The running job: a bar of the bytes read, the time left, the counts. */
function progressView(job, started) {
  const total = job.bytes_total ?? 0;
  const done = Math.min(job.bytes_done ?? 0, total);
  const fraction = total > 0 ? done / total : 0;
  const elapsed = (Date.now() - started) / 1000;
  const rate = elapsed > 0 ? (job.counts?.lines ?? 0) / elapsed : 0;
  const left = fraction > 0.01 ? duration(elapsed * (1 - fraction) / fraction) : 'estimating…';
  return h('div', { id: 'import-progress' },
    h('p', {}, job.file ? `Reading ${job.file}` : 'Starting…'),
    h('progress', { id: 'import-bar', max: '1', value: String(fraction), 'aria-label': 'Import progress' }),
    h('p', { class: 'muted', id: 'import-eta' }, `${Math.round(fraction * 100)}% · ${number(Math.round(rate))} lines/s · time left: ${left}`),
    countsBlock(job.counts, job.format));
}

function periodLink(site, counts) {
  const from = counts?.first_event_at?.slice(0, 10);
  const to = counts?.last_event_at?.slice(0, 10);
  if (!from || !to) return null;
  return h('a', { id: 'import-period', href: `#/?site=${encodeURIComponent(site)}&period=custom&from=${from}&to=${to}` },
    `Open ${site} for ${from} – ${to}`);
}

const OUTCOMES = { read: 'read', resumed: 'read from where an earlier import stopped', known: 'nothing new (imported before)', unreadable: 'unreadable' };

/** The report of a finished (or cancelled) job. */
function summaryView(job, site) {
  const title = job.status === 'cancelled' ? `Import ${job.import_id} stopped` : `Import ${job.import_id} finished`;
  return h('section', { class: 'card', id: 'import-summary', 'aria-live': 'polite' },
    h('h2', {}, title),
    job.status === 'cancelled' ? h('p', {}, job.format === 'plausible-csv'
      ? 'Nothing of the export was kept: import it again to bring it in whole.'
      : 'What was read so far is imported. Import the same files again to go on from there, or undo it below the list of imports.') : null,
    h('p', { class: 'muted' }, `Format: ${job.format}${job.detected ? ' (detected)' : ''}`),
    h('ul', { id: 'import-files' }, (job.files ?? []).map((file) => h('li', {}, `${file.file}: ${OUTCOMES[file.outcome] ?? file.outcome}${file.error ? ` (${file.error})` : ''}`))),
    countsBlock(job.counts, job.format),
    (job.counts?.first_errors ?? []).length
      ? h('details', {}, h('summary', {}, 'First unreadable lines'),
        h('ul', {}, job.counts.first_errors.map((e) => h('li', {}, `${e.file} line ${e.line}: ${e.error}`))))
      : null,
    h('p', {}, periodLink(site, job.counts), ' ', h('a', { href: '#/sites' }, 'All imports')));
}

/** Polls job `id` until it ends, drawing it into `target`. */
async function watch(id, site, target) {
  const started = Date.now();
  const cancel = h('button', { type: 'button', class: 'danger', id: 'import-cancel' }, 'Cancel import');
  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    try { await api('DELETE', `/api/imports/jobs/${id}`); } catch (err) { target.append(errorBox(err)); }
  });
  const live = h('div', { id: 'import-live', 'aria-live': 'polite' });
  target.replaceChildren(h('section', { class: 'card', id: 'import-job', 'data-job': String(id) }, h('h2', {}, 'Importing'), live, cancel));
  for (;;) {
    if (!document.body.contains(target)) return; // Another screen opened; the import goes on.
    let job;
    try {
      job = await api('GET', `/api/imports/jobs/${id}`);
    } catch (err) {
      target.replaceChildren(errorBox(err));
      return;
    }
    if (job.status === 'choosing') {
      live.replaceChildren(h('p', { id: 'import-choosing' }, 'Pick the log files in the dialog…'));
    } else if (job.status === 'running') {
      live.replaceChildren(progressView(job, started));
    } else if (job.status === 'dismissed') {
      target.replaceChildren(h('p', { class: 'muted', id: 'import-dismissed' }, 'No files were chosen: nothing was imported.'));
      return;
    } else if (job.status === 'failed') {
      target.replaceChildren(errorBox({ message: `The import failed: ${job.error}` }));
      return;
    } else {
      target.replaceChildren(summaryView(job, site));
      return;
    }
    await new Promise((resolve) => { setTimeout(resolve, POLL_MS); });
  }
}

function commandHint(options) {
  if (options.format === 'goatcounter') {
    return `mallard import goatcounter --site ${options.site_id || 'example.com'} goatcounter-export.csv`;
  }
  if (options.format === 'plausible') {
    return `mallard import plausible --site ${options.site_id || 'example.com'} plausible-export.zip`;
  }
  const parts = ['mallard import logs', `--site ${options.site_id || 'example.com'}`];
  if (options.format !== 'auto') parts.push(`--format ${options.format}`);
  if (options.include_static) parts.push('--include-static');
  for (const pattern of options.exclude) parts.push(`--exclude '${pattern}'`);
  parts.push('/var/log/nginx/access.log*');
  return parts.join(' ');
}

export async function renderImport() {
  const params = hashParams();
  let host;
  let sites;
  try {
    [host, sites] = await Promise.all([api('GET', '/api/host'), listSites()]);
  } catch (err) {
    show(h('h1', {}, 'Import logs'), errorBox(err));
    return;
  }
  const preset = params.get('site') ?? sites[0]?.site_id ?? '';
  const site = h('input', { id: 'import-site', list: 'import-sites', value: preset, required: true, autocomplete: 'off' });
  const siteList = h('datalist', { id: 'import-sites' }, sites.map((s) => h('option', { value: s.site_id })));
  const format = h('select', { id: 'import-format' }, FORMATS.map(([value, label]) => h('option', { value }, label)));
  const includeStatic = h('input', { type: 'checkbox', id: 'import-static' });
  const exclude = h('textarea', { id: 'import-exclude', rows: 2, placeholder: 'glob:/admin/*\nre:^/wp-' });
  const options = () => ({
    site_id: site.value.trim(),
    format: format.value,
    include_static: includeStatic.checked,
    exclude: exclude.value.split('\n').map((line) => line.trim()).filter(Boolean),
  });
  const error = h('div', { id: 'import-error' });
  const job = h('div', { id: 'import-job-area' });
  const hint = h('pre', { id: 'import-command' }, commandHint(options()));
  const choose = h('button', { type: 'submit', id: 'import-choose' }, 'Choose files…');
  const form = h('form', { class: 'card', id: 'import-form', novalidate: true },
    h('h2', {}, 'Import server logs'),
    h('p', { class: 'muted small' }, 'Access logs from nginx, Apache, Caddy, CloudFront or Bunny, plain or .gz. Every successful page request becomes a page view at its own time; visits and visitors are counted as for live traffic. The same file never counts twice, and a grown or rotated log adds only its new lines. A GoatCounter CSV export (Settings → Export in GoatCounter) brings every page view and event it holds. A Plausible CSV export (Site settings → Imports & Exports in Plausible, a zip of daily tables) brings its daily totals and breakdowns for the days before this site’s own data begins.'),
    h('label', { for: 'import-site' }, 'Site'), site, siteList,
    h('label', { for: 'import-format' }, 'Log format'), format,
    h('label', { class: 'check' }, includeStatic, ' Count static files (images, scripts, styles) too'),
    h('label', { for: 'import-exclude' }, 'Leave out paths (one pattern a line: glob:, re:, ! to keep)'), exclude,
    error,
    host.file_dialog
      ? h('div', { class: 'row' }, choose)
      : h('div', {}, h('p', {}, 'A browser cannot hand this server a file on disk. On the machine that runs it, use:'), hint));
  form.addEventListener('input', () => { hint.textContent = commandHint(options()); });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.replaceChildren();
    if (!host.file_dialog) return;
    const chosen = options();
    if (!chosen.site_id) {
      error.replaceChildren(errorBox({ message: 'Name the site the logs belong to, e.g. example.com.' }));
      site.focus();
      return;
    }
    try {
      const started = await api('POST', '/api/host/import-logs', chosen);
      history.replaceState(null, '', `#/import?site=${encodeURIComponent(chosen.site_id)}&job=${started.job}`);
      await watch(started.job, chosen.site_id, job);
    } catch (err) {
      error.replaceChildren(errorBox(err));
    }
  });
  show(h('h1', {}, 'Import logs'), form, job);
  const running = Number(params.get('job'));
  if (running > 0) watch(running, preset, job);
}
