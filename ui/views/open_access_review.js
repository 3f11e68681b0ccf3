// The review of keys created before the admin password was set: while the
// server was in open access anyone who reached it could mint keys, and keys
// keep working after the password is set. Once a password protects the
// server, the keys screen lists the ones still active with a one-click
// revoke (all of them, or one by one) or a way to keep them.

import { h, errorBox } from '../dom.js';
import { authStatus, keepOpenAccessKeys, listOpenAccessKeys, revokeIngestKey, revokeKey, revokeOpenAccessKeys } from '../api.js';

const when = (time) => new Date(time).toLocaleString();

/** Fills `box` with the review card, or empties it when there is nothing to review. */
export async function renderOpenAccessReview(box, refreshKeys) {
  let listing;
  try {
    const status = await authStatus();
    if (status.setup_required) { box.replaceChildren(); return; }
    listing = await listOpenAccessKeys();
  } catch (err) {
    box.replaceChildren(errorBox(err));
    return;
  }
  if (!listing.keys.length) { box.replaceChildren(); return; }
  const error = h('div', { id: 'open-access-review-error' });
  const again = async () => { await refreshKeys(); await renderOpenAccessReview(box, refreshKeys); };
  const act = (action) => async () => {
    try { await action(); await again(); } catch (err) { error.replaceChildren(errorBox(err)); }
  };
  const rows = listing.keys.map((key) => {
    const revoke = h('button', { type: 'button', class: 'danger small-button', 'data-revoke-open': key.id, 'aria-label': `Revoke ${key.name}` }, 'Revoke');
    revoke.addEventListener('click', act(() => (key.kind === 'stats' ? revokeKey(key.id) : revokeIngestKey(key.id))));
    return h('tr', { 'data-open-access-key': key.id },
      h('th', { scope: 'row' }, key.name),
      h('td', {}, key.kind === 'stats' ? 'Stats (mm_)' : 'Ingestion (lk_live_)'),
      h('td', {}, key.scopes.join(', ')),
      h('td', {}, when(key.created_at)),
      h('td', {}, revoke));
  });
  const revokeAll = h('button', { type: 'button', class: 'danger', id: 'revoke-open-access-keys' }, `Revoke all ${listing.keys.length}`);
  revokeAll.addEventListener('click', act(revokeOpenAccessKeys));
  const keep = h('button', { type: 'button', class: 'secondary', id: 'keep-open-access-keys' }, 'Keep them: I created them');
  keep.addEventListener('click', act(keepOpenAccessKeys));
  box.replaceChildren(h('section', { class: 'card notice', id: 'open-access-keys' },
    h('h2', {}, 'Keys created before the password was set'),
    h('p', {}, 'While this server had no password, anyone who could reach it could create these keys, and they still work. '
      + 'Revoke any you did not create yourself.'),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Name', 'Kind', 'Scope', 'Created', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows))),
    error,
    h('div', { class: 'row' }, revokeAll, keep)));
}
