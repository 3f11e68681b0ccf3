// Tiny DOM helpers: build elements without innerHTML, so no server value can
// ever become markup; plus the few widgets every screen shares (copy button,
// error message with what to do, confirmation dialog).

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else {
      element.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Replaces the content of <main> and moves focus there for screen readers. */
export function show(...children) {
  const main = document.getElementById('main');
  main.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
}

/** Copies text to the clipboard and confirms on the button. */
export async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Select and copy';
  }
  setTimeout(() => { button.textContent = 'Copy'; }, 2000);
}

/** A "Copy" button for `text`; `label` names what it copies for screen readers. */
export function copyButton(text, id, label) {
  const button = h('button', { type: 'button', class: 'secondary', id, 'aria-label': label ? `Copy ${label}` : null }, 'Copy');
  button.addEventListener('click', () => copy(text, button));
  return button;
}

/** An error in words: the server's message and what to do about it. */
export function errorBox(err, id) {
  const hint = err && err.hint ? err.hint : '';
  return h('div', { class: 'error-box', role: 'alert', id },
    h('p', { class: 'error' }, err && err.message ? err.message : String(err)),
    hint ? h('p', { class: 'muted' }, hint) : null);
}

/**
 * Asks a yes/no question in a modal dialog; resolves true for yes. With
 * `typed`, the yes button stays disabled until that text is typed (for what
 * cannot be undone).
 */
export function confirmDialog({ title, text, confirm, id = 'confirm-dialog', typed }) {
  return new Promise((resolve) => {
    const yes = h('button', { type: 'button', class: 'danger', id }, confirm);
    const no = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    let check = null;
    if (typed) {
      check = h('input', { id: `${id}-typed`, autocomplete: 'off', spellcheck: 'false' });
      yes.disabled = true;
      check.addEventListener('input', () => { yes.disabled = check.value.trim() !== typed; });
    }
    const dialog = h('dialog', { 'aria-labelledby': 'dialog-title', 'aria-describedby': 'dialog-text' },
      h('h2', { id: 'dialog-title' }, title),
      h('p', { id: 'dialog-text' }, text),
      check ? h('label', { for: `${id}-typed` }, 'Type ', h('strong', {}, typed), ' to confirm') : null,
      check,
      h('div', { class: 'row' }, yes, no));
    const close = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    yes.addEventListener('click', () => close(true));
    no.addEventListener('click', () => close(false));
    dialog.addEventListener('cancel', () => close(false));
    document.body.append(dialog);
    dialog.showModal();
    (check || no).focus();
  });
}

/** A table that scrolls sideways in a narrow window instead of overflowing. */
export function scroller(table) {
  return h('div', { class: 'table-wrap' }, table);
}
