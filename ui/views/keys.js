// API keys: list, create (the plaintext shown once, with a copy button) and
// revoke with confirmation.

import { h, show, copy } from '../dom.js';
import { createKey, listKeys, revokeKey } from '../api.js';

function confirmRevoke(name) {
  return new Promise((resolve) => {
    const yes = h('button', { type: 'button', class: 'danger', id: 'confirm-revoke' }, 'Revoke key');
    const no = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const dialog = h('dialog', { 'aria-labelledby': 'revoke-title' },
      h('h2', { id: 'revoke-title' }, `Revoke “${name}”?`),
      h('p', {}, 'Programs using this key stop working immediately. This cannot be undone.'),
      h('div', { class: 'row' }, yes, no));
    const close = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    yes.addEventListener('click', () => close(true));
    no.addEventListener('click', () => close(false));
    dialog.addEventListener('cancel', () => close(false));
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}

function keyTable(keys, refresh, error) {
  if (keys.length === 0) {
    return h('p', { class: 'muted', id: 'no-keys' }, 'No API keys yet. Create one for scripts, CI jobs or other tools that read your stats.');
  }
  const rows = keys.map((key) => {
    const revoke = key.revoked ? null : h('button', { type: 'button', class: 'danger', 'data-revoke': key.key_hash }, 'Revoke');
    revoke?.addEventListener('click', async () => {
      if (!(await confirmRevoke(key.name))) return;
      try {
        await revokeKey(key.key_hash);
        await refresh();
      } catch (err) {
        error.textContent = err.message;
      }
    });
    return h('tr', { 'data-key': key.key_hash },
      h('td', {}, key.name),
      h('td', {}, key.scope),
      h('td', { class: 'hash', title: key.key_hash }, key.key_hash.slice(0, 16) + '…'),
      h('td', {}, new Date(key.created_at).toLocaleString()),
      h('td', {}, key.revoked ? h('span', { class: 'badge revoked' }, 'Revoked') : h('span', { class: 'badge' }, 'Active')),
      h('td', {}, revoke));
  });
  return h('table', { id: 'keys-table' },
    h('thead', {}, h('tr', {}, ['Name', 'Scope', 'Hash', 'Created', 'Status', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows));
}

export async function renderKeys() {
  const listing = h('div', { id: 'keys-listing' }, h('p', { class: 'loading' }, 'Loading keys…'));
  const error = h('p', { class: 'error', role: 'alert' });
  const created = h('div', { id: 'created-key', 'aria-live': 'polite' });
  const refresh = async () => {
    try {
      listing.replaceChildren(keyTable(await listKeys(), refresh, error));
    } catch (err) {
      listing.replaceChildren(h('p', { class: 'error' }, err.message));
    }
  };
  const name = h('input', { id: 'key-name', name: 'name', required: true, maxlength: 100, placeholder: 'e.g. ci-pipeline' });
  const scope = h('select', { id: 'key-scope', name: 'scope' },
    h('option', { value: 'ReadOnly' }, 'ReadOnly: read stats'),
    h('option', { value: 'Admin' }, 'Admin: stats, keys and settings'));
  const form = h('form', { class: 'card', id: 'create-key' },
    h('h2', {}, 'Create a key'),
    h('label', { for: 'key-name' }, 'Name'), name,
    h('label', { for: 'key-scope' }, 'Scope'), scope,
    h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Create key')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    if (!name.value.trim()) {
      error.textContent = 'Give the key a name that says what it is for.';
      name.focus();
      return;
    }
    try {
      const key = await createKey(name.value.trim(), scope.value);
      const copyButton = h('button', { type: 'button', class: 'secondary', id: 'copy-key' }, 'Copy');
      copyButton.addEventListener('click', () => copy(key.key, copyButton));
      created.replaceChildren(h('section', { class: 'card secret' },
        h('h2', {}, `Your new key “${key.name}”`),
        h('pre', { id: 'new-key' }, key.key),
        h('div', { class: 'row' }, copyButton),
        h('p', { class: 'notice' }, 'Copy it now: you will not see this key again. Use it as “Authorization: Bearer …” or “X-API-Key: …”.')));
      name.value = '';
      await refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  show(h('h1', {}, 'API keys'),
    h('p', { class: 'muted' }, 'Keys let programs read your stats (ReadOnly) or manage keys and settings (Admin). Only a hash is stored.'),
    created, form, error, h('h2', {}, 'All keys'), listing);
  await refresh();
}
