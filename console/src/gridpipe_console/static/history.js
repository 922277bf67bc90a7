// History list from /api/alerts, newest first, paging to older alerts when
// the sentinel at the bottom scrolls into view.
import { alertRow } from './rows.js';
import { alertQuery, getJSON, fmtCount } from './util.js';

const PAGE_SIZE = 100;

export function createHistory({ list, sentinel, scroller, errorBox, note, query }) {
  let generation = 0;
  let current = null; // query of the current load (fixed "since")
  let next = null;
  let loading = false;
  let seen = new Set();

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMore();
  }, { root: scroller, rootMargin: '300px' });
  observer.observe(sentinel);

  // Re-observing makes the observer report again if the sentinel is still visible.
  function rearm() {
    observer.unobserve(sentinel);
    observer.observe(sentinel);
  }

  function append(alerts) {
    const frag = document.createDocumentFragment();
    for (const a of alerts) {
      const id = String(a && a.id);
      if (!a || seen.has(id)) continue;
      seen.add(id);
      frag.append(alertRow(a));
    }
    list.append(frag);
    note.textContent = `${fmtCount(list.childElementCount)} loaded`;
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  async function fetchPage(gen, until) {
    loading = true;
    sentinel.textContent = 'loading…';
    let data;
    try {
      data = await getJSON(alertQuery({ ...current, until, limit: PAGE_SIZE }));
    } catch (err) {
      if (gen !== generation) return;
      loading = false;
      sentinel.textContent = '';
      showError(err.message);
      return;
    }
    if (gen !== generation) return;
    loading = false;
    showError('');
    append(Array.isArray(data.alerts) ? data.alerts : []);
    next = data.next && data.next.until ? data.next.until : null;
    if (next) sentinel.textContent = '';
    else sentinel.textContent = list.childElementCount ? 'end of history' : 'no alerts in this range';
    if (next) rearm();
  }

  function reload() {
    generation += 1;
    current = query();
    next = null;
    seen = new Set();
    list.replaceChildren();
    note.textContent = '';
    scroller.scrollTop = 0;
    fetchPage(generation, null);
  }

  function loadMore() {
    if (!loading && next && current) fetchPage(generation, next);
  }

  return { reload };
}
