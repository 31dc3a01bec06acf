// chat-relay web client: protocol v1 over one WebSocket, no framework, no build step.
// Everything a person types is shown with textContent, never parsed as HTML.

const params = new URLSearchParams(location.search);
const room = params.get("room") || "lobby";
const tokenKey = `chat-relay:token:${room}`;
const RECONNECT_BASE_MS = 500;
const RECONNECT_CAP_MS = 15000;

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"), roomName: $("room-name"), me: $("me"), meName: $("me-name"),
  meAvatar: $("me-avatar"), members: $("members"), memberCount: $("member-count"),
  messages: $("messages"), notice: $("notice"), form: $("send-form"), text: $("text"),
  send: $("send"),
};

const state = {
  socket: null,
  me: null,
  members: new Map(),        // member id -> member
  seen: new Set(),           // message ids shown
  lastId: null,              // newest message id shown: resume point
  outbox: new Map(),         // ref -> text, sent but not acknowledged (resent on reconnect)
  attempt: 0,
  joined: false,
};

function compareIds(a, b) {
  const [am, as] = a.split("-").map(BigInt);
  const [bm, bs] = b.split("-").map(BigInt);
  return am === bm ? (as < bs ? -1 : as > bs ? 1 : 0) : (am < bm ? -1 : 1);
}

function setStatus(kind, label) {
  ui.status.dataset.state = kind;
  ui.status.textContent = label;
  const usable = kind === "online";
  ui.text.disabled = !usable;
  ui.send.disabled = !usable;
}

function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = !text;
}

function avatarImage(member, size) {
  const img = document.createElement("img");
  img.src = member.avatar;
  img.alt = "";
  img.width = size;
  img.height = size;
  return img;
}

function renderMembers() {
  ui.members.replaceChildren();
  const sorted = [...state.members.values()].sort((a, b) => a.username.localeCompare(b.username));
  for (const member of sorted) {
    const li = document.createElement("li");
    li.dataset.memberId = member.id;
    if (state.me && member.id === state.me.id) li.classList.add("self");
    const name = document.createElement("span");
    name.textContent = member.username;
    li.append(avatarImage(member, 24), name);
    ui.members.append(li);
  }
  ui.memberCount.textContent = String(state.members.size);
}

function addMessage(message) {
  if (state.seen.has(message.id)) return;
  state.seen.add(message.id);
  if (!state.lastId || compareIds(message.id, state.lastId) > 0) state.lastId = message.id;
  const li = document.createElement("li");
  li.dataset.messageId = message.id;
  const body = document.createElement("div");
  body.className = "body";
  const meta = document.createElement("div");
  meta.className = "meta";
  const who = document.createElement("b");
  who.textContent = message.username;
  const when = document.createElement("time");
  const date = new Date(message.date);
  when.dateTime = date.toISOString();
  when.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  meta.append(who, when);
  const text = document.createElement("div");
  text.className = "text";
  text.textContent = message.text;
  body.append(meta, text);
  li.append(avatarImage(message, 32), body);
  const atBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
  ui.messages.append(li);
  if (atBottom) ui.messages.scrollTop = ui.messages.scrollHeight;
}

function addGapMarker() {
  const li = document.createElement("li");
  li.className = "gap";
  li.textContent = "Some earlier messages are no longer available.";
  ui.messages.append(li);
}

function send(frame) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

function handle(frame) {
  switch (frame.type) {
    case "welcome":
      state.me = frame.member;
      localStorage.setItem(tokenKey, frame.token);
      ui.meName.textContent = frame.member.username;
      ui.meAvatar.src = frame.member.avatar;
      ui.me.hidden = false;
      break;
    case "member_history":
      state.members = new Map(Object.entries(frame.members));
      renderMembers();
      break;
    case "message_history":
      if (!frame.complete && state.lastId) addGapMarker();
      for (const message of frame.messages) addMessage(message);
      state.joined = true;
      state.attempt = 0;
      setStatus("online", "online");
      // Anything sent but never acknowledged goes again with the same ref: stored once.
      for (const [ref, text] of state.outbox) send({ type: "send", text, ref });
      break;
    case "messages":
      addMessage(frame.message);
      break;
    case "member_add":
      state.members.set(frame.member.id, frame.member);
      renderMembers();
      break;
    case "member_delete":
      state.members.delete(frame.id);
      renderMembers();
      break;
    case "ack":
      state.outbox.delete(frame.ref);
      break;
    case "resync":
      addGapMarker(); // the relay lost messages it cannot replay (Redis lost data)
      break;
    case "error":
      showNotice(`${frame.code}: ${frame.detail}`);
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

function connect() {
  setStatus("connecting", state.attempt ? "reconnecting…" : "connecting…");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws`);
  state.socket = socket;
  state.joined = false;
  socket.addEventListener("open", () => {
    const join = { type: "join", room };
    const token = localStorage.getItem(tokenKey);
    if (token) join.token = token;
    if (state.lastId) join.since = state.lastId;
    socket.send(JSON.stringify(join));
  });
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
    const delay = reconnectDelay();
    const why = event.code === 1012 ? "relay restarting" : event.code === 1013 ? "relay busy" : "offline";
    setStatus("offline", `${why}; retrying in ${(delay / 1000).toFixed(1)}s`);
    setTimeout(connect, delay);
  });
}

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.text.value.trim();
  if (!text) return;
  if (text.length > 2000) {
    showNotice("Messages are limited to 2000 characters.");
    return;
  }
  const ref = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
  state.outbox.set(ref, text);
  if (send({ type: "send", text, ref })) {
    ui.text.value = "";
    showNotice("");
  }
});

ui.roomName.textContent = `#${room}`;
document.title = `#${room} · chat-relay`;
connect();
