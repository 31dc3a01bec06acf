// What a person typed, until the relay has stored it: never dropped, never sent twice.
//
// One `send` is in flight at a time. The relay answers the frames of one connection in
// order, and its `error` frames carry no `ref`, so with a single frame in flight every
// `ack`, `unavailable` or `rate_limited` is about that frame, and a message retried after
// one can never overtake a later one: messages are stored in the order they were typed.
// Each retry reuses the message's `ref`, so the relay stores it once (protocol.md).

const ACK_TIMEOUT_MS = 5000;          // no answer (e.g. dropped silently over the rate limit)
const RETRY_BASE_MS = 500;
const RETRY_CAP_MS = 8000;
const RATE_LIMIT_PAUSE_MS = 1000;     // the relay's bucket refills RATE_LIMIT tokens a second
export const GIVE_UP_MS = 30000;      // retrying longer than this marks the message failed

const RETRYABLE = new Set(["unavailable", "rate_limited"]);

function newRef() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
}

export class Outbox {
  // transmit(frame) -> bool sends on the open, joined socket; listeners get the item.
  constructor({ transmit, onQueued, onSending, onStored, onFailed, onRetrying }) {
    this.transmit = transmit;
    this.listeners = { onQueued, onSending, onStored, onFailed, onRetrying };
    this.queue = [];           // items in typing order; queue[0] may be in flight
    this.failed = new Map();   // ref -> item the person can retry
    this.inFlight = null;
    this.timer = null;         // ack timeout or retry backoff, one at a time
    this.connected = false;
  }

  get size() {
    return this.queue.length;
  }

  // `room`: where it goes (all rooms share the one socket, so one queue keeps the order).
  add(text, room) {
    const item = { ref: newRef(), text, room, attempts: 0, firstTry: null };
    this.queue.push(item);
    this.listeners.onQueued(item);
    this.pump();
    return item;
  }

  // The person left a room: what waits for it is dropped (it has nowhere to go).
  dropRoom(room) {
    this.queue = this.queue.filter((item) => item.room !== room || item === this.inFlight);
    for (const [ref, item] of this.failed) if (item.room === room) this.failed.delete(ref);
  }

  // A failed message goes to the back of the queue with its ref: still stored only once.
  retry(ref) {
    const item = this.failed.get(ref);
    if (!item) return;
    this.failed.delete(ref);
    item.attempts = 0;
    item.firstTry = null;
    this.queue.push(item);
    this.pump();
  }

  connectionReady() {
    this.connected = true;
    this.pump();
  }

  connectionLost() {
    // The in-flight frame may or may not have been stored: resending its ref is safe.
    this.connected = false;
    this.inFlight = null;
    this.clearTimer();
  }

  acknowledged(ref, id) {
    if (!this.inFlight || this.inFlight.ref !== ref) return; // a late duplicate ack
    const item = this.queue.shift();
    this.inFlight = null;
    this.clearTimer();
    this.listeners.onStored(item, id);
    this.pump();
  }

  // An `error` frame arrived; returns true when it was about the message in flight.
  refused(code, detail) {
    const item = this.inFlight;
    if (!item) return false;
    this.inFlight = null;
    this.clearTimer();
    if (!RETRYABLE.has(code)) {
      this.failAll(code, detail);
      return true;
    }
    this.scheduleRetry(item, code, detail);
    return true;
  }

  scheduleRetry(item, code, detail) {
    if (Date.now() - item.firstTry >= GIVE_UP_MS) {
      // Everything behind it fails too: sending those first would break the typed order.
      this.failAll(code, detail);
      return;
    }
    const exponential = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (item.attempts - 1));
    const jittered = exponential / 2 + Math.random() * (exponential / 2);
    const delay = code === "rate_limited" ? Math.max(RATE_LIMIT_PAUSE_MS, jittered) : jittered;
    this.listeners.onRetrying(item, code, delay);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, delay);
  }

  failAll(code, detail) {
    const failed = this.queue.splice(0);
    for (const item of failed) {
      this.failed.set(item.ref, item);
      this.listeners.onFailed(item, code, detail);
    }
  }

  pump() {
    if (!this.connected || this.inFlight || this.timer || this.queue.length === 0) return;
    const item = this.queue[0];
    if (!this.transmit({ type: "send", room: item.room, text: item.text, ref: item.ref })) return;
    this.inFlight = item;
    this.listeners.onSending(item);
    item.attempts += 1;
    if (item.firstTry === null) item.firstTry = Date.now();
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.inFlight === item) this.refused("rate_limited", "no answer from the relay");
    }, ACK_TIMEOUT_MS);
  }

  clearTimer() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
