// The create-key form of the API keys screen: a stats key (mm_, ReadOnly or
// Admin) or an ingestion key (lk_live_, with scopes and a workspace). The
// plaintext of a new key is shown once, with a copy button.

import { h, copyButton, errorBox } from '../dom.js';
import { createIngestKey, createKey } from '../api.js';

const INGEST_SCOPES = [
  ['ingest:write', 'ingest:write: browser and server events (/events, /s2s/events)'],
  ['ingest:server', 'ingest:server: server-to-server events only (/s2s/events)'],
  ['admin', 'admin: everything, including future admin endpoints'],
];

/** The card that shows a new key's plaintext once. */
function createdCard(title, plaintext, usage) {
  return h('section', { class: 'card secret' },
    h('h2', {}, title),
    h('pre', { id: 'new-key' }, plaintext),
    h('div', { class: 'row' }, copyButton(plaintext, 'copy-key', 'the new key')),
    h('p', { class: 'notice' }, 'Copy it now: you will not see this key again. ', usage));
}

/** The form; `created` shows the new key, `refresh` reloads the list. */
export function createKeyForm(created, refresh, workspaces) {
  const kind = h('select', { id: 'key-kind', name: 'kind' },
    h('option', { value: 'stats' }, 'Stats key (mm_): read stats or administer'),
    h('option', { value: 'ingest' }, 'Ingestion key (lk_live_): send events to /events and /s2s/events'));
  const name = h('input', { id: 'key-name', name: 'name', required: true, maxlength: 100, placeholder: 'e.g. ci-pipeline', autocomplete: 'off' });
  const scope = h('select', { id: 'key-scope', name: 'scope' },
    h('option', { value: 'ReadOnly' }, 'ReadOnly: read stats'),
    h('option', { value: 'Admin' }, 'Admin: stats, keys and settings'));
  const statsFields = h('div', { id: 'stats-fields' }, h('label', { for: 'key-scope' }, 'Scope'), scope);
  const boxes = INGEST_SCOPES.map(([value, label], i) => h('label', { class: 'inline check' },
    h('input', { type: 'checkbox', name: 'scopes', value, checked: i === 0, 'data-scope': value }), ` ${label}`));
  const workspace = h('select', { id: 'key-workspace', name: 'workspace' },
    h('option', { value: '' }, workspaces.length ? `The workspace of the newest key (${workspaces[0].slice(0, 8)}…)` : 'A new workspace'),
    workspaces.map((id) => h('option', { value: id }, id)),
    workspaces.length ? h('option', { value: 'new' }, 'A new workspace') : null);
  const ingestFields = h('div', { id: 'ingest-fields', hidden: true },
    h('fieldset', {}, h('legend', {}, 'Scopes'), boxes),
    h('label', { for: 'key-workspace' }, 'Workspace (rate limits and quotas are counted per workspace)'), workspace);
  kind.addEventListener('change', () => {
    statsFields.hidden = kind.value !== 'stats';
    ingestFields.hidden = kind.value !== 'ingest';
  });
  const error = h('div', { id: 'key-error' });
  const form = h('form', { class: 'card', id: 'create-key', novalidate: true },
    h('h2', {}, 'Create a key'),
    h('label', { for: 'key-kind' }, 'Kind'), kind,
    h('label', { for: 'key-name' }, 'Name'), name,
    statsFields, ingestFields, error,
    h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Create key')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.replaceChildren();
    if (!name.value.trim()) {
      error.replaceChildren(errorBox({ message: 'Give the key a name that says what it is for.' }));
      name.focus();
      return;
    }
    try {
      if (kind.value === 'stats') {
        const key = await createKey(name.value.trim(), scope.value);
        created(createdCard(`Your new key “${key.name}”`, key.key, 'Use it as “Authorization: Bearer …” or “X-API-Key: …”.'));
      } else {
        const scopes = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
        if (!scopes.length) {
          error.replaceChildren(errorBox({ message: 'Choose at least one scope.' }));
          return;
        }
        const body = { name: name.value.trim(), scopes };
        if (workspace.value === 'new') body.workspace_id = crypto.randomUUID();
        else if (workspace.value) body.workspace_id = workspace.value;
        const key = await createIngestKey(body);
        created(createdCard(`Your new ingestion key “${key.name}”`, key.key,
          `Send it as “Authorization: Bearer …” with “X-Site-Id: your-site” to ${window.location.origin}/events.`));
      }
      name.value = '';
      await refresh();
    } catch (err) {
      error.replaceChildren(errorBox(err));
    }
  });
  return form;
}
