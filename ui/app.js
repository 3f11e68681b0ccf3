// The dashboard application: decides what to show from the authentication
// state and the URL hash (#/ and #/keys), so every screen can be bookmarked.

import { authStatus, logout } from './api.js';
import { h, show } from './dom.js';
import { openAccessChosen, renderLogin, renderSetup } from './views/auth.js';
import { renderHome } from './views/home.js';
import { renderKeys } from './views/keys.js';

const routes = { '': renderHome, keys: renderKeys };

function routeName() {
  return window.location.hash.replace(/^#\/?/, '').split('?')[0];
}

function markNav(name, signedIn, canSignOut) {
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('logout').hidden = !canSignOut;
  for (const link of document.querySelectorAll('nav a[data-route]')) {
    const current = (link.dataset.route === 'dashboard' ? '' : link.dataset.route) === name;
    if (current) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
}

async function render() {
  let status;
  try {
    status = await authStatus();
  } catch (err) {
    show(h('section', { class: 'card narrow' }, h('h1', {}, 'Cannot reach the server'), h('p', { class: 'error' }, err.message)));
    return;
  }
  if (status.setup_required && !openAccessChosen()) {
    markNav('', false, false);
    renderSetup(render);
    return;
  }
  if (!status.authenticated) {
    markNav('', false, false);
    renderLogin(render);
    return;
  }
  const name = routeName();
  const view = routes[name] ?? renderHome;
  markNav(name in routes ? name : '', true, !status.setup_required);
  await view();
}

document.getElementById('logout').addEventListener('click', async () => {
  try { await logout(); } finally { window.location.hash = '#/'; await render(); }
});
window.addEventListener('hashchange', render);
render();
