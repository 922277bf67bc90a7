// The Pipeline-health page: every panel of the Grafana "Pipeline health" dashboard, from the same definitions
// (the console's /api/pipeline-health), each a latest value per series and a line chart. Refreshed as the
// dashboard is.

import { el } from './util.js';

const COLOURS = ['#5aa2f0', '#3fb67a', '#e6c63c', '#f08a32', '#ec4a4a', '#b076f4', '#8591a1'];
const SVG = 'http://www.w3.org/2000/svg';

const state = { dashboard: null, pipeline: null, minutes: 15, timer: null };

// Grafana unit ids as this page shows them.
export function formatValue(value, unit) {
  if (value === null || value === undefined) return '–';
  const fixed = (v, digits) => Number(v).toLocaleString('en-US', { maximumFractionDigits: digits });
  switch (unit) {
    case 's':
      return value < 1 ? `${fixed(value * 1000, 1)} ms` : `${fixed(value, 2)} s`;
    case 'ms':
      return `${fixed(value, 1)} ms`;
    case 'percentunit':
      return `${fixed(value * 100, 1)} %`;
    case 'percent':
      return `${fixed(value, 1)} %`;
    case 'recps':
      return `${fixed(value, 1)} rec/s`;
    case 'ops':
    case 'reqps':
      return `${fixed(value, 2)}/s`;
    case 'bytes':
    case 'decbytes':
      return `${fixed(value / 1024 / 1024, 1)} MiB`;
    case 'binBps':
      return `${fixed(value / 1024, 1)} KiB/s`;
    default:
      return fixed(value, 2);
  }
}

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: 'application/json' } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${url}: HTTP ${response.status}`);
  return body;
}

function showProblem(message) {
  const problem = document.querySelector('#problem');
  problem.textContent = message || '';
  problem.hidden = !message;
}

function chart(series) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 100 40');
  svg.setAttribute('preserveAspectRatio', 'none');
  const points = series.flatMap((s) => s.points.filter((p) => p[1] !== null));
  if (points.length === 0) return svg;
  const [t0, t1] = [Math.min(...points.map((p) => p[0])), Math.max(...points.map((p) => p[0]))];
  const top = Math.max(...points.map((p) => p[1]), 0) || 1;
  series.forEach((s, i) => {
    const line = document.createElementNS(SVG, 'polyline');
    const xy = s.points.filter((p) => p[1] !== null)
      .map(([t, v]) => `${((t - t0) / Math.max(1, t1 - t0)) * 100},${40 - (v / top) * 38}`);
    line.setAttribute('points', xy.join(' '));
    line.setAttribute('stroke', COLOURS[i % COLOURS.length]);
    svg.append(line);
  });
  return svg;
}

function latest(series) {
  for (let i = series.points.length - 1; i >= 0; i -= 1) {
    if (series.points[i][1] !== null) return series.points[i][1];
  }
  return null;
}

function drawPanel(card, data) {
  const values = card.querySelector('.values');
  values.replaceChildren();
  if (data.series.length === 0) {
    values.append(el('span', 'empty', 'no data'));
  }
  data.series.forEach((s, i) => {
    const value = latest(s);
    const shown = el('span', 'value', formatValue(value, data.unit));
    shown.style.color = COLOURS[i % COLOURS.length];
    shown.dataset.series = s.name;
    shown.dataset.value = value === null ? '' : String(value);
    if (data.series.length > 1 || s.name !== data.title) shown.append(el('small', null, s.name));
    values.append(shown);
  });
  card.querySelector('svg').replaceWith(chart(data.series));
  card.dataset.loaded = 'true';
}

function layout(dashboard) {
  const rows = document.querySelector('#rows');
  rows.replaceChildren();
  for (const row of dashboard.rows) {
    const section = el('section', 'health-row');
    section.append(el('h2', null, row.title));
    const grid = el('div', 'health-panels');
    for (const panel of row.panels.filter((p) => p.drawn)) {
      const card = el('article', 'health-panel');
      card.dataset.index = String(panel.index);
      card.dataset.title = panel.title;
      card.title = panel.description;
      card.append(el('h3', null, panel.title), el('div', 'values'), document.createElementNS(SVG, 'svg'));
      grid.append(card);
    }
    section.append(grid);
    rows.append(section);
  }
}

async function refresh() {
  if (!state.pipeline) return;
  const cards = [...document.querySelectorAll('.health-panel')];
  const query = `pipeline=${encodeURIComponent(state.pipeline)}&minutes=${state.minutes}`;
  try {
    await Promise.all(cards.map(async (card) => {
      drawPanel(card, await getJson(`/api/pipeline-health/${card.dataset.index}?${query}`));
    }));
    showProblem(null);
    document.querySelector('#updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.refreshed = String(Date.now());
  } catch (error) {
    showProblem(error.message);
  }
}

function choosePipeline(names) {
  const select = document.querySelector('#pipeline');
  const wanted = new URLSearchParams(window.location.search).get('pipeline');
  select.replaceChildren(...names.map((name) => el('option', null, name)));
  state.pipeline = names.includes(wanted) ? wanted : names[0] || null;
  if (state.pipeline) select.value = state.pipeline;
  if (!state.pipeline) showProblem('the console follows no pipeline: there is nothing to show');
}

async function start() {
  try {
    state.dashboard = await getJson('/api/pipeline-health');
    const { pipelines } = await getJson('/api/pipelines');
    choosePipeline(pipelines.map((p) => p.name));
  } catch (error) {
    showProblem(error.message);
    return;
  }
  layout(state.dashboard);
  document.querySelector('#pipeline').addEventListener('change', (event) => {
    state.pipeline = event.target.value;
    const url = new URL(window.location.href);
    url.searchParams.set('pipeline', state.pipeline);
    window.history.replaceState(null, '', url);
    refresh();
  });
  document.querySelector('#minutes').addEventListener('change', (event) => {
    state.minutes = Number(event.target.value);
    refresh();
  });
  await refresh();
  state.timer = setInterval(refresh, state.dashboard.refreshSeconds * 1000);
}

window.gridpipeHealth = { ready: start() };
