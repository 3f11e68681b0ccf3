// The "Goals" card of the settings screen: a site's goals (a custom event by
// name, or visits to a page path pattern such as /blog/* or /docs/**,
// optionally only with a property value), added, listed and deleted; their
// conversions show in the dashboard's Goals card. Ready-made goals add the
// events the tracker's opt-in extensions send.

import { h, errorBox, confirmDialog } from '../dom.js';
import { api } from '../api.js';

const READY_MADE = ['Outbound Link: Click', 'File Download', '404'];

function describe(goal) {
  const what = goal.event_name ? `Event “${goal.event_name}”` : `Visits to ${goal.page_path}`;
  return goal.prop_key ? `${what} with ${goal.prop_key} = ${goal.prop_value}` : what;
}

export function goalsCard(sites) {
  const site = h('select', { id: 'goals-site', 'aria-label': 'Site of the goals' }, sites.map((s) => h('option', { value: s.site_id }, s.site_id)));
  const list = h('div', { id: 'goals-list' });
  const status = h('div', { id: 'goals-status', 'aria-live': 'polite' });
  const kind = h('select', { id: 'goal-kind' }, h('option', { value: 'event' }, 'Custom event'), h('option', { value: 'page' }, 'Page visit'));
  const target = h('input', { id: 'goal-target', autocomplete: 'off', placeholder: 'Signup', required: true });
  const name = h('input', { id: 'goal-name', autocomplete: 'off', placeholder: '(default: the event or path)' });
  const propKey = h('input', { id: 'goal-prop-key', autocomplete: 'off', placeholder: 'plan' });
  const propValue = h('input', { id: 'goal-prop-value', autocomplete: 'off', placeholder: 'pro' });
  const targetLabel = h('label', { for: 'goal-target' }, 'Event name');
  kind.addEventListener('change', () => {
    const page = kind.value === 'page';
    targetLabel.textContent = page ? 'Page path (* one segment, ** any depth)' : 'Event name';
    target.placeholder = page ? '/blog/*' : 'Signup';
  });

  async function add(body) {
    status.replaceChildren();
    try {
      const goal = await api('POST', '/api/goals', { site_id: site.value, ...body });
      status.replaceChildren(h('p', { class: 'muted', id: 'goal-added' }, `Added ${goal.name}.`));
      await draw();
      return true;
    } catch (err) {
      status.replaceChildren(errorBox(err, 'goal-error'));
      return false;
    }
  }

  async function draw() {
    if (!site.value) {
      list.replaceChildren(h('p', { class: 'muted' }, 'Add a site first.'));
      return;
    }
    let goals;
    try {
      goals = await api('GET', `/api/goals?site_id=${encodeURIComponent(site.value)}`);
    } catch (err) {
      list.replaceChildren(errorBox(err));
      return;
    }
    const missing = READY_MADE.filter((event) => !goals.some((goal) => goal.event_name === event && !goal.prop_key));
    list.replaceChildren(
      goals.length
        ? h('table', { id: 'goals-table' },
          h('thead', {}, h('tr', {}, ['Goal', 'Counts', ''].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, goals.map((goal) => h('tr', { 'data-goal': goal.name },
            h('td', {}, goal.name),
            h('td', {}, describe(goal)),
            h('td', {}, h('button', {
              type: 'button',
              class: 'link danger delete-goal',
              'aria-label': `Delete goal ${goal.name}`,
              onclick: async () => {
                const sure = await confirmDialog({ title: `Delete the goal ${goal.name}?`, text: 'Its events stay; only the goal goes.', confirm: 'Delete goal', id: 'confirm-delete-goal' });
                if (!sure) return;
                try {
                  await api('DELETE', `/api/goals/${goal.id}`);
                  await draw();
                } catch (err) {
                  status.replaceChildren(errorBox(err));
                }
              },
            }, 'Delete'))))))
        : h('p', { class: 'muted', id: 'goals-none' }, 'No goals for this site yet.'),
      missing.length
        ? h('p', { class: 'small' }, 'Ready-made: ', missing.map((event) => h('button', {
          type: 'button', class: 'secondary ready-goal', 'data-event': event, onclick: () => add({ event_name: event }),
        }, `+ ${event}`)))
        : null);
  }

  const form = h('form', { id: 'add-goal', novalidate: true },
    h('div', { class: 'row' },
      h('div', {}, h('label', { for: 'goal-kind' }, 'Goal type'), kind),
      h('div', {}, targetLabel, target)),
    h('div', { class: 'row' },
      h('div', {}, h('label', { for: 'goal-prop-key' }, 'Only with property (optional)'), propKey),
      h('div', {}, h('label', { for: 'goal-prop-value' }, 'Value'), propValue),
      h('div', {}, h('label', { for: 'goal-name' }, 'Name'), name)),
    h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Add goal')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = kind.value === 'page' ? { page_path: target.value.trim() } : { event_name: target.value.trim() };
    if (name.value.trim()) body.name = name.value.trim();
    if (propKey.value.trim() || propValue.value.trim()) {
      body.prop_key = propKey.value.trim() || undefined;
      body.prop_value = propValue.value.trim() || undefined;
    }
    if (await add(body)) {
      target.value = '';
      name.value = '';
      propKey.value = '';
      propValue.value = '';
    }
  });
  site.addEventListener('change', draw);
  draw();
  return h('section', { class: 'card', id: 'goals' }, h('h2', {}, 'Goals'),
    h('p', { class: 'muted small' }, 'A goal counts a conversion: a custom event, or a visit to pages matching a path. The dashboard’s Goals card shows each goal’s converting visitors, conversions and conversion rate.'),
    site, list, status, form);
}
