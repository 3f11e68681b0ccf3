// The "Remote servers" card of the settings screen: remote Mallard servers
// this install pulls events from (a `mallard serve` that collects on a site's
// server), each with its key (shown by its first characters only), its sites,
// how often it is pulled, how the last pull went (an error banner when it
// failed), the pull in progress, "Pull now" and "Remove". Adding one pulls it
// at once; what was pulled is listed and can be undone on the Import screen.

import { h, errorBox, confirmDialog } from '../dom.js';
import { api } from '../api.js';

const INTERVALS = [['', 'Only when I ask'], ['600', 'Every 10 minutes'], ['3600', 'Every hour'], ['21600', 'Every 6 hours'], ['86400', 'Every day']];
const when = (rfc3339) => new Date(rfc3339).toLocaleString();

function interval(secs) {
  const known = INTERVALS.find(([value]) => value === String(secs ?? ''));
  return known ? known[1] : `Every ${Math.round(secs / 60)} minutes`;
}

function state(remote) {
  if (remote.running) {
    const reached = remote.running.reached ? ` (up to ${when(remote.running.reached)})` : '';
    return h('p', { class: 'remote-progress', role: 'status' },
      `Pulling${remote.running.site ? ` ${remote.running.site}` : ''}: ${remote.running.events.toLocaleString()} events${reached}…`);
  }
  if (remote.queued) return h('p', { class: 'remote-progress muted', role: 'status' }, 'Waiting to pull…');
  if (remote.last_error) {
    return h('div', { class: 'error-box remote-error', role: 'alert' },
      h('strong', {}, `The pull of ${remote.last_attempt_at ? when(remote.last_attempt_at) : 'just now'} failed. `), remote.last_error,
      remote.every_secs ? ' It is tried again later.' : '');
  }
  return h('p', { class: 'muted remote-last' }, remote.last_success_at ? `Last pull: ${when(remote.last_success_at)}` : 'Not pulled yet.');
}

export function remotesCard() {
  const list = h('div', { id: 'remotes-list' });
  const status = h('div', { id: 'remotes-status', 'aria-live': 'polite' });
  const url = h('input', { id: 'remote-url', type: 'url', autocomplete: 'off', placeholder: 'https://stats.example.com', required: true, spellcheck: 'false' });
  const key = h('input', { id: 'remote-key', type: 'password', autocomplete: 'off', placeholder: 'mm_…', required: true, spellcheck: 'false' });
  const sites = h('input', { id: 'remote-sites', autocomplete: 'off', placeholder: '(every site the key reads)', spellcheck: 'false' });
  const every = h('select', { id: 'remote-every' }, INTERVALS.map(([value, label]) => h('option', { value, selected: value === '3600' }, label)));
  let timer = null;
  const card = h('section', { class: 'card', id: 'remotes' }, h('h2', {}, 'Remote servers'),
    h('p', { class: 'muted small' }, 'Pull the events a Mallard server collects elsewhere (say, on your site’s server) into this app, so the whole history is here offline. Each pull brings the visits that ended since the last one, with their own times; pulling again never counts an event twice. The key needs the ReadOnly scope on the remote server.'));

  async function draw() {
    clearTimeout(timer);
    let remotes;
    try {
      remotes = await api('GET', '/api/remotes');
    } catch (err) {
      list.replaceChildren(errorBox(err));
      return;
    }
    list.replaceChildren(remotes.length
      ? h('ul', { class: 'remotes', id: 'remotes-table' }, remotes.map((remote) => h('li', { 'data-remote': remote.url },
        h('div', { class: 'row' },
          h('strong', {}, remote.url),
          h('span', { class: 'muted small' }, ` · key ${remote.key_hint} · ${remote.sites.length ? remote.sites.join(', ') : 'every site'} · ${interval(remote.every_secs)} · `,
            h('span', { class: 'remote-events' }, `${remote.events_pulled.toLocaleString()} events pulled`))),
        state(remote),
        h('div', { class: 'row' },
          h('button', {
            type: 'button', class: 'secondary pull-now', disabled: Boolean(remote.running || remote.queued),
            onclick: async () => {
              try {
                await api('POST', `/api/remotes/${remote.id}/pull`, {});
              } catch (err) {
                status.replaceChildren(errorBox(err));
              }
              await draw();
            },
          }, 'Pull now'),
          h('button', {
            type: 'button', class: 'link danger remove-remote', 'aria-label': `Remove ${remote.url}`,
            onclick: async () => {
              const sure = await confirmDialog({ title: `Stop pulling from ${remote.url}?`, text: 'What was pulled stays (undo it on the Import screen); the key is forgotten.', confirm: 'Remove', id: 'confirm-remove-remote' });
              if (!sure) return;
              try {
                await api('DELETE', `/api/remotes/${remote.id}`);
              } catch (err) {
                status.replaceChildren(errorBox(err));
              }
              await draw();
            },
          }, 'Remove')))))
      : h('p', { class: 'muted', id: 'remotes-none' }, 'No remote servers.'));
    // Follow a pull while the card is on screen.
    if (remotes.some((remote) => remote.running || remote.queued) && document.body.contains(card)) {
      timer = setTimeout(draw, 1000);
    }
  }

  const form = h('form', { id: 'add-remote', novalidate: true },
    h('div', { class: 'row' },
      h('div', {}, h('label', { for: 'remote-url' }, 'Server URL'), url),
      h('div', {}, h('label', { for: 'remote-key' }, 'API key'), key)),
    h('div', { class: 'row' },
      h('div', {}, h('label', { for: 'remote-sites' }, 'Sites (comma-separated, optional)'), sites),
      h('div', {}, h('label', { for: 'remote-every' }, 'Pull'), every)),
    h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Add and pull')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    status.replaceChildren();
    const body = {
      url: url.value.trim(),
      api_key: key.value.trim(),
      sites: sites.value.split(',').map((s) => s.trim()).filter(Boolean),
      every_secs: every.value ? Number(every.value) : null,
    };
    try {
      await api('POST', '/api/remotes', body);
      key.value = '';
      status.replaceChildren(h('p', { class: 'muted', id: 'remote-added' }, `Added ${body.url}; pulling now.`));
    } catch (err) {
      status.replaceChildren(errorBox(err, 'remote-error'));
    }
    await draw();
  });
  draw();
  card.append(list, status, form);
  return card;
}
