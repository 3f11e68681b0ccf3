// The dashboard application: decides what to show from the authentication
// state and the URL hash (#/, #/funnel and the other Behaviour screens,
// #/realtime, #/sites, #/import, #/keys, #/settings), so every screen can be bookmarked;
// the Dashboard and Behaviour links keep the site, period and filters. A
// screen may return a function that stops its background work (the realtime
// polling); it runs when another opens. Every render begins a new view, which
// aborts the stats requests still in flight for the previous one.

import { authStatus, logout } from './api.js';
import { h, show, errorBox } from './dom.js';
import { beginView } from './queries.js';
import { openAccessChosen, renderLogin, renderSetup } from './views/auth.js';
import { SCREENS, sharedQuery, readState } from './views/behaviour.js';
import { renderDashboard } from './views/dashboard.js';
import { renderFlow } from './views/flow.js';
import { renderFunnel } from './views/funnel.js';
import { renderKeys } from './views/keys.js';
import { renderImport } from './views/log_import.js';
import { renderRealtime } from './views/realtime.js';
import { renderRetention } from './views/retention.js';
import { renderSequences } from './views/sequences.js';
import { renderSessions } from './views/sessions.js';
import { renderSettings } from './views/settings.js';
import { renderSites } from './views/sites.js';

const routes = {
  '': renderDashboard, funnel: renderFunnel, retention: renderRetention, flow: renderFlow, sequences: renderSequences, sessions: renderSessions,
  realtime: renderRealtime, sites: renderSites, keys: renderKeys, settings: renderSettings, import: renderImport,
};
const BEHAVIOUR = SCREENS.map(([name]) => name);
let stopCurrent = null;
let renders = 0;

function routeName() {
  return window.location.hash.replace(/^#\/?/, '').split('?')[0];
}

function markNav(name, signedIn, canSignOut) {
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('logout').hidden = !canSignOut;
  const shared = sharedQuery(readState());
  for (const link of document.querySelectorAll('nav a[data-route]')) {
    const route = link.dataset.route;
    if (route === 'dashboard') link.href = `#/?${shared}`;
    if (route === 'behaviour') link.href = `#/${BEHAVIOUR.includes(name) ? name : 'funnel'}?${shared}`;
    const current = route === 'behaviour' ? BEHAVIOUR.includes(name) : (route === 'dashboard' ? '' : route) === name;
    if (current) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
}

async function render() {
  if (stopCurrent) { stopCurrent(); stopCurrent = null; }
  beginView();
  const generation = ++renders;
  let status;
  try {
    status = await authStatus();
  } catch (err) {
    show(h('section', { class: 'card narrow' }, h('h1', {}, 'Cannot reach the server'), errorBox(err)));
    return;
  }
  // A newer render (the hash changed while this one asked) draws the screen.
  if (generation !== renders) return;
  // Open access is granted only on the server's own machine (authenticated);
  // elsewhere the first password must be set with the setup token.
  if (status.setup_required && (!openAccessChosen() || !status.authenticated)) {
    markNav('', false, false);
    renderSetup(render, status.authenticated);
    return;
  }
  if (!status.authenticated) {
    markNav('', false, false);
    renderLogin(render);
    return;
  }
  const name = routeName();
  const view = routes[name] ?? renderDashboard;
  markNav(name in routes ? name : '', true, !status.setup_required);
  const stop = await view();
  if (typeof stop !== 'function') return;
  // Another screen may have opened while this one loaded.
  if (generation === renders) stopCurrent = stop; else stop();
}

document.getElementById('logout').addEventListener('click', async () => {
  try { await logout(); } finally { window.location.hash = '#/'; await render(); }
});
window.addEventListener('hashchange', render);
render();
