// A small client for the Mallard HTTP API: JSON in and out, the session cookie
// sent automatically, and errors turned into ApiError with the server's message.

export class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export async function api(method, path, body) {
  const options = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError(0, 'The Mallard Metrics server cannot be reached. Is it still running?');
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const message = (data && typeof data.error === 'string') ? data.error : `The server answered ${response.status}.`;
    const retry = Number(response.headers.get('Retry-After')) || 0;
    throw new ApiError(response.status, message, retry);
  }
  return data;
}

export const authStatus = () => api('GET', '/api/auth/status');
export const setup = (password) => api('POST', '/api/auth/setup', { password });
export const login = (password) => api('POST', '/api/auth/login', { password });
export const logout = () => api('POST', '/api/auth/logout', {});
export const listKeys = () => api('GET', '/api/keys');
export const createKey = (name, scope) => api('POST', '/api/keys', { name, scope });
export const revokeKey = (hash) => api('DELETE', `/api/keys/${encodeURIComponent(hash)}`);
