// The live list: alerts, summaries and skip notices from the WebSocket.
// Messages are queued and rendered in an animation frame, at most one list
// update per MIN_RENDER_GAP_MS: each update costs the page a frame's style,
// layout and paint (about 20 ms of CPU on a slow machine), so rendering every
// alert in its own frame cost Chromium more than a core at the 115-145 alerts/s
// of the SC-002 load (bench/console_page_cost.py).
// An alert after a quiet spell is drawn in the next frame. The list keeps at
// most MAX_ROWS rows and never re-renders what is already shown.
import { alertRow, alertOf, summaryRow, skippedRow, noticeRow } from './rows.js';
import { BoundedSet, frameAfterGap } from './util.js';
import { alarm, flash } from './sound.js';

const MAX_ROWS = 50; // the newest; older alerts are in the history panel
const MAX_IDS = 20000;
const GAP_SLACK_MS = 10000;
const MIN_RENDER_GAP_MS = 50; // at most ~20 list updates per second
const FLOOD_RENDER_GAP_MS = 100; // in a flood, at most ~10
const FLOOD_BATCH = 20; // this many queued rows make a flood

export function createLive({ list, stats, wantsPipeline, wantsLevel, onAlert, onSummary, onReload }) {
  const seen = new BoundedSet(MAX_IDS);
  let pending = [];
  let scheduled = false;
  let flashPending = false;
  let newest = 0; // newest event time seen, ms since epoch
  let lastFlush = -Infinity; // performance.now() of the last list update

  function wanted(item) {
    if (item.kind === 'alert') return wantsPipeline(item.data.pipeline) && wantsLevel(item.data.level);
    if (item.kind === 'summary') return wantsPipeline(item.data.pipeline);
    return true;
  }

  function makeRow(item) {
    if (item.kind === 'alert') return alertRow(item.data);
    if (item.kind === 'summary') return summaryRow(item.data);
    if (item.kind === 'skipped') return skippedRow(item.data, onReload);
    return noticeRow(item.data);
  }

  function renderGap() {
    return pending.length >= FLOOD_BATCH ? FLOOD_RENDER_GAP_MS : MIN_RENDER_GAP_MS;
  }

  // The next list update: in the next frame, or once the gap since the last one has passed.
  function schedule() {
    frameAfterGap(lastFlush, renderGap(), flush);
  }

  function flush() {
    const now = performance.now();
    if (now - lastFlush < renderGap()) { // a flood began while this update waited
      schedule();
      return;
    }
    lastFlush = now;
    scheduled = false;
    const items = pending.slice(-MAX_ROWS);
    pending = [];
    const frag = document.createDocumentFragment();
    for (let i = items.length - 1; i >= 0; i--) frag.append(makeRow(items[i]));
    list.prepend(frag);
    while (list.childElementCount > MAX_ROWS) list.lastElementChild.remove();
    if (flashPending) {
      flashPending = false;
      flash();
    }
  }

  function queue(kind, data) {
    pending.push({ kind, data });
    // Only the newest MAX_ROWS can ever be shown (matters when frames stall).
    if (pending.length > 2 * MAX_ROWS) pending = pending.slice(-MAX_ROWS);
    if (!scheduled) {
      scheduled = true;
      schedule();
    }
  }

  function noteTime(iso) {
    const t = Date.parse(iso);
    if (t > newest) newest = t;
  }

  function addAlert(a) {
    if (!a || typeof a !== 'object') return;
    if (!wantsPipeline(a.pipeline) || !wantsLevel(a.level)) return;
    const id = String(a.id);
    if (seen.has(id)) return;
    seen.add(id);
    noteTime(a.time);
    stats.alerts += 1;
    onAlert(a);
    if (a.level === 'critical') {
      alarm();
      flashPending = true;
    }
    queue('alert', a);
  }

  function addSummary(msg) {
    stats.summaries += 1;
    if (!wantsPipeline(msg.pipeline)) return;
    onSummary(msg);
    queue('summary', msg);
  }

  function addSkipped(msg) {
    stats.skipped += 1;
    stats.skippedAlerts += Number(msg.count) || 0;
    queue('skipped', msg);
  }

  function addNotice(message) {
    queue('notice', message);
  }

  // Drop shown and queued rows that no longer match the filters.
  function applyFilters() {
    pending = pending.filter(wanted);
    for (const row of [...list.children]) {
      const a = alertOf(row);
      if (a && !wanted({ kind: 'alert', data: a })) row.remove();
      else if (row.classList.contains('summary') && !wantsPipeline(row.dataset.pipeline)) row.remove();
    }
  }

  // Where to resume after a reconnect: the newest alert seen (or when the
  // connection was lost, whichever is earlier) minus slack.
  function resumeSince(lostAtMs) {
    return new Date(Math.min(newest || lostAtMs, lostAtMs) - GAP_SLACK_MS).toISOString();
  }

  return { addAlert, addSummary, addSkipped, addNotice, applyFilters, resumeSince };
}
