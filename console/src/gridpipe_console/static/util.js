// Small helpers shared by the console modules. Nothing here touches HTML
// parsing: untrusted text only ever goes through textContent.

export const LEVELS = ['low', 'medium', 'high', 'critical'];

// Severity names as pipelines spell them, mapped to the colour level.
const SEVERITY_LEVEL = {
  INFO: 'low', WARNING: 'medium', ERROR: 'high', CRITICAL: 'critical',
  low: 'low', medium: 'medium', high: 'high', critical: 'critical',
};
export const SEVERITY_ORDER = Object.keys(SEVERITY_LEVEL);

export function levelRank(level) {
  return Math.max(0, LEVELS.indexOf(level));
}

// A class-safe level name (the raw value may be anything).
export function levelClass(level) {
  return LEVELS.includes(level) ? level : 'unknown';
}

export function severityLevel(severity) {
  return SEVERITY_LEVEL[severity] || 'unknown';
}

export function text(value) {
  return value === null || value === undefined ? '' : String(value);
}

// createElement with constant class names and optional text content.
export function el(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (content !== undefined && content !== null) node.textContent = String(content);
  return node;
}

export function fmtTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? text(iso) : d.toISOString().slice(11, 23);
}

export function fmtDateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return text(iso);
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 23)} UTC`;
}

const numberFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3, useGrouping: false });
const countFormat = new Intl.NumberFormat('en-US');

export function fmtNumber(v) {
  if (v === null || v === undefined) return '—';
  return typeof v === 'number' ? numberFormat.format(v) : String(v);
}

export function fmtCount(v) {
  return typeof v === 'number' ? countFormat.format(v) : '—';
}

export class HttpError extends Error {}

export async function getJSON(url) {
  const res = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok) throw new HttpError((body && body.error) || `HTTP ${res.status} for ${url}`);
  return body;
}

// Call fn every ms milliseconds, never overlapping; fn handles its own errors.
export function poll(fn, ms) {
  const tick = async () => {
    try { await fn(); } catch (err) { console.warn('poll failed', err); }
    setTimeout(tick, ms);
  };
  tick();
}

// Query string for /api/alerts. pipelines: array of names, empty = all.
export function alertQuery({ pipelines = [], minLevel, type, sensor, since, until, limit }) {
  const q = new URLSearchParams();
  for (const p of pipelines) q.append('pipeline', p);
  if (minLevel) q.set('minLevel', minLevel);
  if (type) q.set('type', type);
  if (sensor) q.set('sensor', sensor);
  if (since) q.set('since', since);
  if (until) q.set('until', until);
  if (limit) q.set('limit', String(limit));
  return `/api/alerts?${q}`;
}

// An insertion-ordered Set that forgets its oldest entries past `max`.
export class BoundedSet {
  constructor(max) { this.max = max; this.set = new Set(); }
  has(key) { return this.set.has(key); }
  add(key) {
    this.set.add(key);
    if (this.set.size > this.max) this.set.delete(this.set.values().next().value);
  }
  clear() { this.set.clear(); }
}

// Runs `callback` in an animation frame at least `gapMs` after `lastAt` (a performance.now() time): in the next
// frame when that has passed already. Each redraw costs the page a frame, so busy panels space theirs out.
export function frameAfterGap(lastAt, gapMs, callback) {
  const wait = lastAt + gapMs - performance.now();
  if (wait <= 0) requestAnimationFrame(callback);
  else setTimeout(() => requestAnimationFrame(callback), wait);
}
