// Counts and status panels.
import { el, text, LEVELS, SEVERITY_ORDER, severityLevel, levelClass, fmtCount, frameAfterGap } from './util.js';

// ---- counts ----

const counts = { hours: 24, byLevel: {}, byPipeline: {} };
let countsRoot = null;
let countsScheduled = false;
let countsRenderedAt = -Infinity;
// Live alerts bump the counts; redrawing them on every alert would cost a frame each.
const COUNTS_RENDER_GAP_MS = 1000;

export function initCounts(root) {
  countsRoot = root;
  const tiles = root.querySelector('.level-tiles');
  for (const level of LEVELS) {
    const tile = el('div', `count-tile level-${level}`);
    tile.dataset.level = level;
    tile.append(el('span', 'count-name', level), el('span', 'count-value', '—'));
    tiles.append(tile);
  }
}

function scheduleCounts() {
  if (countsScheduled || !countsRoot) return;
  countsScheduled = true;
  frameAfterGap(countsRenderedAt, COUNTS_RENDER_GAP_MS, renderCounts);
}

export function setCounts(data) {
  counts.hours = data.hours ?? 24;
  counts.byLevel = { ...(data.byLevel || {}) };
  counts.byPipeline = {};
  for (const [name, bySeverity] of Object.entries(data.byPipeline || {})) {
    counts.byPipeline[name] = { ...bySeverity };
  }
  scheduleCounts();
}

export function bumpCounts(pipeline, severity, level, n = 1) {
  const p = text(pipeline);
  const s = text(severity);
  counts.byLevel[level] = (counts.byLevel[level] || 0) + n;
  counts.byPipeline[p] = counts.byPipeline[p] || {};
  counts.byPipeline[p][s] = (counts.byPipeline[p][s] || 0) + n;
  scheduleCounts();
}

function severityRank(s) {
  const i = SEVERITY_ORDER.indexOf(s);
  return i < 0 ? SEVERITY_ORDER.length : i;
}

function pipelineRow(name, bySeverity) {
  const tr = el('tr');
  const cell = el('td', 'chips');
  const entries = Object.entries(bySeverity).sort((a, b) => severityRank(a[0]) - severityRank(b[0]));
  let total = 0;
  for (const [severity, n] of entries) {
    total += Number(n) || 0;
    const chip = el('span', `chip level-${levelClass(severityLevel(severity))}`);
    chip.textContent = `${severity} ${fmtCount(n)}`;
    cell.append(chip);
  }
  tr.append(el('th', null, name), cell, el('td', 'num', fmtCount(total)));
  return tr;
}

function renderCounts() {
  countsScheduled = false;
  countsRenderedAt = performance.now();
  countsRoot.querySelector('#counts-window').textContent = `last ${text(counts.hours)} h`;
  for (const tile of countsRoot.querySelectorAll('.count-tile')) {
    tile.querySelector('.count-value').textContent = fmtCount(counts.byLevel[tile.dataset.level] || 0);
  }
  const rows = Object.keys(counts.byPipeline).sort()
    .map((name) => pipelineRow(name, counts.byPipeline[name]));
  countsRoot.querySelector('.pipeline-counts tbody').replaceChildren(...rows);
}

// ---- status ----

function depBadge(name, dep) {
  const ok = Boolean(dep && dep.reachable);
  const badge = el('div', `dep ${ok ? 'ok' : 'down'}`);
  badge.dataset.reachable = String(ok);
  badge.append(el('span', 'dep-name', name), el('span', 'dep-state', ok ? '✓ reachable' : '✗ unreachable'));
  if (dep && dep.error) badge.append(el('span', 'dep-error', dep.error));
  return badge;
}

function jobClass(job) {
  if (job === 'RUNNING') return 'job-running';
  if (job === 'FAILED') return 'job-failed';
  return 'job-other';
}

function jobRow(p) {
  const tr = el('tr');
  tr.dataset.pipeline = text(p.name);
  const job = el('td', jobClass(p.job), p.job || 'unknown');
  tr.append(
    el('th', null, p.name), el('td', null, p.profile), el('td', 'topic', p.topic), job,
    el('td', 'num', p.lag == null ? '—' : fmtCount(p.lag)),
    el('td', 'num', fmtCount(p.consumed)),
  );
  return tr;
}

export function renderStatus(root, data) {
  root.querySelector('.deps').replaceChildren(depBadge('Kafka', data.kafka), depBadge('InfluxDB', data.influxdb));
  const pipelines = Array.isArray(data.pipelines) ? data.pipelines : [];
  root.querySelector('.jobs tbody').replaceChildren(...pipelines.map(jobRow));
}

export function renderStatusError(root, message) {
  const box = el('div', 'dep down');
  box.append(el('span', 'dep-name', 'console API'), el('span', 'dep-error', message));
  root.querySelector('.deps').replaceChildren(box);
}
