// chat-relay web client: protocol v1 over one WebSocket, no framework, no build step.
// Everything a person types is shown with textContent, never parsed as HTML.

import { Attachments } from "./attachments.js";
import { showName } from "./names.js";
import { Outbox } from "./outbox.js";
import { roomTokenFor, takeRoomToken } from "./room_tokens.js";
import { roomProblem, storedRoomNames } from "./rooms.js";
import { RoomView } from "./roomview.js";
import { ConnectionStatus } from "./status.js";

// Protocol v1 facts, as the relay checks them (contract/protocol.py; a test compares).
const DEFAULT_ROOM = "lobby";
const TEXT_MAX_CHARS = 2000; // send "text", after trimming
const NAME_MAX_CHARS = 40; // join "name"
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/u; // refused in a name (bad_name)
const CLOSE_RESTARTING = 1012; // the relay drains: reconnect and resume
const CLOSE_TRY_AGAIN = 1013; // slow consumer, connection cap, storage down at join
const CLOSE_DISCONNECTED = 4003; // the product's backend removed this member: no reconnect
const MESSAGE_DELETED_FRAME = "message_deleted"; // the frame carries the deleted id
const CLOSE_SIGN_IN_EXPIRED = 4001; // the load balancer's token expired: reconnect at once

const params = new URLSearchParams(location.search);
// The room the address names is shown; the rooms of earlier visits are there too.
const firstRoom = params.get("room") || storedRoomNames()[0] || DEFAULT_ROOM;
// Identities are not tied to a room (a token names a member everywhere), so one token per
// browser gives one name in every room. The per-room key is what older pages stored.
const TOKEN_KEY = "chat-relay:token";
const LEGACY_TOKEN_KEY = `chat-relay:token:${firstRoom}`;
takeRoomToken(firstRoom);
const RECONNECT_BASE_MS = 500;
const RECONNECT_CAP_MS = 15000;
// Tabs of one browser are one person: a rename in one tab tells the others to rejoin.
const identityChannel = "BroadcastChannel" in window ? new BroadcastChannel("chat-relay:identity") : null;
const WAITING_FOR_CONNECTION = "waiting for the connection";
const FAILURE_REASONS = {
  unavailable: "the relay could not reach its storage",
  rate_limited: "the relay did not take it in time",
};

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
  me: null,
  joinRoom: null,      // the room of this socket's join (its burst ends the join)
  attempt: 0,
  signIn: "none",      // "alb" when the load balancer signs people in (GET /auth/session)
  pendingName: null,   // a name chosen here, sent on the next join until welcome confirms it
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
  onQueued: (item) => {
    timelineOf(item)?.addPending(item);
    if (!state.joined) timelineOf(item)?.retrying(item.ref, WAITING_FOR_CONNECTION);
  },
  onSending: (item) => timelineOf(item)?.retrying(item.ref, "sending…"),
  onStored: (item, id) => {
    timelineOf(item)?.stored(item.ref, id);
    setDegraded(false);
    showNotice("");
  },
  onRetrying: (item, code, delay) => {
    const seconds = (delay / 1000).toFixed(1);
    if (code === "unavailable") {
      setDegraded(true);
      showNotice("The relay cannot reach its storage right now; your message is being retried.");
      timelineOf(item)?.retrying(item.ref, `storage unreachable, retrying in ${seconds}s`);
    } else {
      timelineOf(item)?.retrying(item.ref, `waiting ${seconds}s`);
      showNotice("Sending more slowly: the relay limits how many messages arrive each second.");
    }
  },
  onFailed: (item, code, detail) => {
    timelineOf(item)?.failed(item.ref, FAILURE_REASONS[code] || detail);
    showNotice("A message could not be sent. Use its Retry button when the relay is back.");
  },
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
  me: () => state.me,
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

function showMe(member) {
  state.me = member;
  showName(ui.meName, member.id, member.username, new Map());
  ui.meAvatar.src = member.avatar;
  ui.meAvatar.title = `You are ${member.username}`;
  ui.me.hidden = false;
  for (const room of view.rooms.values()) room.timeline.setMe(member);
  renderIdentityControls();
}

function renderIdentityControls() {
  ui.rename.hidden = state.signIn !== "none" || !state.me;
  ui.signOut.hidden = state.signIn !== "alb";
}

// Who signs people in: the relay says (AUTH_MODE). A relay without the endpoint is anonymous.
async function loadSignIn() {
  try {
    const response = await fetch("/auth/session", { cache: "no-store" });
    const session = await response.json();
    state.signIn = session.mode === "alb" ? "alb" : "none";
    if (session.logout_url) ui.signOut.dataset.logoutUrl = session.logout_url;
  } catch {
    state.signIn = "none";
  }
  renderIdentityControls();
}

// The relay's rules for a name (it checks them again and answers bad_name).
function nameProblem(name) {
  if (!name || /^[\s\p{Default_Ignorable_Code_Point}]*$/u.test(name)) return "Choose a name with something visible in it.";
  if ([...name].length > NAME_MAX_CHARS) return `Names are limited to ${NAME_MAX_CHARS} characters.`;
  if (/[\p{Cc}\u2028\u2029]/u.test(name)) return "Names cannot hold control characters or line breaks.";
  if (BIDI_CONTROLS.test(name)) return "Names cannot hold bidi controls (they reorder the text after the name).";
  return "";
}

// Signed in at the load balancer, a socket refused before its welcome is most likely a
// sign-in that ended (the relay answers 401, which a page cannot read from a WebSocket).
async function checkSignIn() {
  let signedIn = false;
  try {
    const response = await fetch("/auth/session", { cache: "no-store" });
    signedIn = response.ok && (await response.json()).signed_in === true;
  } catch {
    // the load balancer redirected to the identity provider: not signed in any more
  }
  if (!signedIn) showNotice("Your sign-in has ended. Reload the page to sign in again.");
}

function showRenameForm(open) {
  ui.renameForm.hidden = !open;
  ui.rename.setAttribute("aria-expanded", String(open));
  if (open) {
    ui.nameInput.value = state.me ? state.me.username : "";
    ui.nameInput.focus();
    ui.nameInput.select();
  } else {
    ui.text.focus();
  }
}

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
      localStorage.setItem(TOKEN_KEY, frame.token);
      showMe(frame.member);
      if (state.pendingName !== null) {
        state.pendingName = null;
        if (identityChannel) identityChannel.postMessage({ renamed: frame.member.id });
      }
      break;
    case "message_history":
      if (room) view.history(room, frame);
      if (frame.room === state.joinRoom && !state.joined) joined();
      break;
    case "messages":
      if (room) view.message(room, frame.message);
      break;
    case "member_add":
      if (state.me && frame.member.id === state.me.id) showMe(frame.member); // renamed in another tab
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
        state.pendingName = null;
        showNotice(`That name was not accepted: ${frame.detail}`);
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

function reconnectDelay() {
  // Full jitter: after a relay restarts, its clients spread out instead of stampeding.
  const ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** state.attempt);
  state.attempt += 1;
  return Math.random() * ceiling;
}

// The socket joins the room shown (its burst comes first); joined() subscribes the others.
function sendJoin(socket) {
  state.joinRoom = view.active.name;
  const join = { type: "join", room: state.joinRoom };
  const token = localStorage.getItem(TOKEN_KEY) || localStorage.getItem(LEGACY_TOKEN_KEY);
  if (token) join.token = token;
  if (view.active.timeline.lastId) join.since = view.active.timeline.lastId;
  if (state.pendingName !== null) join.name = state.pendingName;
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
    if (state.signIn === "alb" && !state.joined && !state.rejoining) checkSignIn();
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
    const delay = reconnectDelay();
    const why = event.code === CLOSE_SIGN_IN_EXPIRED ? "sign-in expired" : event.code === CLOSE_RESTARTING ? "relay restarting" : event.code === CLOSE_TRY_AGAIN ? "relay busy" : "offline";
    const waiting = outbox.size ? `; ${outbox.size} waiting to send` : "";
    setConnection(`${why}; retrying in ${(delay / 1000).toFixed(1)}s${waiting}`);
    setTimeout(connect, delay);
  });
}

// Sign out is a POST from this page (a link elsewhere must not sign anyone out); the relay
// expires the load balancer's session cookie and says where to go next (the identity
// provider's logout page).
ui.signOut.addEventListener("click", async () => {
  ui.signOut.disabled = true;
  try {
    const response = await fetch(ui.signOut.dataset.logoutUrl || "/auth/logout", {
      method: "POST",
      cache: "no-store",
    });
    const answer = await response.json();
    location.assign(answer.next || "/");
  } catch {
    ui.signOut.disabled = false;
    showNotice("Sign out did not go through; try again.");
  }
});

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
ui.roomForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = ui.roomInput.value.trim().toLowerCase();
  const problem = roomProblem(name);
  showNotice(problem);
  if (problem) return;
  ui.roomInput.value = "";
  view.open(name);
  showPanel(ui.roomsToggle, ui.roomsPanel, false);
  ui.text.focus();
});

// Phones: the room list and the members list each fold behind a header toggle.
function showPanel(toggle, panel, open) {
  toggle.setAttribute("aria-expanded", String(open));
  panel.classList.toggle("open", open);
}

for (const [toggle, panel, other, otherPanel] of [
  [ui.membersToggle, ui.panel, ui.roomsToggle, ui.roomsPanel],
  [ui.roomsToggle, ui.roomsPanel, ui.membersToggle, ui.panel],
]) {
  toggle.addEventListener("click", () => {
    showPanel(other, otherPanel, false);
    showPanel(toggle, panel, toggle.getAttribute("aria-expanded") !== "true");
  });
}
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const [toggle, panel] of [[ui.membersToggle, ui.panel], [ui.roomsToggle, ui.roomsPanel]]) {
    if (panel.classList.contains("open")) {
      showPanel(toggle, panel, false);
      toggle.focus();
    }
  }
});

ui.rename.addEventListener("click", () => showRenameForm(ui.renameForm.hidden));
ui.renameCancel.addEventListener("click", () => showRenameForm(false));
ui.renameForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = ui.nameInput.value.trim();
  const problem = nameProblem(name);
  if (problem) {
    showNotice(problem);
    ui.nameInput.focus();
    return;
  }
  showNotice("");
  showRenameForm(false);
  if (state.me && name === state.me.username) return;
  state.pendingName = name;
  rejoin();
});
if (identityChannel) {
  identityChannel.addEventListener("message", (event) => {
    if (state.me && event.data && event.data.renamed === state.me.id) rejoin();
  });
}

for (const name of [firstRoom, ...storedRoomNames()]) if (!view.rooms.has(name)) view.add(name);
view.show(view.rooms.get(firstRoom));
ui.attach.addEventListener("click", () => ui.file.click());
ui.file.addEventListener("change", () => {
  for (const file of ui.file.files) attachments.pick(file, view.active.name);
  ui.file.value = "";
});
const chat = document.querySelector("section.chat");
chat.addEventListener("dragover", (event) => {
  event.preventDefault();
  chat.classList.add("dropping");
});
chat.addEventListener("dragleave", () => chat.classList.remove("dropping"));
chat.addEventListener("drop", (event) => {
  event.preventDefault();
  chat.classList.remove("dropping");
  for (const file of event.dataTransfer.files) attachments.pick(file, view.active.name);
});

ui.text.focus();
loadSignIn();
connect();
