// chat-relay web client: protocol v1 over one WebSocket, no framework, no build step.
// Everything a person types is shown with textContent, never parsed as HTML.

import { Attachments } from "./attachments.js";
import { Outbox } from "./outbox.js";
import { Timeline, avatarImage } from "./timeline.js";

// Protocol v1 facts, as the relay checks them (contract/protocol.py; a test compares).
const DEFAULT_ROOM = "lobby";
const TEXT_MAX_CHARS = 2000; // send "text", after trimming
const NAME_MAX_CHARS = 40; // join "name"
const CLOSE_RESTARTING = 1012; // the relay drains: reconnect and resume
const CLOSE_TRY_AGAIN = 1013; // slow consumer, connection cap, storage down at join

const params = new URLSearchParams(location.search);
const room = params.get("room") || DEFAULT_ROOM;
// Identities are not tied to a room (a token names a member everywhere), so one token per
// browser gives one name in every room. The per-room key is what older pages stored.
const TOKEN_KEY = "chat-relay:token";
const LEGACY_TOKEN_KEY = `chat-relay:token:${room}`;
const RECONNECT_BASE_MS = 500;
const RECONNECT_CAP_MS = 15000;
const READY_POLL_MS = 5000;
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
  messages: $("messages"), empty: $("empty"), notice: $("notice"), form: $("send-form"),
  text: $("text"), attach: $("attach"), file: $("file"), uploads: $("uploads"),
};

const state = {
  socket: null,
  joined: false,
  me: null,
  members: new Map(),  // member id -> member
  attempt: 0,
  degraded: false,     // the relay said its storage is unreachable
  readyPoll: null,
  signIn: "none",      // "alb" when the load balancer signs people in (GET /auth/session)
  pendingName: null,   // a name chosen here, sent on the next join until welcome confirms it
  rejoining: false,    // the socket is being closed on purpose, to join again at once
};

const attachments = new Attachments({
  send: (frame) => state.joined && send(frame),
  notice: (text) => showNotice(text),
  uploads: ui.uploads,
});

const timeline = new Timeline({
  onAttachments: (container, files) => attachments.render(container, files),
  list: ui.messages,
  emptyLine: ui.empty,
  onRetry: (ref) => {
    timeline.requeued(ref);
    if (!state.joined) timeline.retrying(ref, WAITING_FOR_CONNECTION);
    outbox.retry(ref);
    ui.text.focus();
  },
});

const outbox = new Outbox({
  transmit: (frame) => state.joined && send(frame),
  onQueued: (item) => {
    timeline.addPending(item);
    if (!state.joined) timeline.retrying(item.ref, WAITING_FOR_CONNECTION);
  },
  onSending: (item) => timeline.retrying(item.ref, "sending…"),
  onStored: (item, id) => {
    timeline.stored(item.ref, id);
    setDegraded(false);
    showNotice("");
  },
  onRetrying: (item, code, delay) => {
    const seconds = (delay / 1000).toFixed(1);
    if (code === "unavailable") {
      setDegraded(true);
      showNotice("The relay cannot reach its storage right now; your message is being retried.");
      timeline.retrying(item.ref, `storage unreachable, retrying in ${seconds}s`);
    } else {
      timeline.retrying(item.ref, `waiting ${seconds}s`);
      showNotice("Sending more slowly: the relay limits how many messages arrive each second.");
    }
  },
  onFailed: (item, code, detail) => {
    timeline.failed(item.ref, FAILURE_REASONS[code] || detail);
    showNotice("A message could not be sent. Use its Retry button when the relay is back.");
  },
});

function renderStatus() {
  let kind;
  let label;
  if (!state.joined) {
    kind = state.socket && state.socket.readyState === WebSocket.CLOSED ? "offline" : "connecting";
    label = state.statusLabel;
  } else if (state.degraded) {
    kind = "degraded";
    label = "degraded";
  } else {
    kind = "online";
    label = "online";
  }
  ui.status.dataset.state = kind;
  ui.status.textContent = label;
}

function setConnection(label) {
  state.statusLabel = label;
  renderStatus();
}

// While degraded, /readyz says when storage is back even if nothing is being retried.
// Behind the ALB the stickiness cookie sends it to the task holding this socket.
function setDegraded(degraded) {
  state.degraded = degraded;
  clearInterval(state.readyPoll);
  state.readyPoll = null;
  if (degraded) {
    state.readyPoll = setInterval(async () => {
      if (outbox.inFlight) return;
      try {
        const response = await fetch("/readyz", { cache: "no-store" });
        if (response.ok && state.degraded && !outbox.inFlight) {
          setDegraded(false);
          showNotice("");
        }
      } catch {
        // offline: the socket's close handler shows that
      }
    }, READY_POLL_MS);
  }
  renderStatus();
}

function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = !text;
}

function renderMembers() {
  ui.members.replaceChildren();
  const sorted = [...state.members.values()].sort((a, b) => a.username.localeCompare(b.username));
  for (const member of sorted) {
    const li = document.createElement("li");
    li.dataset.memberId = member.id;
    const name = document.createElement("span");
    name.textContent = member.username;
    li.append(avatarImage(member.avatar, 24), name);
    if (state.me && member.id === state.me.id) {
      li.classList.add("self");
      const you = document.createElement("span");
      you.className = "you";
      you.textContent = "(you)";
      li.append(you);
    }
    ui.members.append(li);
  }
  ui.memberCount.textContent = String(state.members.size);
  ui.toggleCount.textContent = String(state.members.size);
}

function showMe(member) {
  state.me = member;
  ui.meName.textContent = member.username;
  ui.meAvatar.src = member.avatar;
  ui.meAvatar.title = `You are ${member.username}`;
  ui.me.hidden = false;
  timeline.setMe(member);
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
    if (session.logout_url) ui.signOut.href = session.logout_url;
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

function handle(frame) {
  switch (frame.type) {
    case "welcome":
      localStorage.setItem(TOKEN_KEY, frame.token);
      showMe(frame.member);
      if (state.pendingName !== null) {
        state.pendingName = null;
        if (identityChannel) identityChannel.postMessage({ renamed: frame.member.id });
      }
      break;
    case "member_history":
      state.members = new Map(Object.entries(frame.members));
      renderMembers();
      break;
    case "message_history":
      if (!frame.complete && timeline.lastId) timeline.addGapMarker();
      for (const message of frame.messages) timeline.addStored(message);
      state.joined = true;
      state.attempt = 0;
      setDegraded(false); // the join itself read storage
      showNotice("");
      focusInput();
      outbox.connectionReady();
      break;
    case "messages":
      timeline.addStored(frame.message);
      break;
    case "member_add":
      state.members.set(frame.member.id, frame.member);
      if (state.me && frame.member.id === state.me.id) showMe(frame.member); // renamed in another tab
      renderMembers();
      break;
    case "member_delete":
      state.members.delete(frame.id);
      renderMembers();
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
      timeline.addGapMarker(); // the relay lost messages it cannot replay (Redis lost data)
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

function sendJoin(socket) {
  const join = { type: "join", room };
  const token = localStorage.getItem(TOKEN_KEY) || localStorage.getItem(LEGACY_TOKEN_KEY);
  if (token) join.token = token;
  if (timeline.lastId) join.since = timeline.lastId;
  if (state.pendingName !== null) join.name = state.pendingName;
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
    outbox.connectionLost();
    for (const item of outbox.queue) timeline.retrying(item.ref, WAITING_FOR_CONNECTION);
    setDegraded(false);
    if (state.rejoining) {
      state.rejoining = false;
      setConnection("joining again…");
      connect();
      return;
    }
    const delay = reconnectDelay();
    const why = event.code === CLOSE_RESTARTING ? "relay restarting" : event.code === CLOSE_TRY_AGAIN ? "relay busy" : "offline";
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
  outbox.add(text);
  ui.text.value = "";
});

function showMembersPanel(open) {
  ui.membersToggle.setAttribute("aria-expanded", String(open));
  ui.panel.classList.toggle("open", open);
}

ui.membersToggle.addEventListener("click", () => {
  showMembersPanel(ui.membersToggle.getAttribute("aria-expanded") !== "true");
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && ui.panel.classList.contains("open")) {
    showMembersPanel(false);
    ui.membersToggle.focus();
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

ui.attach.addEventListener("click", () => ui.file.click());
ui.file.addEventListener("change", () => {
  for (const file of ui.file.files) attachments.pick(file);
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
  for (const file of event.dataTransfer.files) attachments.pick(file);
});

ui.roomName.textContent = `#${room}`;
document.title = `#${room} · chat-relay`;
ui.text.focus();
loadSignIn();
connect();
