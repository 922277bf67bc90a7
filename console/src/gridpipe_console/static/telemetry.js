// Telemetry panel: a card per rocket, a table of grid meters in alert.
import { el, text, fmtNumber, fmtTime, fmtCount, levelClass, levelRank } from './util.js';

// The most urgent meters only: the panel is redrawn every second, and laying out and painting a table of 100 rows
// is a long task on a busy 2-core machine, during which live alerts wait. The history panel lists every alert.
const MAX_METERS = 20;

function rangeText(rule) {
  if (!rule) return 'no rule';
  if (rule.expectedRange) return rule.expectedRange;
  return `${fmtNumber(rule.min)}–${fmtNumber(rule.max)}`;
}

function paramRow(name, value, rule, firing) {
  const tr = el('tr', firing ? 'param firing' : 'param');
  tr.dataset.param = name;
  tr.append(
    el('th', null, name),
    el('td', 'num', fmtNumber(value)),
    el('td', 'range', rangeText(rule)),
    el('td', 'flag', firing ? 'OUT OF RANGE' : ''),
  );
  return tr;
}

function rocketCard(r) {
  const values = r.values && typeof r.values === 'object' ? r.values : {};
  const rules = Array.isArray(r.rules) ? r.rules : [];
  const firing = new Set(Array.isArray(r.firing) ? r.firing.map(String) : []);
  const ruleOf = new Map(rules.map((rule) => [String(rule.parameter), rule]));
  const params = [...new Set([...ruleOf.keys(), ...Object.keys(values)])];

  const card = el('article', firing.size ? 'rocket-card firing' : 'rocket-card');
  card.dataset.rocket = text(r.rocketId);
  card.dataset.pipeline = text(r.pipeline);
  const head = el('header');
  head.append(el('span', 'rocket-id', r.rocketId), el('span', 'muted', `${text(r.pipeline)} · ${fmtTime(r.time)}`));
  if (firing.size) head.append(el('span', 'firing-count', `${firing.size} firing`));
  const table = el('table', 'params');
  const body = el('tbody');
  for (const p of params) body.append(paramRow(p, values[p], ruleOf.get(p), firing.has(p)));
  table.append(body);
  card.append(head, table);
  return card;
}

function meterRow(m) {
  const tr = el('tr', `level-${levelClass(m.level)}`);
  tr.dataset.meter = text(m.meterId);
  tr.dataset.level = text(m.level);
  const value = m.quantity == null ? fmtNumber(m.value) : `${text(m.quantity)}=${fmtNumber(m.value)}`;
  tr.append(
    el('th', null, m.meterId), el('td', 'sev', text(m.severity).toUpperCase()), el('td', null, m.type),
    el('td', 'num', value), el('td', 'num', fmtCount(m.count)), el('td', 'num', fmtTime(m.lastTime)),
  );
  return tr;
}

function byUrgency(a, b) {
  return levelRank(b.level) - levelRank(a.level) || (Date.parse(b.lastTime) || 0) - (Date.parse(a.lastTime) || 0);
}

function metersTable(meters) {
  const wrap = el('div');
  wrap.append(el('h3', null, `Meters in alert (${fmtCount(meters.length)})`));
  if (!meters.length) {
    wrap.append(el('p', 'muted', 'no meter in alert'));
    return wrap;
  }
  const table = el('table', 'meter-table');
  const head = el('tr');
  for (const h of ['meter', 'severity', 'type', 'value', 'count', 'last (UTC)']) head.append(el('th', null, h));
  const thead = el('thead');
  thead.append(head);
  const body = el('tbody');
  body.append(...[...meters].sort(byUrgency).slice(0, MAX_METERS).map(meterRow));
  table.append(thead, body);
  wrap.append(table);
  if (meters.length > MAX_METERS) wrap.append(el('p', 'muted', `+${fmtCount(meters.length - MAX_METERS)} more`));
  return wrap;
}

export function renderTelemetry(root, data) {
  const rockets = Array.isArray(data.rockets) ? data.rockets : [];
  const meters = Array.isArray(data.meters) ? data.meters : [];
  root.querySelector('.rockets').replaceChildren(...rockets.map(rocketCard));
  root.querySelector('.meters').replaceChildren(metersTable(meters));
}

export function renderTelemetryError(root, message) {
  root.querySelector('.meters').replaceChildren(el('p', 'error-box', message));
}
