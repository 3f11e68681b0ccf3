// A small client for the Mallard HTTP API: JSON in and out, the session cookie
// sent automatically, and errors turned into ApiError with the server's message
// and a hint of what to do.

const HINTS = {
  0: 'Check that Mallard Metrics is still running (the desktop app or `mallard serve`), then reload this page.',
  401: 'Your session has ended: reload the page and sign in again.',
  403: 'This needs an admin: sign in with the admin password (API keys with ReadOnly scope cannot do this).',
  404: 'It may have been removed in the meantime: reload the page.',
  409: 'Nothing was changed.',
  429: 'The server is busy: wait a few seconds and try again.',
  503: 'The database cannot answer right now (shutting down, or the disk is full). Free some disk space or restart Mallard Metrics, then retry.',
};

export class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
    this.hint = HINTS[status] ?? (status >= 500 ? 'Something went wrong on the server: retry, and check its log if it keeps happening.' : '');
  }
}

/** Whether `err` is the rejection of a request whose signal was aborted. */
export const isAbort = (err) => err?.name === 'AbortError';

/**
 * Sends a request and returns the response when it is a success; `signal`
 * aborts it (the promise then rejects with an AbortError, see isAbort).
 */
async function send(method, path, body, signal, accept) {
  const options = { method, credentials: 'same-origin', headers: { Accept: accept }, signal };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(0, 'The Mallard Metrics server cannot be reached.');
  }
  if (!response.ok) {
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    const message = (data && typeof data.error === 'string') ? data.error : `The server answered ${response.status}.`;
    const retry = Number(response.headers.get('Retry-After')) || 0;
    throw new ApiError(response.status, message, retry);
  }
  return response;
}

export async function api(method, path, body, { signal } = {}) {
  const text = await (await send(method, path, body, signal, 'application/json')).text();
  try { return text ? JSON.parse(text) : null; } catch { return null; }
}

/** A GET of a text document (an SVG chart), with the errors of `api`. */
export async function apiText(path, { signal } = {}) {
  return (await send('GET', path, undefined, signal, '*/*')).text();
}

export const authStatus = () => api('GET', '/api/auth/status');
export const setup = (password, setupToken) => api('POST', '/api/auth/setup', setupToken ? { password, setup_token: setupToken } : { password });
export const login = (password) => api('POST', '/api/auth/login', { password });
export const logout = () => api('POST', '/api/auth/logout', {});
export const listKeys = () => api('GET', '/api/keys');
export const createKey = (name, scope) => api('POST', '/api/keys', { name, scope });
export const revokeKey = (hash) => api('DELETE', `/api/keys/${encodeURIComponent(hash)}`);
export const listOpenAccessKeys = () => api('GET', '/api/open-access-keys');
export const revokeOpenAccessKeys = () => api('POST', '/api/open-access-keys/revoke', {});
export const keepOpenAccessKeys = () => api('POST', '/api/open-access-keys/keep', {});
export const listIngestKeys = () => api('GET', '/api/ingest-keys');
export const createIngestKey = (body) => api('POST', '/api/ingest-keys', body);
export const revokeIngestKey = (id) => api('DELETE', `/api/ingest-keys/${encodeURIComponent(id)}`);
export const listImports = () => api('GET', '/api/imports');
export const undoImport = (id) => api('DELETE', `/api/imports/${encodeURIComponent(id)}`);
export const listSites = ({ signal } = {}) => api('GET', '/api/sites', undefined, { signal });
export const addSite = (siteId, timeZone) => api('POST', '/api/sites', { site_id: siteId, time_zone: timeZone });
export const deleteSite = (siteId) => api('DELETE', `/api/sites/${encodeURIComponent(siteId)}`);
export const deleteSiteData = (siteId, from, to) => api('DELETE', `/api/sites/${encodeURIComponent(siteId)}/data?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
export const setSiteTimeZone = (siteId, timeZone) => api('PATCH', `/api/sites/${encodeURIComponent(siteId)}`, { time_zone: timeZone });
export const getSettings = () => api('GET', '/api/settings');
export const saveSettings = (changes) => api('PATCH', '/api/settings', changes);
export const recentEvents = (siteId) => api('GET', `/api/stats/realtime/events?site_id=${encodeURIComponent(siteId)}&limit=20`);
