// gridpipe console: wires filters, the WebSocket, and the panels together.
import { el, text, levelRank, alertQuery, getJSON, poll } from './util.js';
import { alertOf, showDetail } from './rows.js';
import { initSound } from './sound.js';
import { openSocket } from './socket.js';
import { createLive } from './live.js';
import { createHistory } from './history.js';
import { initCounts, setCounts, bumpCounts, renderStatus, renderStatusError } from './panels.js';
import { renderTelemetry, renderTelemetryError } from './telemetry.js';

const $ = (sel) => document.querySelector(sel);

const state = {
  pipelines: [],          // names, in /api/pipelines order
  selected: new Set(),    // checked pipeline names
  minLevel: 'low',
  sensor: '',
  type: '',
  rangeMs: 3600000,
};
const stats = { alerts: 0, summaries: 0, skipped: 0, skippedAlerts: 0 };
let resolveReady;
const ready = new Promise((resolve) => { resolveReady = resolve; });
window.gridpipeConsole = { ready, stats };

let socket = null;
let connected = false;
let disconnectedAt = Date.now(); // when the last connection was lost

// ---- filters ----

function allSelected() {
  return state.pipelines.every((p) => state.selected.has(p));
}

// Pipelines to ask the server for; empty means all.
function pipelineParam() {
  return allSelected() ? [] : state.pipelines.filter((p) => state.selected.has(p));
}

function wantsPipeline(name) {
  return state.selected.has(name) || (!state.pipelines.includes(name) && allSelected());
}

function wantsLevel(level) {
  return levelRank(level) >= levelRank(state.minLevel);
}

function historyQuery() {
  return {
    pipelines: pipelineParam(),
    minLevel: state.minLevel,
    sensor: state.sensor,
    type: state.type,
    since: new Date(Date.now() - state.rangeMs).toISOString(),
  };
}

function pipelineCheckbox(name) {
  const label = el('label', 'pipeline-option');
  const box = el('input');
  box.type = 'checkbox';
  box.value = name;
  box.checked = state.selected.has(name);
  box.dataset.pipeline = name;
  label.append(box, document.createTextNode(` ${name}`));
  return label;
}

function renderPipelineFilter() {
  const fieldset = $('#pipeline-filter');
  fieldset.replaceChildren(el('legend', null, 'Pipelines'), ...state.pipelines.map(pipelineCheckbox));
}

// The console's pipelines as it knows them now (on Kubernetes they come and go): a new one is shown and
// selected, a deleted one disappears. Returns whether anything changed.
function syncPipelines(names) {
  const known = names.filter((name) => typeof name === 'string');
  const gone = state.pipelines.filter((name) => !known.includes(name));
  const added = known.filter((name) => !state.pipelines.includes(name));
  if (!gone.length && !added.length) return false;
  for (const name of gone) state.selected.delete(name);
  for (const name of added) state.selected.add(name);
  state.pipelines = state.pipelines.filter((name) => known.includes(name)).concat(added);
  if (!state.selected.size) for (const name of state.pipelines) state.selected.add(name); // one was chosen; it went
  renderPipelineFilter();
  return true;
}

function onPipelineToggle(box) {
  if (!box.checked && state.selected.size === 1 && state.selected.has(box.value)) {
    box.checked = true; // keep at least one pipeline selected
    return;
  }
  if (box.checked) state.selected.add(box.value);
  else state.selected.delete(box.value);
  filtersChanged();
}

function filtersChanged() {
  subscribe();
  live.applyFilters();
  historyList.reload();
}

function debounce(fn, ms) {
  let timer = null;
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
}

function initFilters() {
  const form = $('#filters');
  form.addEventListener('submit', (ev) => ev.preventDefault());
  $('#pipeline-filter').addEventListener('change', (ev) => {
    if (ev.target.matches('input[type=checkbox]')) onPipelineToggle(ev.target);
  });
  $('#min-level').addEventListener('change', (ev) => {
    state.minLevel = ev.target.value;
    filtersChanged();
  });
  $('#time-range').addEventListener('change', (ev) => {
    state.rangeMs = Number(ev.target.value);
    historyList.reload();
  });
  const textChanged = debounce(() => {
    state.sensor = $('#filter-sensor').value.trim();
    state.type = $('#filter-type').value.trim();
    historyList.reload();
  }, 400);
  $('#filter-sensor').addEventListener('input', textChanged);
  $('#filter-type').addEventListener('input', textChanged);
}

// ---- live feed and socket ----

const live = createLive({
  list: $('#live'),
  stats,
  wantsPipeline,
  wantsLevel,
  onAlert: (a) => bumpCounts(a.pipeline, a.severity, a.level),
  onSummary: (msg) => {
    for (const g of Array.isArray(msg.groups) ? msg.groups : []) {
      bumpCounts(msg.pipeline, g.severity, g.level, Number(g.count) || 0);
    }
  },
  onReload: () => historyList.reload(),
});

const historyList = createHistory({
  list: $('#history'),
  sentinel: $('#history-sentinel'),
  scroller: $('#history-scroll'),
  errorBox: $('#history-error'),
  note: $('#history-note'),
  query: historyQuery,
});

function subscribe() {
  if (socket) socket.send({ kind: 'subscribe', pipelines: pipelineParam(), minLevel: state.minLevel });
}

const CONNECTION_LABELS = { connecting: 'connecting…', connected: 'live', disconnected: 'disconnected' };

function showConnection(connState, retryMs) {
  const node = $('#connection');
  node.dataset.state = connState;
  let label = CONNECTION_LABELS[connState];
  if (connState === 'disconnected') label += ` — retrying in ${(retryMs / 1000).toFixed(1)} s`;
  if (connected && connState !== 'connected') disconnectedAt = Date.now();
  connected = connState === 'connected';
  node.querySelector('.label').textContent = label;
}

// After a reconnect, fetch what arrived while we were away (oldest first).
async function fillGap(since) {
  const base = { pipelines: pipelineParam(), minLevel: state.minLevel, since };
  const alerts = [];
  let until = null;
  for (let page = 0; page < 20; page++) {
    const data = await getJSON(alertQuery({ ...base, until, limit: 500 }));
    alerts.push(...(Array.isArray(data.alerts) ? data.alerts : []));
    until = data.next && data.next.until;
    if (!until) break;
  }
  alerts.sort((a, b) => (Date.parse(a.time) || 0) - (Date.parse(b.time) || 0));
  for (const a of alerts) live.addAlert(a);
}

// History may lag behind Kafka by a few seconds, so the gap is filled more
// than once; ids already shown are skipped.
const GAP_FILL_DELAYS_MS = [0, 3000, 10000, 30000];

function onSocketOpen(isReconnect) {
  subscribe();
  if (!isReconnect) return;
  const since = live.resumeSince(disconnectedAt);
  for (const delay of GAP_FILL_DELAYS_MS) {
    setTimeout(() => {
      fillGap(since).catch((err) => live.addNotice(`could not fill the gap after reconnecting: ${err.message}`));
    }, delay);
  }
}

function showSubscription(msg) {
  const names = Array.isArray(msg.pipelines) && msg.pipelines.length ? msg.pipelines.join(', ') : 'all pipelines';
  $('#subscription').textContent = `${names} · ≥ ${text(msg.minLevel || state.minLevel)}`;
}

function onSocketMessage(msg) {
  switch (msg.kind) {
    case 'alert': live.addAlert(msg.alert); break;
    case 'summary': live.addSummary(msg); break;
    case 'skipped': live.addSkipped(msg); break;
    case 'subscribed': showSubscription(msg); resolveReady(); break;
    case 'hello':
      if (Array.isArray(msg.pipelines) && syncPipelines(msg.pipelines)) subscribe();
      if (msg.maxLiveRate) $('#live-note').textContent = `summarised above ${text(msg.maxLiveRate)}/s per pipeline`;
      break;
    case 'error': live.addNotice(`server: ${text(msg.message)}`); break;
    default: break;
  }
}

// ---- detail view ----

function openRow(target) {
  const row = target.closest('li.alert');
  const alert = row && alertOf(row);
  if (alert) showDetail($('#detail'), alert);
}

function initDetail() {
  const dialog = $('#detail');
  $('#detail-close').addEventListener('click', () => dialog.close());
  dialog.addEventListener('click', (ev) => { if (ev.target === dialog) dialog.close(); });
  for (const list of [$('#live'), $('#history')]) {
    list.addEventListener('click', (ev) => {
      if (!ev.target.closest('button')) openRow(ev.target);
    });
    list.addEventListener('keydown', (ev) => {
      if ((ev.key === 'Enter' || ev.key === ' ') && ev.target.matches('li.alert')) {
        ev.preventDefault();
        openRow(ev.target);
      }
    });
  }
}

// ---- polling panels ----

async function refreshCounts() {
  setCounts(await getJSON('/api/counts'));
}

async function refreshStatus() {
  try {
    const status = await getJSON('/api/status');
    renderStatus($('#status'), status);
    if (Array.isArray(status.pipelines) && syncPipelines(status.pipelines.map((p) => p.name))) subscribe();
  } catch (err) {
    renderStatusError($('#status'), err.message);
  }
}

async function refreshTelemetry() {
  try {
    renderTelemetry($('#telemetry'), await getJSON('/api/telemetry'));
  } catch (err) {
    renderTelemetryError($('#telemetry'), err.message);
  }
}

async function loadPipelines() {
  for (;;) {
    try {
      const data = await getJSON('/api/pipelines');
      return Array.isArray(data.pipelines) ? data.pipelines : [];
    } catch (err) {
      $('#pipeline-filter').replaceChildren(el('legend', null, 'Pipelines'), el('span', 'error-box', err.message));
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

async function main() {
  initSound($('#mute'), $('#enable-sound'));
  initCounts($('#counts'));
  initDetail();
  initFilters();
  poll(refreshCounts, 5000);
  poll(refreshStatus, 5000);
  poll(refreshTelemetry, 1000);
  const pipelines = await loadPipelines();
  syncPipelines(pipelines.map((p) => p.name));
  renderPipelineFilter();
  historyList.reload();
  socket = openSocket({ onOpen: onSocketOpen, onMessage: onSocketMessage, onState: showConnection });
}

main();
