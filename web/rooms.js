// The rooms this browser is in, all on one WebSocket: each room's timeline (its own list,
// shown one at a time), members, unread count and last read position, and the room list.
// The list of rooms and each room's last read message id are kept in localStorage.

import { Timeline, compareIds } from "./timeline.js";

// Room names, as the relay checks them (contract/protocol.py ROOM_PATTERN; a test compares).
export const ROOM_PATTERN = "[a-z0-9][a-z0-9_-]{0,63}";
const ROOM_NAME = new RegExp(`^${ROOM_PATTERN}$`);
const ROOMS_KEY = "chat-relay:rooms";
const readKey = (name) => `chat-relay:read:${name}`;

export function roomProblem(name) {
  if (ROOM_NAME.test(name)) return "";
  return "Room names are 1–64 characters of a–z, 0–9, '_' or '-', starting with a letter or digit.";
}

export function storedRoomNames() {
  try {
    const names = JSON.parse(localStorage.getItem(ROOMS_KEY) || "[]");
    return Array.isArray(names) ? names.filter((name) => ROOM_NAME.test(name)) : [];
  } catch {
    return [];
  }
}

export class Room {
  constructor(name, { onRetry, onChange, onAttachments }) {
    this.name = name;
    this.list = document.createElement("ol");
    this.list.className = "messages";
    this.list.setAttribute("aria-label", `messages in #${name}`);
    this.list.setAttribute("aria-live", "polite");
    this.list.hidden = true;
    this.timeline = new Timeline({
      list: this.list, emptyLine: null, onRetry, onChange, members: () => this.members,
      onAttachments: (container, files) => onAttachments(container, files, name),
    });
    this.members = new Map(); // member id -> member
    this.unread = 0;
    this.lastRead = localStorage.getItem(readKey(name));
    this.subscribed = false; // its burst arrived on the current socket
    this.olderComplete = false; // a history_page said nothing older is kept
    this.loadingOlder = false;
    this.scroll = null; // where the list was when it was hidden (null: at the bottom)
  }

  hide() {
    const list = this.list;
    this.scroll = this.timeline.atBottom() ? null : list.scrollTop;
    list.hidden = true;
    list.removeAttribute("id");
  }

  // Shown as the page's #messages, where it was left (or at its newest message).
  show() {
    const list = this.list;
    list.id = "messages";
    list.hidden = false;
    list.scrollTop = this.scroll === null ? list.scrollHeight : this.scroll;
  }

  // Messages arrived while the room is not shown: count those newer than the read
  // position and not the person's own.
  countUnread(messages, me) {
    for (const message of messages) {
      const mine = me && message.member === me.id;
      if (!mine && (!this.lastRead || compareIds(message.id, this.lastRead) > 0)) this.unread += 1;
    }
  }

  markRead() {
    this.unread = 0;
    const last = this.timeline.lastId;
    if (last && last !== this.lastRead) {
      this.lastRead = last;
      localStorage.setItem(readKey(this.name), last);
    }
  }

  forget() {
    localStorage.removeItem(readKey(this.name));
    this.list.remove();
  }
}

// The room list: a button per room (with its unread count) to show it, one to leave it,
// and a form to join another by name.
export class RoomList {
  constructor({ list, toggleCount, onShow, onLeave }) {
    this.list = list;
    this.toggleCount = toggleCount;
    this.onShow = onShow;
    this.onLeave = onLeave;
  }

  save(rooms) {
    localStorage.setItem(ROOMS_KEY, JSON.stringify([...rooms.keys()]));
  }

  render(rooms, active) {
    this.list.replaceChildren();
    let unread = 0;
    for (const room of rooms.values()) {
      unread += room.unread;
      const li = document.createElement("li");
      li.dataset.room = room.name;
      li.classList.toggle("active", room === active);
      const show = document.createElement("button");
      show.type = "button";
      show.className = "room-button";
      if (room === active) show.setAttribute("aria-current", "true");
      const label = document.createElement("span");
      label.className = "room-label";
      label.textContent = `#${room.name}`;
      show.append(label);
      if (room.unread > 0) {
        const badge = document.createElement("span");
        badge.className = "unread";
        const words = document.createElement("span");
        words.className = "visually-hidden";
        words.textContent = " unread";
        badge.append(String(room.unread), words);
        show.append(badge);
      }
      show.addEventListener("click", () => this.onShow(room));
      li.append(show);
      if (rooms.size > 1) {
        const leave = document.createElement("button");
        leave.type = "button";
        leave.className = "leave";
        leave.textContent = "×";
        leave.setAttribute("aria-label", `Leave #${room.name}`);
        leave.title = `Leave #${room.name}`;
        leave.addEventListener("click", () => this.onLeave(room));
        li.append(leave);
      }
      this.list.append(li);
    }
    this.toggleCount.textContent = unread > 0 ? String(unread) : "";
  }
}
