// API keys: both kinds in one list (mm_ stats keys and lk_live_ ingestion
// keys), create (the plaintext shown once, with a copy button) and revoke with
// confirmation; revoked keys stay listed as such.

import { h, show, confirmDialog, errorBox, scroller } from '../dom.js';
import { listIngestKeys, listKeys, revokeIngestKey, revokeKey } from '../api.js';
import { createKeyForm } from './key_forms.js';
import { renderOpenAccessReview } from './open_access_review.js';

const when = (time) => new Date(time).toLocaleString();

function status(revoked, at) {
  return revoked
    ? h('span', { class: 'badge revoked', title: at ? `Revoked ${when(at)}` : null }, 'Revoked')
    : h('span', { class: 'badge' }, 'Active');
}

function revokeButton(name, attribute, value, revoke, refresh, error) {
  const button = h('button', { type: 'button', class: 'danger', [attribute]: value, 'aria-label': `Revoke ${name}` }, 'Revoke');
  button.addEventListener('click', async () => {
    const sure = await confirmDialog({
      title: `Revoke “${name}”?`,
      text: 'Programs using this key stop working immediately. This cannot be undone.',
      confirm: 'Revoke key',
      id: 'confirm-revoke',
    });
    if (!sure) return;
    try {
      await revoke(value);
      await refresh();
    } catch (err) {
      error.replaceChildren(errorBox(err));
    }
  });
  return button;
}

function keyTable(stats, ingest, refresh, error) {
  if (stats.length + ingest.length === 0) {
    return h('p', { class: 'muted', id: 'no-keys' }, 'No API keys yet. Create a stats key for scripts and CI jobs that read your stats, or an ingestion key for SDKs that send events to /events.');
  }
  const statsRows = stats.map((key) => h('tr', { 'data-key': key.key_hash, 'data-kind': 'stats' },
    h('th', { scope: 'row' }, key.name),
    h('td', {}, 'Stats (mm_)'),
    h('td', {}, key.scope),
    h('td', { class: 'hash', title: key.key_hash }, `sha256 ${key.key_hash.slice(0, 12)}…`),
    h('td', {}, when(key.created_at)),
    h('td', {}, status(key.revoked)),
    h('td', {}, key.revoked ? null : revokeButton(key.name, 'data-revoke', key.key_hash, revokeKey, refresh, error))));
  const ingestRows = ingest.map((key) => h('tr', { 'data-key': key.id, 'data-kind': 'ingest' },
    h('th', { scope: 'row' }, key.name),
    h('td', {}, 'Ingestion (lk_live_)', h('div', { class: 'muted small', title: key.workspace_id }, `workspace ${key.workspace_id.slice(0, 8)}…`)),
    h('td', {}, key.scopes.join(', ')),
    h('td', { class: 'hash' }, `${key.prefix}…${key.suffix}`),
    h('td', {}, when(key.created_at)),
    h('td', {}, status(Boolean(key.revoked_at), key.revoked_at)),
    h('td', {}, key.revoked_at ? null : revokeButton(key.name, 'data-revoke-ingest', key.id, revokeIngestKey, refresh, error))));
  return scroller(h('table', { id: 'keys-table' },
    h('caption', { class: 'visually-hidden' }, 'All API keys'),
    h('thead', {}, h('tr', {}, ['Name', 'Kind', 'Scope', 'Key', 'Created', 'Status', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, statsRows, ingestRows)));
}

export async function renderKeys() {
  const listing = h('div', { id: 'keys-listing' }, h('p', { class: 'loading', role: 'status' }, 'Loading keys…'));
  const error = h('div', { id: 'keys-error' });
  const created = h('div', { id: 'created-key', 'aria-live': 'polite' });
  let workspaces = [];
  const refresh = async () => {
    try {
      const [stats, ingest] = await Promise.all([listKeys(), listIngestKeys()]);
      workspaces = [...new Set(ingest.map((k) => k.workspace_id))];
      listing.replaceChildren(keyTable(stats, ingest, refresh, error));
    } catch (err) {
      listing.replaceChildren(errorBox(err));
    }
  };
  await refresh();
  const review = h('div', { id: 'open-access-review' });
  await renderOpenAccessReview(review, refresh);
  show(h('h1', {}, 'API keys'), review,
    h('p', { class: 'muted' }, 'Stats keys (mm_) let programs read your stats (ReadOnly) or manage keys and settings (Admin). Ingestion keys (lk_live_) let SDKs and servers send events to /events and /s2s/events. Only a hash of each key is stored.'),
    created,
    createKeyForm((card) => { created.replaceChildren(card); }, refresh, workspaces),
    error, h('h2', {}, 'All keys'), listing);
}
