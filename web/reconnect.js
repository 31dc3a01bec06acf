// When and why the page reconnects after its socket closed.

import { CLOSE_RESTARTING, CLOSE_SIGN_IN_EXPIRED, CLOSE_TRY_AGAIN } from "./protocol.js";

const RECONNECT_BASE_MS = 500;
const RECONNECT_CAP_MS = 15000;

// Full jitter: after a relay restarts, its clients spread out instead of stampeding.
export function reconnectDelay(attempt) {
  return Math.random() * Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** attempt);
}

// What the status line says about a close, by its code.
export function closeReason(code) {
  if (code === CLOSE_SIGN_IN_EXPIRED) return "sign-in expired";
  if (code === CLOSE_RESTARTING) return "relay restarting";
  if (code === CLOSE_TRY_AGAIN) return "relay busy";
  return "offline";
}
