// List rows (alert, summary, skipped) and the alert detail view.
import { el, text, levelClass, severityLevel, fmtTime, fmtDateTime, fmtNumber } from './util.js';

const alertOfRow = new WeakMap();

export function alertOf(row) {
  return alertOfRow.get(row);
}

function quantityValue(a) {
  if (a.quantity == null && a.value == null) return '';
  return `${text(a.quantity) || 'value'}=${fmtNumber(a.value)}`;
}

export function alertRow(a) {
  const li = el('li', `alert level-${levelClass(a.level)}`);
  li.dataset.alertId = text(a.id);
  li.dataset.level = text(a.level);
  li.dataset.pipeline = text(a.pipeline);
  li.tabIndex = 0;
  const head = el('div', 'line');
  head.append(
    el('span', 'a-time', fmtTime(a.time)),
    el('span', 'a-sev', text(a.severity).toUpperCase()),
    el('span', 'a-type', a.type),
    el('span', 'a-sensor', a.sensor),
    el('span', 'a-value', quantityValue(a)),
    el('span', 'a-expected', a.expected),
  );
  const tail = el('div', 'line');
  tail.append(el('span', 'a-pipeline', a.pipeline), el('span', 'a-desc', a.description));
  li.append(head, tail);
  alertOfRow.set(li, a);
  return li;
}

function groupChip(g) {
  const level = levelClass(g.level || severityLevel(g.severity));
  const chip = el('span', `chip level-${level}`);
  chip.textContent = `${text(g.severity || g.level).toUpperCase()} ${text(g.type)} ×${text(g.count)}`;
  return chip;
}

export function summaryRow(msg) {
  const li = el('li', 'summary');
  li.dataset.pipeline = text(msg.pipeline);
  const groups = el('span', 'groups');
  for (const g of Array.isArray(msg.groups) ? msg.groups : []) groups.append(groupChip(g));
  li.append(
    el('span', 'a-time', fmtTime(msg.second)),
    el('span', 'a-pipeline', msg.pipeline),
    el('span', 'a-text', msg.text),
    groups,
  );
  return li;
}

export function skippedRow(msg, onReload) {
  const li = el('li', 'skipped');
  const button = el('button', 'reload', 'reload history');
  button.type = 'button';
  button.addEventListener('click', onReload);
  li.append(el('span', 'a-text', msg.text || `${text(msg.count)} alerts skipped`), button);
  return li;
}

export function noticeRow(message) {
  const li = el('li', 'notice');
  li.append(el('span', 'a-text', message));
  return li;
}

// ---- detail view ----

const FIELD_ORDER = ['id', 'pipeline', 'profile', 'time', 'severity', 'level', 'type', 'sensor',
  'quantity', 'value', 'expected', 'description', 'deviation', 'threshold', 'detectedAt',
  'window', 'original', 'mean', 'stddev', 'count', 'lengthMs'];
const TIME_FIELDS = new Set(['time', 'detectedAt']);

function orderedKeys(obj) {
  const keys = Object.keys(obj);
  const known = FIELD_ORDER.filter((k) => keys.includes(k));
  return known.concat(keys.filter((k) => !FIELD_ORDER.includes(k)));
}

function valueText(key, v) {
  if (v === null || v === undefined) return '—';
  if (TIME_FIELDS.has(key) && typeof v === 'string') return `${v}  (${fmtDateTime(v)})`;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function fieldList(obj, depth) {
  const dl = el('dl', depth ? 'nested' : null);
  for (const key of orderedKeys(obj)) {
    const v = obj[key];
    const dd = el('dd');
    if (v && typeof v === 'object' && !Array.isArray(v) && depth < 4) {
      dd.append(fieldList(v, depth + 1));
    } else {
      dd.textContent = valueText(key, v);
    }
    dl.append(el('dt', null, key), dd);
  }
  return dl;
}

export function showDetail(dialog, alert) {
  const target = dialog.querySelector('#detail-fields');
  const title = dialog.querySelector('#detail-title');
  title.textContent = `${text(alert.severity).toUpperCase()} · ${text(alert.type)} · ${text(alert.sensor)}`;
  dialog.dataset.level = text(alert.level);
  target.replaceChildren(...fieldList(alert, 0).childNodes);
  if (!dialog.open) dialog.showModal();
}
