// The rooms on the page's one socket, as the person sees them: the room shown (its list,
// members, typing line, "load older"), the room list with unread counts, and what each
// room's frames do to them. app.js owns the socket and hands frames here by room.

import { roomTokenFor } from "./room_tokens.js";
import { renderMembers } from "./members.js";
import { OlderMessages } from "./older.js";
import { Room, RoomList, roomProblem } from "./rooms.js";
import { TypingNotices } from "./typing.js";

export class RoomView {
  // ui: page elements; send(frame) -> bool on the joined socket; me() -> member or null;
  // onRetry(room, ref): a failed message's Retry; notice(text); shown(): a room was picked.
  constructor({ ui, send, me, onRetry, notice, shown, onAttachments }) {
    this.ui = ui;
    this.send = send;
    this.me = me;
    this.onRetry = onRetry;
    this.notice = notice;
    this.shown = shown;
    this.onAttachments = onAttachments; // (container, files, room): attachment chips
    this.rooms = new Map(); // name -> Room, in the list's order
    this.active = null; // the Room shown
    this.typing = new TypingNotices({ line: ui.typing, send });
    this.older = new OlderMessages({ button: ui.older, send });
    this.list = new RoomList({
      list: ui.rooms,
      toggleCount: ui.roomsUnread,
      onShow: (room) => {
        this.show(room);
        this.shown();
      },
      onLeave: (room) => this.leave(room),
    });
  }

  // The room list's form: join a room by name (the relay's rules are checked first), show it.
  listenToRoomForm() {
    const { roomForm, roomInput, text } = this.ui;
    roomForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = roomInput.value.trim().toLowerCase();
      const problem = roomProblem(name);
      this.notice(problem);
      if (problem) return;
      roomInput.value = "";
      this.open(name);
      this.shown();
      text.focus();
    });
  }

  add(name) {
    const room = new Room(name, {
      onRetry: (ref) => this.onRetry(room, ref),
      onChange: () => room === this.active && this.renderEmpty(),
      onAttachments: this.onAttachments,
    });
    this.rooms.set(name, room);
    this.ui.lists.append(room.list);
    this.list.save(this.rooms);
    return room;
  }

  show(room) {
    if (this.active && this.active !== room) this.active.hide();
    this.active = room;
    room.show();
    room.markRead();
    this.ui.roomName.textContent = `#${room.name}`;
    document.title = `#${room.name} · chat-relay`;
    const address = new URL(location.href);
    address.searchParams.set("room", room.name);
    history.replaceState(null, "", address);
    this.renderMembers();
    this.renderEmpty();
    this.typing.render(room.name, room.members);
    this.older.show(room);
    this.list.render(this.rooms, room);
  }

  renderMembers() {
    const { members, memberCount, toggleCount } = this.ui;
    renderMembers({ list: members, counts: [memberCount, toggleCount] }, this.active.members, this.me());
  }

  renderEmpty() {
    this.ui.empty.hidden = this.active.list.childElementCount > 0;
  }

  subscribe(room) {
    const frame = { type: "subscribe", room: room.name };
    if (room.timeline.lastId) frame.since = room.timeline.lastId;
    const roomToken = roomTokenFor(room.name);
    if (roomToken) frame.room_token = roomToken;
    this.send(frame);
  }

  // Join by name: shown at once, subscribed now or when the socket joins.
  open(name) {
    let room = this.rooms.get(name);
    if (!room) {
      room = this.add(name);
      this.subscribe(room);
    }
    this.show(room);
  }

  // Left (or refused): gone from the list, the page and the relay. The last one stays:
  // a socket's join needs a room.
  leave(room, tellRelay = true) {
    if (this.rooms.size < 2) return false;
    if (tellRelay && room.subscribed) this.send({ type: "unsubscribe", room: room.name });
    room.subscribed = false;
    this.typing.forget(room.name);
    this.rooms.delete(room.name);
    room.forget();
    this.list.save(this.rooms);
    if (room === this.active) this.show(this.rooms.values().next().value);
    else this.list.render(this.rooms, this.active);
    return true;
  }

  disconnected() {
    for (const room of this.rooms.values()) room.subscribed = false;
    this.older.reset(this.rooms.values());
  }

  // --- frames of one room ---

  history(room, frame) {
    if (!frame.complete && room.timeline.lastId) room.timeline.addGapMarker();
    for (const message of frame.messages) room.timeline.addStored(message);
    if (room === this.active) room.markRead();
    else room.countUnread(frame.messages, this.me());
    room.subscribed = true;
    this.list.render(this.rooms, this.active);
    if (room === this.active) this.older.render();
  }

  message(room, message) {
    room.timeline.addStored(message);
    this.typing.stopped(room.name, message.member);
    const me = this.me();
    if (room === this.active) {
      room.markRead();
      this.typing.render(room.name, room.members);
      this.older.render();
    } else if (!me || message.member !== me.id) {
      room.unread += 1;
      this.list.render(this.rooms, this.active);
    }
  }

  members(room, frame) {
    if (frame.type === "member_history") room.members = new Map(Object.entries(frame.members));
    else if (frame.type === "member_delete") room.members.delete(frame.id);
    else room.members.set(frame.member.id, frame.member);
    room.timeline.refreshNames();
    if (room === this.active) this.renderMembers();
  }

  typed(room, frame) {
    this.typing.heard(room.name, frame.member);
    if (room === this.active) this.typing.render(room.name, room.members);
  }

  // An error naming a room the socket is not in yet: its subscribe was refused.
  refused(room, frame) {
    this.notice(`Could not open #${room.name}: ${frame.detail}`);
    if (frame.code !== "unavailable") this.leave(room, false);
  }
}
