// The chat a Node developer would build with Socket.IO 4 and its official Redis adapter:
// rooms, a capped history stream per room in Redis, a members hash per room. It is the
// benchmark's strongest alternative, so it is written the idiomatic way, not to lose.
//
// Events (Socket.IO event name = wire protocol v1 frame type; payloads as the original
// sample's five topics, plus welcome and ack):
//   client -> server  join(room), send(text, ref)
//   server -> client  welcome {room, member}, member_history {id: member},
//                     message_history {messages, complete}, messages message,
//                     member_add member, member_delete id, ack {ref, id}, error {code}
//
// Settings (environment): PORT, REDIS_URL, HISTORY_SIZE (100), HISTORY_MAX_LEN (1000).
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");
const { readSettings, memberFor } = require("./settings");

const ROOM = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const MAX_TEXT = 2000;

const settings = readSettings(["PORT", "REDIS_URL"]);
const historySize = settings.int("HISTORY_SIZE", 100);
const historyMaxLen = settings.int("HISTORY_MAX_LEN", 1000);

const historyKey = (room) => `chat:{${room}}:history`;
const membersKey = (room) => `chat:{${room}}:members`;

async function main() {
  const redis = createClient({ url: settings.REDIS_URL });
  const pub = redis.duplicate();
  const sub = redis.duplicate();
  for (const client of [redis, pub, sub]) {
    client.on("error", (err) => console.error(`redis: ${err.message}`));
  }
  await Promise.all([redis.connect(), pub.connect(), sub.connect()]);

  const server = http.createServer((req, res) => {
    // Ready once listening: Redis connected first (bench/contenders.py waits for /readyz).
    res.writeHead(req.url === "/readyz" || req.url === "/healthz" ? 200 : 404).end();
  });
  // Per-message deflate is off in the relay too (it costs memory per connection).
  const io = new Server(server, {
    adapter: createAdapter(pub, sub),
    transports: ["websocket"],
    perMessageDeflate: false,
  });

  io.on("connection", (socket) => {
    let room = null;
    let member = null;

    socket.on("join", async (wanted) => {
      if (room !== null) return;
      const name = wanted === undefined ? "lobby" : wanted;
      if (typeof name !== "string" || !ROOM.test(name)) {
        socket.emit("error", { code: "bad_room" });
        return;
      }
      room = name;
      member = memberFor(socket.id);
      // Joined before history is read, so nothing published meanwhile is missed.
      socket.join(room);
      await redis.hSet(membersKey(room), socket.id, JSON.stringify(member));
      const [members, entries] = await Promise.all([
        redis.hGetAll(membersKey(room)),
        redis.xRevRange(historyKey(room), "+", "-", { COUNT: historySize }),
      ]);
      const roster = {};
      for (const [id, json] of Object.entries(members)) roster[id] = JSON.parse(json);
      const messages = entries.reverse().map((e) => ({ id: e.id, ...JSON.parse(e.message.m) }));
      socket.emit("welcome", { room, member });
      socket.emit("member_history", roster);
      socket.emit("message_history", { messages, complete: true });
      socket.to(room).emit("member_add", member);
    });

    socket.on("send", async (text, ref) => {
      if (room === null) {
        socket.emit("error", { code: "not_joined" });
        return;
      }
      if (typeof text !== "string" || !text.trim() || text.length > MAX_TEXT) {
        socket.emit("error", { code: "too_long", ref });
        return;
      }
      const message = {
        date: Date.now(),
        member: member.id,
        username: member.username,
        avatar: member.avatar,
        text,
      };
      const id = await redis.xAdd(
        historyKey(room),
        "*",
        { m: JSON.stringify(message) },
        { TRIM: { strategy: "MAXLEN", strategyModifier: "~", threshold: historyMaxLen } },
      );
      io.to(room).emit("messages", { id, ...message });
      socket.emit("ack", { ref, id });
    });

    socket.on("disconnect", async () => {
      if (room === null) return;
      await redis.hDel(membersKey(room), socket.id);
      io.to(room).emit("member_delete", socket.id);
    });
  });

  server.listen(settings.PORT, "127.0.0.1", () => {
    console.log(`socketio-chat listening on 127.0.0.1:${settings.PORT}`);
  });
  const stop = () => {
    io.close();
    Promise.allSettled([redis.quit(), pub.quit(), sub.quit()]).then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(`socketio-chat: ${err.stack || err}`);
  process.exit(1);
});
