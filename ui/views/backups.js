// The "Backups" card of the settings screen: where automatic backups go, how
// often and how many are kept (changed in the settings form above), the
// latest backup with its time and size, a banner when it failed, the backups
// on disk, and "Back up now".

import { h, errorBox } from '../dom.js';
import { api } from '../api.js';

const size = (bytes) => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB`
  : bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1e3))} KB`);
const when = (rfc3339) => new Date(rfc3339).toLocaleString();

function latest(info) {
  const last = info.last;
  if (last?.error) {
    return h('div', { class: 'error-box', id: 'backup-failed', role: 'alert' },
      h('strong', {}, `The ${last.automatic ? 'automatic ' : ''}backup of ${when(last.at)} failed. `), last.error);
  }
  const newest = last?.backup ?? (info.files[0] && { path: `${info.dir}/${info.files[0].name}`, bytes: info.files[0].bytes, created_at: info.files[0].modified_at });
  if (!newest) return h('p', { class: 'muted', id: 'backup-last' }, 'No backup yet.');
  return h('p', { id: 'backup-last' }, 'Last backup: ', h('strong', {}, when(newest.created_at)), ` · ${size(newest.bytes)} · `, h('code', {}, newest.path));
}

export async function backupsCard() {
  const card = h('section', { class: 'card', id: 'backups-card' }, h('h2', {}, 'Backups'));
  const body = h('div', {});
  const status = h('p', { class: 'muted', id: 'backup-status', role: 'status' });
  const button = h('button', { type: 'button', id: 'backup-now' }, 'Back up now');
  async function draw() {
    let info;
    try {
      info = await api('GET', '/api/backups');
    } catch (err) {
      body.replaceChildren(errorBox(err));
      return;
    }
    const schedule = info.every === 'off' ? 'Automatic backups are off.'
      : `A backup is taken ${info.every} into ${info.dir}; the newest ${info.keep} are kept.`;
    body.replaceChildren(
      h('p', { class: 'muted small', id: 'backup-schedule' }, schedule, ' Change this with backup_every, backup_dir and backup_keep above.'),
      latest(info),
      info.files_error ? h('div', { class: 'error-box', id: 'backup-dir-error', role: 'alert' }, info.files_error) : '',
      info.files.length ? h('details', {}, h('summary', {}, `${info.files.length} backup${info.files.length === 1 ? '' : 's'} on disk`),
        h('ul', { id: 'backup-files' }, info.files.map((file) => h('li', {}, `${file.name} · ${size(file.bytes)}`)))) : '',
      h('p', { class: 'muted small' }, 'To restore one, stop the app and run `mallard restore FILE` (or File → Restore… in the desktop app); the database it replaces is kept as mallard.db.before-restore.'));
  }
  button.addEventListener('click', async () => {
    button.disabled = true;
    status.textContent = 'Backing up…';
    try {
      const backup = await api('POST', '/api/backups', {});
      status.textContent = `Backed up: ${size(backup.bytes)} in ${(backup.duration_ms / 1000).toFixed(1)} s.`;
    } catch (err) {
      status.textContent = '';
      status.after(errorBox(err, 'backup-error'));
    }
    button.disabled = false;
    await draw();
  });
  await draw();
  card.append(body, h('div', { class: 'row' }, button, status));
  return card;
}
