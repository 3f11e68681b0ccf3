// Notes on the dashboard chart: a click on a day of the chart (or "Add a
// note") asks for a note and stores it as an annotation of the site; the
// notes of the days drawn are listed under the chart with Delete. The chart
// itself (drawn by the server) marks each note with a flag and a dashed line,
// as the SVG and PNG charts do.

import { h, errorBox, confirmDialog } from '../dom.js';
import { api } from '../api.js';

const MAX_TEXT = 280;
const longDate = (date) => new Date(`${date}T00:00:00Z`).toLocaleDateString('en-US', { timeZone: 'UTC', month: 'short', day: 'numeric', year: 'numeric' });

/** Asks for a note on `date` (which may be changed); resolves to {date, text} or null. */
export function noteDialog(date) {
  return new Promise((resolve) => {
    const day = h('input', { id: 'note-date', type: 'date', value: date, required: true });
    const text = h('input', { id: 'note-text', autocomplete: 'off', maxlength: MAX_TEXT, placeholder: 'Launched the new pricing page', required: true });
    const save = h('button', { type: 'submit', id: 'note-save' }, 'Add note');
    const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const form = h('form', { method: 'dialog' },
      h('h2', { id: 'note-title' }, 'Add a note to the chart'),
      h('label', { for: 'note-date' }, 'Date'), day,
      h('label', { for: 'note-text' }, 'Note'), text,
      h('div', { class: 'row' }, save, cancel));
    const dialog = h('dialog', { 'aria-labelledby': 'note-title', id: 'note-dialog' }, form);
    const close = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!text.value.trim() || !day.value) return;
      close({ date: day.value, text: text.value.trim() });
    });
    cancel.addEventListener('click', () => close(null));
    dialog.addEventListener('cancel', () => close(null));
    document.body.append(dialog);
    dialog.showModal();
    text.focus();
  });
}

/**
 * The notes under the chart: those of the days drawn (the flags in `drawing`),
 * each with Delete, and "Add a note". `redraw` draws the chart again after a
 * change.
 */
export async function chartNotes(site, drawing, redraw) {
  const box = h('div', { class: 'chart-notes', id: 'chart-notes' });
  const add = async (date) => {
    const note = await noteDialog(date);
    if (!note) return;
    try {
      await api('POST', '/api/annotations', { site_id: site, ...note });
      redraw();
    } catch (err) {
      box.append(errorBox(err, 'note-error'));
    }
  };
  drawing.addEventListener('click', (event) => {
    const point = event.target.closest?.('.mm-point[data-key], .mm-note[data-key]');
    if (point) add(point.dataset.key);
  });
  const keys = [...drawing.querySelectorAll('.mm-point[data-key]')].map((el) => el.dataset.key);
  const flagged = new Set([...drawing.querySelectorAll('.mm-note[data-key]')].map((el) => el.dataset.key));
  let notes = [];
  if (flagged.size) {
    try {
      notes = (await api('GET', `/api/annotations?site_id=${encodeURIComponent(site)}`)).filter((note) => flagged.has(note.date));
    } catch (err) {
      box.append(errorBox(err));
    }
  }
  box.append(
    notes.length ? h('ul', { class: 'notes' }, notes.map((note) => h('li', { 'data-note': note.date },
      h('strong', {}, longDate(note.date)), ` ${note.text} `,
      h('button', {
        type: 'button', class: 'link danger delete-note', 'aria-label': `Delete the note of ${longDate(note.date)}`,
        onclick: async () => {
          const sure = await confirmDialog({ title: 'Delete this note?', text: `${longDate(note.date)}: ${note.text}`, confirm: 'Delete note', id: 'confirm-delete-note' });
          if (!sure) return;
          try {
            await api('DELETE', `/api/annotations/${note.id}`);
            redraw();
          } catch (err) {
            box.append(errorBox(err));
          }
        },
      }, 'Delete')))) : '',
    h('button', { type: 'button', class: 'link', id: 'add-note', onclick: () => add(keys[keys.length - 1] ?? new Date().toISOString().slice(0, 10)) }, '+ Add a note'),
    h('span', { class: 'muted small' }, ' (or click a day on the chart)'));
  return box;
}
