"""A script installed in a benchmark's page before its own scripts: when each alert row entered the DOM, and when
the frame that rendered it was done (``window.__bench.dom`` / ``.rendered``: alert id -> epoch ms, the page's clock).

A task posted during a frame's animation callbacks runs once that frame's style, layout and paint are done
(rasterising on the compositor's threads may still follow); rows added outside a frame wait for the next one.
"""

ROW_STAMPS = """
window.__bench = Object.assign(window.__bench || {}, {dom: {}, rendered: {}});
let inFrame = false;
const nativeFrame = window.requestAnimationFrame.bind(window);
window.requestAnimationFrame = (callback) => nativeFrame((ts) => {
  inFrame = true;
  // Cleared after the mutation observer's microtask, which the callback's insertions queued first.
  try { callback(ts); } finally { queueMicrotask(() => { inFrame = false; }); }
});
function stampRendered(ids) {
  const afterThisFrame = () => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      const at = performance.timeOrigin + performance.now();
      for (const id of ids) window.__bench.rendered[id] = at;
    };
    channel.port2.postMessage(0);
  };
  if (inFrame) afterThisFrame(); else nativeFrame(afterThisFrame);
}
new MutationObserver((records) => {
  const now = performance.timeOrigin + performance.now();
  const added = [];
  for (const r of records) for (const n of r.addedNodes)
    if (n.dataset && n.dataset.alertId && !(n.dataset.alertId in window.__bench.dom)) {
      window.__bench.dom[n.dataset.alertId] = now;
      added.push(n.dataset.alertId);
    }
  if (added.length) stampRendered(added);
}).observe(document, {childList: true, subtree: true});
"""
