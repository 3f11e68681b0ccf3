// The "Local server" card of the settings screen: where this server listens.
// In the desktop app the port can be changed here: the app moves its server
// to the new port and the window follows, signed in, without a restart.

import { h, errorBox } from '../dom.js';
import { api } from '../api.js';

export async function hostCard() {
  const card = h('section', { class: 'card', id: 'host-card' }, h('h2', {}, 'Local server'));
  let host;
  try {
    host = await api('GET', '/api/host');
  } catch (err) {
    card.append(errorBox(err));
    return card;
  }
  if (!host.port_changeable) {
    card.append(h('p', { class: 'muted' },
      `This server listens on port ${host.port}. Its port is set when it starts: --port, MALLARD_PORT or \`port\` in the config file.`));
    return card;
  }
  const input = h('input', { id: 'host-port', type: 'number', min: 1024, max: 65535, step: 1, inputmode: 'numeric', value: host.port, 'aria-describedby': 'host-port-help' });
  const status = h('p', { class: 'muted', id: 'host-status', role: 'status' });
  const error = h('div', { id: 'host-error' });
  const form = h('form', { id: 'host-form', novalidate: true },
    h('label', { for: 'host-port' }, 'Port'), input,
    h('p', { class: 'muted small', id: 'host-port-help' },
      'Sites send their events to this port: after a change, update the tracker snippet on your sites. For a permanent change also set `port` in the config file.'),
    error,
    h('div', { class: 'row' }, h('button', { type: 'submit', id: 'move-port' }, 'Change port'), status));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.replaceChildren();
    const port = Number(input.value);
    if (!Number.isInteger(port) || port < 1024 || port > 65535) {
      error.replaceChildren(errorBox({ message: 'Enter a port between 1024 and 65535.' }));
      input.focus();
      return;
    }
    try {
      const moved = await api('PUT', '/api/host/port', { port });
      status.textContent = `Moving to ${moved.url}… this window follows in a moment.`;
    } catch (err) {
      error.replaceChildren(errorBox(err));
    }
  });
  card.append(h('p', { class: 'muted small' }, 'Mallard Metrics Desktop runs this server inside the app.'), form);
  return card;
}
