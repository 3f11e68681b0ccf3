// The dashboard's stats requests: aborted when the view changes, queued so
// that they never exceed the server's query limit, and retried when the server
// still answers that it is busy. No screen shows a "too many queries" error
// caused by the dashboard's own requests, nor an error for an aborted request.
//
// The server runs at most `max_concurrent_queries` stats queries at once
// (8 unless configured), of which at most 2 behavioural ones (funnel,
// retention, flow, sequences, sessions, export), and answers 429 with
// `Retry-After: 1` beyond (charts: 503 with `Retry-After` beyond 2 drawn at
// once). It does not tell clients its limit, so the dashboard keeps at most
// half of the defaults in flight: the server frees the slot of an aborted
// request as soon as it sees the connection close, which may come a moment
// after the next view's requests arrive. A request that still meets a busy
// server waits for `Retry-After` and tries again.

import { api, apiText, ApiError, isAbort } from './api.js';

/** Stats requests in flight at most, and behavioural ones among them. */
export const LIMITS = { stats: 4, behaviour: 1 };
/** Tries of one request before a busy answer is shown as an error. */
const MAX_TRIES = 30;

/** A counting semaphore whose waiters can be aborted. */
class Slots {
  constructor(size) {
    this.free = size;
    this.waiting = [];
  }

  /** Resolves with a function that frees the slot; rejects when `signal` aborts. */
  take(signal) {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.free > 0) {
      this.free -= 1;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter = { resolve: () => resolve(this.releaser()) };
      waiter.abort = () => {
        this.waiting = this.waiting.filter((w) => w !== waiter);
        reject(signal.reason);
      };
      signal?.addEventListener('abort', waiter.abort, { once: true });
      waiter.signal = signal;
      this.waiting.push(waiter);
    });
  }

  releaser() {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) {
        next.signal?.removeEventListener('abort', next.abort);
        next.resolve();
      } else {
        this.free += 1;
      }
    };
  }
}

const statsSlots = new Slots(LIMITS.stats);
const behaviourSlots = new Slots(LIMITS.behaviour);

let view = new AbortController();

/** Starts a new view: aborts every stats request of the previous one. */
export function beginView() {
  view.abort();
  view = new AbortController();
  return view.signal;
}

/** The signal of the current view, aborted when the next one begins. */
export const viewSignal = () => view.signal;

/** Whether `err` says the server is busy and names when to retry. */
const busy = (err) => err instanceof ApiError && (err.status === 429 || (err.status === 503 && err.retryAfter > 0));

function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(signal.reason); return; }
    const timer = setTimeout(() => { signal?.removeEventListener('abort', stop); resolve(); }, ms);
    const stop = () => { clearTimeout(timer); reject(signal.reason); };
    signal?.addEventListener('abort', stop, { once: true });
  });
}

/**
 * GETs `path` of the stats API once a slot is free (a behavioural slot too
 * with `behaviour`), as JSON or, with `text`, as text; `signal` (by default
 * the current view's) aborts it, waiting or running.
 */
export async function statsGet(path, { signal = viewSignal(), behaviour = false, text = false } = {}) {
  for (let tries = 1; ; tries += 1) {
    const releaseBehaviour = behaviour ? await behaviourSlots.take(signal) : null;
    let release = null;
    let retryAfter = 0;
    try {
      release = await statsSlots.take(signal);
      return await (text ? apiText(path, { signal }) : api('GET', path, undefined, { signal }));
    } catch (err) {
      if (isAbort(err) || !busy(err) || tries >= MAX_TRIES) throw err;
      retryAfter = err.retryAfter;
    } finally {
      release?.();
      releaseBehaviour?.();
    }
    await pause(Math.max(1, retryAfter) * 1000, signal);
  }
}

export { isAbort };

// Stats of the current view; `query` is a URLSearchParams with site_id, period and filters.
export const realtimeVisitors = (siteId) => statsGet(`/api/stats/realtime?site_id=${encodeURIComponent(siteId)}`);
export const sessionsList = (query) => statsGet(`/api/stats/visits?${query}`, { behaviour: true });
export const funnel = (query) => statsGet(`/api/stats/funnel?${query}`, { behaviour: true });
export const retention = (query) => statsGet(`/api/stats/retention?${query}`, { behaviour: true });
export const sequences = (query) => statsGet(`/api/stats/paths?${query}`, { behaviour: true });
export const flow = (query) => statsGet(`/api/stats/flow/around?${query}`, { behaviour: true });
export const topPages = (query) => statsGet(`/api/stats/breakdown/pages?${query}`);
