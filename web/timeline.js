// The message list: stored messages in id order, then the person's own messages that the
// relay has not stored yet (pending, or failed with a Retry button). Text is always set
// with textContent, never parsed as HTML.

import { showName } from "./names.js";

const GROUP_WINDOW_MS = 5 * 60 * 1000; // consecutive messages of one sender share a header

export function compareIds(a, b) {
  const [am, as] = a.split("-").map(BigInt);
  const [bm, bs] = b.split("-").map(BigInt);
  return am === bm ? (as < bs ? -1 : as > bs ? 1 : 0) : (am < bm ? -1 : 1);
}

export function avatarImage(src, size) {
  const img = document.createElement("img");
  img.src = src;
  img.alt = "";
  img.width = size;
  img.height = size;
  return img;
}

function sameDay(a, b) {
  return a.toDateString() === b.toDateString();
}

// "14:05" (or "2:05 PM") today; "Mon 30 Nov, 14:05" before today; the year too when it is another
// year. A numeric hour: "2-digit" would write "02:05 PM" in 12-hour locales.
function shortTime(date, now = new Date()) {
  const time = date.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  if (sameDay(date, now)) return time;
  const day = date.toLocaleDateString([], {
    weekday: "short",
    day: "numeric",
    month: "short",
    ...(date.getFullYear() === now.getFullYear() ? {} : { year: "numeric" }),
  });
  return `${day}, ${time}`;
}

function fullTime(date) {
  return date.toLocaleString([], { dateStyle: "full", timeStyle: "long" });
}

export class Timeline {
  constructor({ list, emptyLine, onRetry, members, onAttachments, onChange = () => {} }) {
    this.onAttachments = onAttachments; // (container, attachments): service.attachments' chips
    this.list = list;
    this.members = members;     // () -> the members present (id -> member), for name suffixes
    this.emptyLine = emptyLine; // null: onChange says when the list changed
    this.onChange = onChange;
    this.onRetry = onRetry;
    this.me = null;
    this.byId = new Map();      // message id -> li, stored messages shown
    this.byRef = new Map();     // ref -> li, own messages not shown as stored yet
    this.awaiting = new Map();  // message id (from an ack) -> ref, until its `messages` frame
    this.lastId = null;         // newest stored message shown: the resume point
  }

  setMe(member) {
    this.me = member;
    for (const li of this.list.querySelectorAll("li.message")) this.markOwn(li);
  }

  // Members came or went: a name may now need its id suffix, or no longer.
  refreshNames() {
    const members = this.members();
    for (const li of this.list.querySelectorAll("li.message")) {
      showName(li.querySelector(".meta b"), li.dataset.member, li.dataset.username, members);
    }
  }

  markOwn(li) {
    const own = this.me !== null && li.dataset.member === this.me.id;
    li.classList.toggle("own", own || li.dataset.ref !== undefined);
    li.querySelector(".you").hidden = !li.classList.contains("own");
  }

  // Older messages (a history page), placed by id without scrolling: the caller keeps
  // what is on screen in place.
  addOlder(messages) {
    for (const message of messages) this.addStored(message, false);
  }

  // A stored message, from history or live; a repeat of a shown id is ignored.
  addStored(message, follow = true) {
    if (this.byId.has(message.id)) return;
    if (!this.lastId || compareIds(message.id, this.lastId) > 0) this.lastId = message.id;
    const li = this.build({
      member: message.member,
      username: message.username,
      avatar: message.avatar,
      date: new Date(message.date),
      text: message.text,
    });
    li.dataset.messageId = message.id;
    if (message.attachments && this.onAttachments) {
      const files = document.createElement("div");
      files.className = "files";
      li.querySelector(".text").after(files);
      this.onAttachments(files, message.attachments);
    }
    this.byId.set(message.id, li);
    const ref = this.awaiting.get(message.id);
    if (ref !== undefined) {
      this.awaiting.delete(message.id);
      this.removeOwn(ref);
    }
    this.insertStored(li, message.id, follow);
  }

  addPending(item) {
    const li = this.build({
      member: this.me ? this.me.id : "",
      username: this.me ? this.me.username : "You",
      avatar: this.me ? this.me.avatar : "",
      date: new Date(),
      text: item.text,
    });
    li.dataset.ref = item.ref;
    li.classList.add("pending");
    this.setState(li, "sending…");
    this.byRef.set(item.ref, li);
    this.list.append(li);
    this.afterChange(li, true);
  }

  // The relay stored it (ack). Its `messages` frame may have come first, or may follow.
  stored(ref, id) {
    if (this.byId.has(id)) {
      this.removeOwn(ref);
      return;
    }
    const li = this.byRef.get(ref);
    if (!li) return;
    li.classList.remove("pending", "failed");
    this.setState(li, "");
    this.awaiting.set(id, ref);
  }

  retrying(ref, why) {
    const li = this.byRef.get(ref);
    if (li && li.classList.contains("pending")) this.setState(li, why);
  }

  failed(ref, reason) {
    const li = this.byRef.get(ref);
    if (!li) return;
    li.classList.remove("pending");
    li.classList.add("failed");
    this.setState(li, "");
    const failure = li.querySelector(".failure");
    failure.hidden = false;
    failure.querySelector(".reason").textContent = `Not sent: ${reason}.`;
    // Failed ones move to the end, in order, behind anything still pending.
    this.list.append(li);
  }

  requeued(ref) {
    const li = this.byRef.get(ref);
    if (!li) return;
    li.classList.remove("failed");
    li.classList.add("pending");
    li.querySelector(".failure").hidden = true;
    this.setState(li, "sending…");
    this.list.append(li);
  }

  addGapMarker() {
    const li = document.createElement("li");
    li.className = "gap";
    li.textContent = "Some earlier messages are no longer available.";
    this.insertStored(li, null);
  }

  // internals

  build({ member, username, avatar, date, text }) {
    const li = document.createElement("li");
    li.className = "message";
    li.dataset.member = member;
    li.dataset.username = username;
    li.dataset.date = String(date.getTime());
    const body = document.createElement("div");
    body.className = "body";
    const meta = document.createElement("div");
    meta.className = "meta";
    const who = document.createElement("b");
    showName(who, member, username, this.members());
    const you = document.createElement("span");
    you.className = "you";
    you.textContent = "(you)";
    const when = document.createElement("time");
    when.dateTime = date.toISOString();
    when.textContent = shortTime(date);
    when.title = fullTime(date);
    const state = document.createElement("span");
    state.className = "state";
    meta.append(who, you, " ", when, state);
    const textBlock = document.createElement("div");
    textBlock.className = "text";
    textBlock.textContent = text;
    const failure = document.createElement("div");
    failure.className = "failure";
    failure.hidden = true;
    const reason = document.createElement("span");
    reason.className = "reason";
    const retry = document.createElement("button");
    retry.type = "button";
    retry.textContent = "Retry";
    retry.addEventListener("click", () => this.onRetry(li.dataset.ref));
    failure.append(reason, " ", retry);
    body.append(meta, textBlock, failure);
    li.append(avatar ? avatarImage(avatar, 32) : document.createElement("span"), body);
    li.firstChild.classList.add("avatar");
    this.markOwn(li);
    return li;
  }

  setState(li, text) {
    li.querySelector(".state").textContent = text ? ` · ${text}` : "";
  }

  removeOwn(ref) {
    const li = this.byRef.get(ref);
    if (!li) return;
    this.byRef.delete(ref);
    const next = li.nextElementSibling;
    li.remove();
    if (next) this.group(next);
    this.afterChange(null, false);
  }

  // The relay deleted a stored message (message_deleted): it leaves the page.
  removeStored(id) {
    const li = this.byId.get(id);
    if (!li) return;
    this.byId.delete(id);
    const next = li.nextElementSibling;
    li.remove();
    if (next) this.group(next);
    this.afterChange(null, false);
  }

  // Stored messages keep id order; they all come before own unstored messages.
  insertStored(li, id, follow = true) {
    let before = this.list.querySelector("li[data-ref]");
    if (id !== null) {
      let previous = before ? before.previousElementSibling : this.list.lastElementChild;
      while (previous && previous.dataset.messageId && compareIds(previous.dataset.messageId, id) > 0) {
        before = previous;
        previous = previous.previousElementSibling;
      }
    }
    const atBottom = follow && this.atBottom();
    this.list.insertBefore(li, before);
    this.afterChange(li, atBottom);
  }

  atBottom() {
    const list = this.list;
    return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  }

  afterChange(li, scroll) {
    if (li) {
      this.group(li);
      if (li.nextElementSibling) this.group(li.nextElementSibling);
    }
    if (this.emptyLine) this.emptyLine.hidden = this.list.childElementCount > 0;
    if (scroll) this.list.scrollTop = this.list.scrollHeight;
    this.onChange();
  }

  // A message continues the previous one's group: same sender, same day, within minutes.
  group(li) {
    if (!li.classList.contains("message")) return;
    const previous = li.previousElementSibling;
    const continued =
      previous !== null &&
      previous.classList.contains("message") &&
      previous.dataset.member === li.dataset.member &&
      li.dataset.member !== "" &&
      sameDay(new Date(Number(previous.dataset.date)), new Date(Number(li.dataset.date))) &&
      Number(li.dataset.date) - Number(previous.dataset.date) < GROUP_WINDOW_MS;
    li.classList.toggle("continued", continued);
  }
}
