// The funnel screen: a form to define 2–8 steps (`page:/path`, `event:Name`
// or `goal:NAME`; add, remove, move up and down) and an optional window, kept
// in the URL (#/funnel?…&steps=page:/,event:Signup&window=30m); the result as
// horizontal bars with visits, visitors, conversion and drop-off, and the same
// numbers in a table. The site's goals are offered as steps: one without a
// property as its event or page (pattern), one with a property as itself.

import { funnel } from '../queries.js';
import { h } from '../dom.js';
import { api } from '../api.js';
import { number, rate } from './dashboard.js';
import { bar, go, loadInto, renderScreen, statsQuery } from './behaviour.js';

const WINDOWS = [['', 'the whole visit'], ['5m', '5 minutes'], ['30m', '30 minutes'], ['1h', '1 hour'], ['6h', '6 hours'], ['1d', '1 day']];
const MAX_STEPS = 8;

function parseStep(text) {
  const match = /^(page|event|goal):(.*)$/s.exec(text);
  return match ? { type: match[1], value: match[2] } : { type: 'page', value: text };
}

/** What is wrong with the steps, in words, or null. */
function problem(steps) {
  if (steps.length < 2) return 'A funnel needs at least two steps.';
  for (const [index, step] of steps.entries()) {
    const name = `Step ${index + 1}`;
    if (!step.value.trim()) return `${name} is empty: type a page path, an event name or a goal's name.`;
    if (/[,;]/.test(step.value)) return `${name} contains “,” or “;”, which separate steps.`;
    if (step.type === 'page' && !step.value.startsWith('/')) return `${name}: a page path starts with “/”, e.g. /pricing.`;
    if (step.type === 'event' && step.value === 'pageview') return `${name}: use a page step for page views.`;
  }
  return null;
}

function stepForm(state) {
  const given = (state.query.get('steps') ?? '').split(/[,;]/).filter(Boolean).map(parseStep);
  const steps = given.length ? given : [{ type: 'page', value: '/' }, { type: 'page', value: '' }];
  const list = h('ol', { class: 'step-list', id: 'funnel-steps' });
  const message = h('p', { class: 'error', id: 'funnel-problem', role: 'alert', hidden: true });
  const add = h('button', { type: 'button', class: 'secondary', id: 'add-step' }, '+ Add a step');

  function move(index, by, focus) {
    const [step] = steps.splice(index, 1);
    steps.splice(index + by, 0, step);
    draw(`[data-step="${index + by + 1}"] [data-action="${focus}"]`);
  }
  function draw(focus) {
    list.replaceChildren(...steps.map((step, index) => {
      const label = `Step ${index + 1}`;
      const type = h('select', { class: 'step-type', 'aria-label': `${label}: kind` },
        h('option', { value: 'page', selected: step.type === 'page' }, 'Page'),
        h('option', { value: 'event', selected: step.type === 'event' }, 'Event'),
        h('option', { value: 'goal', selected: step.type === 'goal' }, 'Goal'));
      const what = { page: ['page path', '/pricing'], event: ['event name', 'Signup'], goal: ['goal name', 'Pro signups'] }[step.type];
      const value = h('input', { type: 'text', class: 'step-value', 'aria-label': `${label}: ${what[0]}`, value: step.value, placeholder: what[1], spellcheck: 'false', autocomplete: 'off' });
      type.addEventListener('change', () => { step.type = type.value; draw(`[data-step="${index + 1}"] .step-type`); });
      value.addEventListener('input', () => { step.value = value.value; });
      const button = (action, text, title, disabled, onclick) => h('button', { type: 'button', class: 'secondary icon', 'data-action': action, 'aria-label': `${title} ${index + 1}`, title: `${title} ${index + 1}`, disabled, onclick }, text);
      return h('li', { class: 'step-row', 'data-step': index + 1 },
        h('span', { class: 'step-number', 'aria-hidden': 'true' }, String(index + 1)), type, value,
        button('up', '↑', 'Move up step', index === 0, () => move(index, -1, index - 1 === 0 ? 'down' : 'up')),
        button('down', '↓', 'Move down step', index === steps.length - 1, () => move(index, 1, index + 1 === steps.length - 1 ? 'up' : 'down')),
        button('remove', '×', 'Remove step', steps.length <= 2, () => { steps.splice(index, 1); draw(`[data-step="${Math.min(index + 1, steps.length)}"] .step-value`); }));
    }));
    add.disabled = steps.length >= MAX_STEPS;
    if (focus) list.querySelector(focus)?.focus();
  }
  add.addEventListener('click', () => { steps.push({ type: 'page', value: '' }); draw(`[data-step="${steps.length}"] .step-value`); });
  draw();

  // The site's goals as steps: an event goal, a page goal or a page pattern
  // goal is its event or page step; a goal with a property is a goal step
  // (`goal:NAME`), unless its name holds a step separator.
  const fromGoal = h('select', { id: 'add-goal-step', 'aria-label': 'Add a goal as a step', hidden: true });
  const asStep = (goal) => {
    if (goal.prop_key) return goal.name && !/[,;]/.test(goal.name) ? { type: 'goal', value: goal.name } : null;
    if (goal.event_name) return { type: 'event', value: goal.event_name };
    return goal.page_path ? { type: 'page', value: goal.page_path } : null;
  };
  if (state.site) {
    api('GET', `/api/goals?site_id=${encodeURIComponent(state.site)}`).then((goals) => {
      if (!goals.length) return;
      fromGoal.replaceChildren(h('option', { value: '' }, '+ Add a goal as a step'),
        ...goals.map((goal, index) => h('option', { value: String(index), disabled: !asStep(goal) },
          asStep(goal) ? goal.name : `${goal.name} (its name holds “,” or “;”: not a step)`)));
      fromGoal.hidden = false;
      fromGoal.addEventListener('change', () => {
        const step = asStep(goals[Number(fromGoal.value)] ?? {});
        fromGoal.value = '';
        if (!step || steps.length >= MAX_STEPS) return;
        // An empty last step takes the goal; otherwise it is added.
        const last = steps[steps.length - 1];
        if (last && !last.value.trim()) steps[steps.length - 1] = step; else steps.push(step);
        draw(`[data-step="${steps.length}"] .step-value`);
      });
    }).catch(() => {});
  }

  const current = state.query.get('window') ?? '';
  const windows = WINDOWS.some(([value]) => value === current) ? WINDOWS : [...WINDOWS, [current, current]];
  const within = h('select', { id: 'funnel-window' }, windows.map(([value, label]) => h('option', { value, selected: value === current }, label)));
  const form = h('form', { class: 'card funnel-form', id: 'funnel-form', 'aria-labelledby': 'funnel-form-title' },
    h('h2', { id: 'funnel-form-title' }, 'Steps'),
    h('p', { class: 'muted small' }, 'A visit counts for a step when it went through every step before it, in this order (other pages may come in between). A page step is an exact path or a pattern (/blog/*); an event step is a custom event name; a goal step is what one of the site\'s goals counts, its property included.'),
    list, h('div', { class: 'row' }, add, fromGoal),
    h('label', { for: 'funnel-window' }, 'Each step within, from the first'), within,
    message,
    h('div', { class: 'row' }, h('button', { type: 'submit', id: 'show-funnel' }, 'Show funnel')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const wrong = problem(steps);
    message.hidden = !wrong;
    message.textContent = wrong ?? '';
    if (wrong) return;
    go('funnel', state, { steps: steps.map((s) => `${s.type}:${s.value.trim()}`).join(','), window: within.value });
  });
  return form;
}

/** The answer's steps as bars, a summary and a table; `within` names the window, if any. */
function result(steps, within) {
  const entered = Number(steps[0]?.visits ?? 0);
  const last = steps[steps.length - 1] ?? {};
  const first = Math.max(entered, 1);
  const summary = h('p', { id: 'funnel-summary' },
    `${number(entered)} visits entered, ${number(last.visits)} completed: `,
    h('strong', {}, rate(last.conversion_rate)), ' conversion',
    within ? ` (each step within ${within} of the first).` : '.');
  if (!entered) {
    return h('section', { class: 'card', id: 'funnel-result' }, h('h2', {}, 'Result'),
      h('p', { id: 'funnel-empty' }, 'No visit in this period reached the first step. Check the path or event name (page paths match exactly, e.g. /pricing and /pricing/ differ), or pick a longer period.'));
  }
  const bars = h('ol', { class: 'funnel', id: 'funnel-bars' }, steps.map((step, index) => h('li', { class: 'funnel-step', 'data-step': index + 1 },
    h('div', { class: 'funnel-label' }, h('span', { class: 'badge' }, { page: 'Page', event: 'Event', goal: 'Goal' }[step.type] ?? step.type), ' ', h('span', { class: 'step-name' }, step.value)),
    h('div', { class: 'funnel-track' }, bar(Number(step.visits) / first, 'funnel-bar')),
    h('div', { class: 'funnel-numbers small' },
      h('span', { class: 'f-visits' }, `${number(step.visits)} visits`), ' · ',
      h('span', { class: 'f-visitors' }, `${number(step.visitors)} visitors`), ' · ',
      h('span', { class: 'f-conversion' }, `${rate(step.conversion_rate)} of step 1`),
      index ? [' · ', h('span', { class: 'f-step' }, `${rate(step.conversion_rate_step)} of previous step`), ' · ',
        h('span', { class: 'f-dropoff' }, `${number(step.dropoff)} dropped off (${rate(step.dropoff_rate)})`)] : null))));
  const head = ['Step', 'Visits', 'Visitors', 'Of step 1', 'Of previous', 'Dropped off', 'Drop-off rate'];
  const table = h('details', { class: 'chart-data' }, h('summary', {}, 'Show the funnel as a table'),
    h('div', { class: 'table-wrap' }, h('table', { id: 'funnel-table' },
      h('caption', { class: 'visually-hidden' }, 'Funnel steps with visits, visitors, conversion and drop-off'),
      h('thead', {}, h('tr', {}, head.map((t, i) => h('th', { scope: 'col', class: i ? 'num' : null }, t)))),
      h('tbody', {}, steps.map((step, index) => h('tr', {},
        h('th', { scope: 'row' }, `${step.step}. ${step.name}`),
        [number(step.visits), number(step.visitors), rate(step.conversion_rate), rate(step.conversion_rate_step), number(step.dropoff), rate(step.dropoff_rate)]
          .map((value) => h('td', { class: 'num' }, value))))))));
  return h('section', { class: 'card', id: 'funnel-result' }, h('h2', {}, 'Result'), summary, bars, table);
}

export function renderFunnel() {
  return renderScreen('funnel', 'Funnel', ['steps', 'window'], async (state, body) => {
    const out = h('div', { id: 'funnel-out' });
    body.append(stepForm(state), out);
    const steps = state.query.get('steps');
    if (!steps) {
      out.append(h('p', { class: 'muted', id: 'funnel-hint' }, 'Define the steps visitors take, e.g. the home page, the pricing page, then the Signup event, and press “Show funnel”.'));
      return;
    }
    const window = state.query.get('window');
    const within = WINDOWS.find(([value]) => value && value === window)?.[1] ?? window;
    await loadInto(out, async () => result(await funnel(statsQuery(state, { steps, window })), within));
  });
}
