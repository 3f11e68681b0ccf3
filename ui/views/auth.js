// First run (set a password or continue in open-access mode) and sign-in,
// with the lockout message and a Retry-After countdown. Open access works
// only on the server's own machine; from another machine the first-run
// screen asks for the one-time setup token the server printed at start.

import { h, show } from '../dom.js';
import { ApiError, listOpenAccessKeys, login, setup } from '../api.js';

const OPEN_ACCESS_KEY = 'mallard.openAccessChosen';
// Also kept in a cookie: cookies ignore the port, so the choice survives the
// desktop app moving its server to another port (localStorage would not).
const OPEN_ACCESS_COOKIE = 'mm_open_access';

export function openAccessChosen() {
  if (document.cookie.split(';').some((pair) => pair.trim() === `${OPEN_ACCESS_COOKIE}=yes`)) return true;
  try { return localStorage.getItem(OPEN_ACCESS_KEY) === 'yes'; } catch { return false; }
}

function chooseOpenAccess() {
  document.cookie = `${OPEN_ACCESS_COOKIE}=yes; Path=/; Max-Age=315360000; SameSite=Strict`;
  try { localStorage.setItem(OPEN_ACCESS_KEY, 'yes'); } catch { /* private mode: the cookie remembers */ }
}

function passwordForm({ id, label, submitText, autocomplete, onSubmit, extra = null }) {
  const input = h('input', { id, name: 'password', type: 'password', required: true, minlength: 8, autocomplete });
  const error = h('p', { class: 'error', role: 'alert', id: `${id}-error` });
  const button = h('button', { type: 'submit' }, submitText);
  const form = h('form', { novalidate: true },
    extra, h('label', { for: id }, label), input, error, h('div', { class: 'row' }, button));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    button.disabled = true;
    try {
      await onSubmit(input.value, error, button);
    } finally {
      if (!button.dataset.locked) button.disabled = false;
    }
  });
  return { form, input };
}

// `local` is whether this browser runs on the server's own machine (the
// server grants it open access); elsewhere the setup token is needed.
export function renderSetup(done, local = true) {
  const token = local ? null : h('input', { id: 'setup-token', name: 'setup_token', required: true, autocomplete: 'off', spellcheck: 'false' });
  const tokenField = local ? null : h('div', {},
    h('label', { for: 'setup-token' }, 'Setup token'),
    h('p', { class: 'muted small', id: 'setup-token-help' },
      'You are not on the machine that runs Mallard Metrics. The server printed a one-time setup token when it started; '
      + 'it is also in the file “setup-token” in its data directory.'),
    token);
  const { form, input } = passwordForm({
    id: 'setup-password',
    label: 'Admin password (at least 8 characters)',
    submitText: 'Set password',
    autocomplete: 'new-password',
    extra: tokenField,
    onSubmit: async (password, error) => {
      if (token && !token.value.trim()) {
        error.textContent = 'Enter the setup token the server printed at start.';
        return;
      }
      if (password.length < 8) {
        error.textContent = 'Use at least 8 characters.';
        return;
      }
      try {
        await setup(password, token ? token.value.trim() : undefined);
        // Keys made before the password existed are reviewed on the keys screen.
        const review = await listOpenAccessKeys().catch(() => null);
        if (review && review.keys.length) window.location.hash = '#/keys';
        done();
      } catch (err) {
        error.textContent = err.message;
      }
    },
  });
  const openAccess = h('button', { type: 'button', class: 'secondary', id: 'open-access' }, 'Continue without a password');
  openAccess.addEventListener('click', () => { chooseOpenAccess(); done(); });
  show(h('section', { class: 'card narrow' },
    h('h1', {}, 'Welcome to Mallard Metrics'),
    h('p', {}, 'Set an admin password to protect your stats and API keys. Browsers will then need it to open this dashboard.'),
    form,
    local ? [
      h('h2', {}, 'Or keep it open'),
      h('p', { class: 'muted', id: 'open-access-warning' }, 'Without a password, anyone who can reach this server from this computer can see your stats and manage keys: '
        + 'every program you run and every other user account on this computer, since any of them can connect to a port on 127.0.0.1. '
        + 'Other computers and other web pages are kept out. Keys created now are listed for review when you set a password later.'),
      h('div', { class: 'row' }, openAccess),
    ] : null));
  (token ?? input).focus();
}

export function renderLogin(done) {
  let timer = null;
  const { form, input } = passwordForm({
    id: 'login-password',
    label: 'Admin password',
    submitText: 'Sign in',
    autocomplete: 'current-password',
    onSubmit: async (password, error, button) => {
      try {
        await login(password);
        if (timer) clearInterval(timer);
        done();
      } catch (err) {
        if (err instanceof ApiError && err.status === 429 && err.retryAfter > 0) {
          let remaining = err.retryAfter;
          button.dataset.locked = 'yes';
          button.disabled = true;
          const tick = () => {
            error.textContent = `${err.message} You can try again in ${remaining} s.`;
            if (remaining-- <= 0) {
              clearInterval(timer);
              delete button.dataset.locked;
              button.disabled = false;
              error.textContent = '';
            }
          };
          tick();
          timer = setInterval(tick, 1000);
        } else {
          error.textContent = err.message;
        }
      }
    },
  });
  show(h('section', { class: 'card narrow' },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'Enter the admin password of this Mallard Metrics server.'),
    form));
  input.focus();
}
