// WebSocket to /ws with reconnect backoff (0.5 s doubling to 5 s).

const FIRST_DELAY = 500;
const MAX_DELAY = 5000;

export function openSocket({ onOpen, onMessage, onState }) {
  let ws = null;
  let delay = FIRST_DELAY;
  let opened = false;

  function connect() {
    onState('connecting');
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(`${proto}//${location.host}/ws`);
    ws.addEventListener('open', () => {
      delay = FIRST_DELAY;
      onState('connected');
      onOpen(opened);
      opened = true;
    });
    ws.addEventListener('message', (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg && typeof msg === 'object') onMessage(msg);
    });
    ws.addEventListener('close', () => {
      ws = null;
      onState('disconnected', delay);
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, MAX_DELAY);
    });
  }

  connect();
  return {
    send(obj) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(obj));
      return true;
    },
  };
}
