// Critical-alert alarm (Web Audio) and screen flash.

const MUTE_KEY = 'gridpipe.muted';
const MIN_GAP_MS = 1000;

let ctx = null;
let muted = false;
let lastAlarm = -Infinity;
let lastFlash = -Infinity;

function readMuted() {
  try { return localStorage.getItem(MUTE_KEY) === '1'; } catch { return false; }
}

function writeMuted(value) {
  try { localStorage.setItem(MUTE_KEY, value ? '1' : '0'); } catch { /* private mode */ }
}

function showMuted(button) {
  button.setAttribute('aria-pressed', String(muted));
  button.textContent = muted ? 'Alarm muted' : 'Mute alarm';
}

function syncEnableButton(button) {
  button.hidden = !ctx || ctx.state !== 'suspended';
}

function resume() {
  // Browsers only allow resuming during a user gesture.
  const activation = navigator.userActivation;
  if (activation && !activation.isActive) return;
  if (ctx && ctx.state === 'suspended') ctx.resume().catch(() => {});
}

export function initSound(muteButton, enableButton) {
  muted = readMuted();
  showMuted(muteButton);
  muteButton.addEventListener('click', () => {
    muted = !muted;
    writeMuted(muted);
    showMuted(muteButton);
    resume();
  });
  try { ctx = new AudioContext(); } catch { ctx = null; }
  if (ctx) ctx.addEventListener('statechange', () => syncEnableButton(enableButton));
  syncEnableButton(enableButton);
  enableButton.addEventListener('click', resume);
  // Any user gesture may unlock audio.
  document.addEventListener('pointerdown', resume, { once: true });
}

export function alarm() {
  const now = performance.now();
  if (muted || !ctx || now - lastAlarm < MIN_GAP_MS) return;
  lastAlarm = now;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  const t = ctx.currentTime;
  osc.type = 'square';
  osc.frequency.setValueAtTime(880, t);
  osc.frequency.setValueAtTime(660, t + 0.2);
  gain.gain.setValueAtTime(0.0001, t);
  gain.gain.exponentialRampToValueAtTime(0.15, t + 0.02);
  gain.gain.setValueAtTime(0.15, t + 0.35);
  gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.4);
  osc.connect(gain).connect(ctx.destination);
  osc.start(t);
  osc.stop(t + 0.4);
}

// One flash a second at most: during a burst of critical alerts the screen is already flashing. The edges come on
// with the alert's row (the caller draws both in one frame) and go off once; fading or blinking them would make the
// browser draw a frame for every step, and each frame of this page costs it tens of milliseconds of CPU.
const FLASH_MS = 700;
export function flash() {
  const overlay = document.getElementById('flash');
  const now = performance.now();
  if (!overlay || now - lastFlash < MIN_GAP_MS) return;
  lastFlash = now;
  overlay.classList.add('on');
  setTimeout(() => overlay.classList.remove('on'), FLASH_MS);
}
