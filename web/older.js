// Older messages on demand: scrolled to the top of a room (or its "Load older messages"
// button), the page asks for a `history` page before the oldest message it shows and
// puts it above without moving what is on screen.

import { compareIds } from "./timeline.js";

export const HISTORY_PAGE = 50; // a `history` limit (1..100, contract/protocol.py MAX_HISTORY_PAGE)
const NEAR_TOP_PX = 40;

export class OlderMessages {
  constructor({ button, send }) {
    this.button = button;
    this.send = send;
    this.room = null; // the room shown
    this.onScroll = () => {
      if (this.room && this.room.list.scrollTop < NEAR_TOP_PX) this.request(this.room);
    };
    button.addEventListener("click", () => this.room && this.request(this.room));
  }

  show(room) {
    if (this.room) this.room.list.removeEventListener("scroll", this.onScroll);
    this.room = room;
    room.list.addEventListener("scroll", this.onScroll, { passive: true });
    this.render();
  }

  oldestId(room) {
    let oldest = null;
    for (const id of room.timeline.byId.keys()) {
      if (oldest === null || compareIds(id, oldest) < 0) oldest = id;
    }
    return oldest;
  }

  render() {
    const room = this.room;
    this.button.hidden = !room || room.olderComplete || this.oldestId(room) === null;
    this.button.disabled = Boolean(room && room.loadingOlder);
    this.button.textContent = room && room.loadingOlder ? "Loading older messages…" : "Load older messages";
  }

  request(room) {
    const before = this.oldestId(room);
    if (room.loadingOlder || room.olderComplete || before === null || !room.subscribed) return;
    const frame = { type: "history", room: room.name, before, limit: HISTORY_PAGE, ref: before };
    if (!this.send(frame)) return;
    room.loadingOlder = true;
    if (room === this.room) this.render();
  }

  // A `history_page` for `room`: insert it above, keeping the visible messages in place.
  received(room, frame) {
    room.loadingOlder = false;
    room.olderComplete = frame.complete;
    // Anchored on the second message shown so far: the first may join the older page's
    // last group (and lose its header); everything from the second on keeps its place.
    const list = room.list;
    const first = list.firstElementChild;
    const anchor = first && (first.nextElementSibling || first);
    const top = anchor ? anchor.getBoundingClientRect().top : 0;
    room.timeline.addOlder(frame.messages);
    if (room === this.room) this.render(); // first: the button going moves the list too
    if (anchor) list.scrollTop += anchor.getBoundingClientRect().top - top;
  }

  // The socket closed: a page in flight will not come.
  reset(rooms) {
    for (const room of rooms) room.loadingOlder = false;
    this.render();
  }
}
