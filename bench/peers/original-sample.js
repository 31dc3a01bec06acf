// A server of the original sample's design, written from the description in the AWS
// Database Blog post "How to build a chat application with Amazon ElastiCache for Redis"
// (https://aws.amazon.com/blogs/database/how-to-build-a-chat-application-with-amazon-elasticache-for-redis/),
// not from its code, on today's Socket.IO 4 and node-redis 4 so that the
// comparison measures the design, not old library versions. Kept on purpose:
//   - one chat room for everyone (a join's room is ignored; the sample had none);
//   - one command connection, plus one subscriber connection per topic (messages,
//     member_add, member_delete), each relaying its topic to every socket with io.emit;
//   - on each connection: HGETALL members, HSET the new member, ZRANGE the last 10
//     messages, then io.emit member_history and message_history to *every* socket and
//     publish member_add; the send and disconnect handlers are attached after that;
//   - history in one sorted set scored by date, never trimmed; no acks, no message ids.
//
// Settings (environment): PORT, REDIS_URL.
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const { createClient } = require("redis");
const { readSettings, memberFor } = require("./settings");

const CHANNEL_HISTORY_MAX = 10;
const TOPICS = ["messages", "member_add", "member_delete"];

const settings = readSettings(["PORT", "REDIS_URL"]);
const logError = (err) => console.error(`redis: ${err.message}`);

async function main() {
  const redis = createClient({ url: settings.REDIS_URL });
  redis.on("error", (err) => console.error(`redis: ${err.message}`));
  await redis.connect();

  const server = http.createServer((req, res) => {
    // Ready once listening: Redis connected first (bench/contenders.py waits for /readyz).
    res.writeHead(req.url === "/readyz" || req.url === "/healthz" ? 200 : 404).end();
  });
  const io = new Server(server, { transports: ["websocket"], perMessageDeflate: false });

  const subscribers = [];
  for (const topic of TOPICS) {
    const client = redis.duplicate();
    client.on("error", (err) => console.error(`redis ${topic}: ${err.message}`));
    await client.connect();
    await client.subscribe(topic, (message) => io.emit(topic, JSON.parse(message)));
    subscribers.push(client);
  }

  io.on("connection", async (socket) => {
    const getMembers = redis.hGetAll("members").then((stored) => {
      const members = {};
      for (const [key, json] of Object.entries(stored)) members[key] = JSON.parse(json);
      return members;
    });
    const initializeMember = getMembers.then(async (members) => {
      if (members[socket.id]) return members[socket.id];
      const { username, avatar } = memberFor(socket.id);
      const member = { socket: socket.id, username, avatar };
      await redis.hSet("members", socket.id, JSON.stringify(member));
      return member;
    });
    const getMessages = redis
      .zRange("messages", -CHANNEL_HISTORY_MAX, -1)
      .then((result) => result.map((x) => JSON.parse(x)));

    const [members, member, messages] = await Promise.all([
      getMembers,
      initializeMember,
      getMessages,
    ]);
    io.emit("member_history", members);
    io.emit("message_history", messages);
    await redis.publish("member_add", JSON.stringify(member));

    // As in the sample, both commands go out at once (pipelined on the one connection).
    socket.on("send", (messageText) => {
      const date = Date.now();
      const message = JSON.stringify({
        date,
        username: member.username,
        avatar: member.avatar,
        message: messageText,
      });
      redis.zAdd("messages", { score: date, value: message }).catch(logError);
      redis.publish("messages", message).catch(logError);
    });

    socket.on("disconnect", () => {
      redis.hDel("members", socket.id).catch(logError);
      redis.publish("member_delete", JSON.stringify(socket.id)).catch(logError);
    });
  });

  server.listen(settings.PORT, "127.0.0.1", () => {
    console.log(`original-sample listening on 127.0.0.1:${settings.PORT}`);
  });
  const stop = () => {
    io.close();
    Promise.allSettled([redis, ...subscribers].map((c) => c.quit())).then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(`original-sample: ${err.stack || err}`);
  process.exit(1);
});
