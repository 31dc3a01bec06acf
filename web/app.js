// chat-relay web client: protocol v1 over one WebSocket, no framework, no build step.
// Everything a person types is shown with textContent, never parsed as HTML.

import { Attachments } from "./attachments.js";
import { Identity } from "./identity.js";
import { Outbox } from "./outbox.js";
import { WAITING_FOR_CONNECTION, outboxCallbacks } from "./outbox_view.js";
import { foldingPanels, showPanel } from "./panels.js";
import {
  CLOSE_DISCONNECTED,
  CLOSE_SIGN_IN_EXPIRED,
  DEFAULT_ROOM,
  MESSAGE_DELETED_FRAME,
  TEXT_MAX_CHARS,
} from "./protocol.js";
import { closeReason, reconnectDelay } from "./reconnect.js";
import { roomTokenFor, takeRoomToken } from "./room_tokens.js";
import { storedRoomNames } from "./rooms.js";
import { RoomView } from "./roomview.js";
import { ConnectionStatus } from "./status.js";

const params = new URLSearchParams(location.search);
// The room the address names is shown; the rooms of earlier visits are there too.
const firstRoom = params.get("room") || storedRoomNames()[0] || DEFAULT_ROOM;
takeRoomToken(firstRoom);

const ATTACHMENT_ERRORS = new Set(["file_too_large", "file_type_not_allowed", "bad_attachment"]);

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"), roomName: $("room-name"), me: $("me"), meName: $("me-name"),
  meAvatar: $("me-avatar"), rename: $("rename"), signOut: $("sign-out"),
  renameForm: $("rename-form"), nameInput: $("name-input"), renameCancel: $("rename-cancel"),
  members: $("members"), memberCount: $("member-count"),
  membersToggle: $("members-toggle"), toggleCount: $("toggle-count"), panel: $("members-panel"),
  roomsToggle: $("rooms-toggle"), roomsUnread: $("rooms-unread"), roomsPanel: $("rooms-panel"),
  rooms: $("rooms"), roomForm: $("room-form"), roomInput: $("room-input"),
  lists: $("lists"), older: $("load-older"), typing: $("typing"),
  empty: $("empty"), notice: $("notice"), form: $("send-form"), text: $("text"),
  attach: $("attach"), file: $("file"), uploads: $("uploads"),
};

const state = {
  socket: null,
  joined: false,
  joinRoom: null,      // the room of this socket's join (its burst ends the join)
  attempt: 0,
  rejoining: false,    // the socket is being closed on purpose, to join again at once
  removed: false,      // disconnected by the server or banned: do not reconnect
};

// Every outbox callback names the item's room; a room left meanwhile has no timeline.
const timelineOf = (item) => view.rooms.get(item.room)?.timeline;
const attachments = new Attachments({
  send: (frame) => state.joined && send(frame),
  notice: (text) => showNotice(text),
  uploads: ui.uploads,
});

const outbox = new Outbox({
  transmit: (frame) => state.joined && send(frame),
  ...outboxCallbacks({
    timelineOf,
    joined: () => state.joined,
    degraded: (flag) => setDegraded(flag),
    notice: showNotice,
  }),
});

const status = new ConnectionStatus({
  element: ui.status,
  joined: () => state.joined,
  closed: () => Boolean(state.socket && state.socket.readyState === WebSocket.CLOSED),
  busy: () => Boolean(outbox.inFlight),
  recovered: () => showNotice(""),
});
const setDegraded = (degraded) => status.setDegraded(degraded);
const setConnection = (label) => status.setConnection(label);

// The server removed this member (a moderator, through the server API): say why and stay
// disconnected; reloading the page after a ban ends joins again.
function showRemoved(why) {
  state.removed = true;
  setConnection("disconnected by the server");
  showNotice(why);
  outbox.connectionLost();
  if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.close(1000, "removed");
}

function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = !text;
}

const view = new RoomView({
  ui,
  send: (frame) => state.joined && send(frame),
  me: () => identity.me,
  onRetry: (room, ref) => {
    room.timeline.requeued(ref);
    if (!state.joined) room.timeline.retrying(ref, WAITING_FOR_CONNECTION);
    outbox.retry(ref);
    ui.text.focus();
  },
  notice: showNotice,
  shown: () => showPanel(ui.roomsToggle, ui.roomsPanel, false),
  onAttachments: (container, files, room) => attachments.render(container, files, room),
});

// Join again at once (a rename, here or in another tab): the relay takes a name at join.
function rejoin() {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.rejoining = true;
    state.socket.close(1000, "joining again");
  }
}

function send(frame) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

function focusInput() {
  // Keep the caret in the input, unless the person is using another control.
  const active = document.activeElement;
  if (!active || active === document.body || active === ui.text) ui.text.focus();
}

const identity = new Identity({
  ui,
  firstRoom,
  notice: showNotice,
  rejoin,
  onMember: (member) => {
    for (const room of view.rooms.values()) room.timeline.setMe(member);
  },
  focus: () => ui.text.focus(),
});

// The join's burst is over: the socket is usable; the other rooms subscribe now.
function joined() {
  state.joined = true;
  state.attempt = 0;
  setDegraded(false); // the join itself read storage
  showNotice("");
  focusInput();
  for (const room of view.rooms.values()) if (room.name !== state.joinRoom) view.subscribe(room);
  outbox.connectionReady();
}

function handle(frame) {
  const room = typeof frame.room === "string" ? view.rooms.get(frame.room) : undefined;
  switch (frame.type) {
    case "welcome":
      identity.welcomed(frame);
      break;
    case "message_history":
      if (room) view.history(room, frame);
      if (frame.room === state.joinRoom && !state.joined) joined();
      break;
    case "messages":
      if (room) view.message(room, frame.message);
      break;
    case "member_add":
      if (identity.me && frame.member.id === identity.me.id) identity.show(frame.member); // renamed in another tab
    // falls through
    case "member_history":
    case "member_delete":
      if (room) view.members(room, frame);
      break;
    case "ack":
      outbox.acknowledged(frame.ref, frame.id);
      break;
    case "upload_slot":
      attachments.slot(frame);
      break;
    case "download_link":
      attachments.linked(frame);
      break;
    case "attachment_updated":
      attachments.updated(frame);
      break;
    case "resync":
      if (room) room.timeline.addGapMarker(); // the relay lost messages it cannot replay
      break;
    case "history_page":
      if (room) view.older.received(room, frame);
      break;
    case "typing":
      if (room) view.typed(room, frame);
      break;
    case MESSAGE_DELETED_FRAME:
      if (room) room.timeline.removeStored(frame.id);
      break;
    case "error":
      if (frame.code === "bad_name" && !state.joined) {
        // The relay refused the name; join under the current one and say why.
        identity.nameRefused(frame.detail);
        sendJoin(state.socket);
        break;
      }
      if (ATTACHMENT_ERRORS.has(frame.code) && attachments.refused(frame.code, frame.detail)) break;
      if (frame.code === "banned" && !state.joined) {
        showRemoved(`You were removed from this chat: ${frame.detail}. Reload the page to try again.`);
        break;
      }
      if (frame.code === "forbidden" && !state.joined) {
        state.removed = true; // the same join would be refused again
        setConnection("not allowed in this room");
        showNotice(`#${state.joinRoom} is a private room: ${frame.detail}`);
        break;
      }
      if (room && !room.subscribed && state.joined) {
        view.refused(room, frame);
        break;
      }
      if (!outbox.refused(frame.code, frame.detail)) showNotice(`${frame.code}: ${frame.detail}`);
      break;
    default:
      break; // pong and frames of later protocol versions
  }
}

// The socket joins the room shown (its burst comes first); joined() subscribes the others.
function sendJoin(socket) {
  state.joinRoom = view.active.name;
  const join = { type: "join", room: state.joinRoom };
  identity.joinFields(join);
  if (view.active.timeline.lastId) join.since = view.active.timeline.lastId;
  const roomToken = roomTokenFor(state.joinRoom);
  if (roomToken) join.room_token = roomToken;
  socket.send(JSON.stringify(join));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws`);
  state.socket = socket;
  state.joined = false;
  setConnection(state.attempt ? "reconnecting…" : "connecting…");
  socket.addEventListener("open", () => sendJoin(socket));
  socket.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return; // a relay never sends this; ignore rather than break the page
    }
    handle(frame);
  });
  socket.addEventListener("close", (event) => {
    if (state.socket !== socket) return;
    if (identity.signIn === "alb" && !state.joined && !state.rejoining) identity.check();
    state.joined = false;
    view.disconnected();
    outbox.connectionLost();
    for (const item of outbox.queue) timelineOf(item)?.retrying(item.ref, WAITING_FOR_CONNECTION);
    setDegraded(false);
    if (event.code === CLOSE_DISCONNECTED) {
      const reason = event.reason ? ` (${event.reason})` : "";
      showRemoved(`You were disconnected from this chat by the server${reason}. Reload the page to join again.`);
      return;
    }
    if (state.removed) return;
    if (state.rejoining) {
      state.rejoining = false;
      setConnection("joining again…");
      connect();
      return;
    }
    if (event.code === CLOSE_SIGN_IN_EXPIRED && state.attempt === 0) {
      // The relay closes a signed-in socket at its token's exp; the reconnect goes through
      // the load balancer, which issues a fresh token (or the sign-in has ended: see close).
      state.attempt = 1;
      setConnection("refreshing sign-in…");
      connect();
      return;
    }
    const delay = reconnectDelay(state.attempt);
    state.attempt += 1;
    const why = closeReason(event.code);
    const waiting = outbox.size ? `; ${outbox.size} waiting to send` : "";
    setConnection(`${why}; retrying in ${(delay / 1000).toFixed(1)}s${waiting}`);
    setTimeout(connect, delay);
  });
}

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.text.value.trim();
  ui.text.focus();
  if (!text) return;
  if (text.length > TEXT_MAX_CHARS) {
    showNotice(`Messages are limited to ${TEXT_MAX_CHARS} characters.`);
    return;
  }
  // Shown at once as pending; the outbox delivers it whenever the relay can take it.
  outbox.add(text, view.active.name);
  view.typing.sent(view.active.name);
  ui.text.value = "";
});
ui.text.addEventListener("input", () => {
  if (ui.text.value.trim() && view.active.subscribed) view.typing.typed(view.active.name);
});
view.listenToRoomForm();
foldingPanels([
  [ui.membersToggle, ui.panel],
  [ui.roomsToggle, ui.roomsPanel],
]);

for (const name of [firstRoom, ...storedRoomNames()]) if (!view.rooms.has(name)) view.add(name);
view.show(view.rooms.get(firstRoom));
attachments.wire(ui.attach, ui.file, document.querySelector("section.chat"), () => view.active.name);

ui.text.focus();
identity.load();
connect();
