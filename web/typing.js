// "Ann is typing…": typing notices out (at most one per room every TYPING_INTERVAL_MS, as
// the relay allows; it drops the rest) and in (shown for the active room until the
// member's message arrives or the notice is older than TYPING_SHOW_MS).

export const TYPING_INTERVAL_MS = 2000; // contract/protocol.py TYPING_INTERVAL (a test compares)
const TYPING_SHOW_MS = 3 * TYPING_INTERVAL_MS; // a typist sends one notice per interval

export class TypingNotices {
  constructor({ line, send }) {
    this.line = line;
    this.send = send;
    this.lastSent = new Map(); // room -> time a notice was sent
    this.typists = new Map(); // room -> Map(member id -> time last seen typing)
    this.timer = null;
  }

  // The person typed in `room`'s input.
  typed(room) {
    const now = Date.now();
    if (now - (this.lastSent.get(room) || 0) < TYPING_INTERVAL_MS) return;
    if (this.send({ type: "typing", room })) this.lastSent.set(room, now);
  }

  // The person sent a message: the next keystroke may announce again at once.
  sent(room) {
    this.lastSent.delete(room);
  }

  heard(room, memberId) {
    if (!this.typists.has(room)) this.typists.set(room, new Map());
    this.typists.get(room).set(memberId, Date.now());
  }

  stopped(room, memberId) {
    const typists = this.typists.get(room);
    if (typists) typists.delete(memberId);
  }

  forget(room) {
    this.typists.delete(room);
    this.lastSent.delete(room);
  }

  // Render the line for the shown room; `members` names the typists.
  render(room, members) {
    clearTimeout(this.timer);
    const typists = this.typists.get(room) || new Map();
    const now = Date.now();
    const names = [];
    let next = Infinity;
    for (const [id, seen] of typists) {
      const left = seen + TYPING_SHOW_MS - now;
      const member = members.get(id);
      if (left <= 0 || !member) {
        typists.delete(id);
        continue;
      }
      names.push(member.username);
      next = Math.min(next, left);
    }
    names.sort((a, b) => a.localeCompare(b));
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = `${names.length} people are typing…`;
    this.line.textContent = text;
    if (next !== Infinity) this.timer = setTimeout(() => this.render(room, members), next + 50);
  }
}
