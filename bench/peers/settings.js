// What both benchmark peers share: settings from the environment, checked once at start
// (a bad value stops the process naming the variable and a valid example), and members.
"use strict";

function readSettings(required) {
  const values = {};
  for (const name of required) {
    const value = process.env[name];
    if (!value) fail(`${name} is not set (e.g. ${name === "PORT" ? "3000" : "redis://127.0.0.1:6390/0"})`);
    values[name] = value;
  }
  if ("PORT" in values) values.PORT = checkedInt("PORT", values.PORT, 1, 65535);
  values.int = (name, fallback) =>
    process.env[name] === undefined ? fallback : checkedInt(name, process.env[name], 0, 1e6);
  return values;
}

function checkedInt(name, text, min, max) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    fail(`${name}=${JSON.stringify(text)} is not a whole number from ${min} to ${max} (e.g. ${max === 65535 ? 3000 : 100})`);
  }
  return value;
}

function fail(message) {
  console.error(`bad setting: ${message}`);
  process.exit(2);
}

// A random name and a generated avatar path, as the sample gives each connection (it used
// Faker and a third-party avatar service; the name's shape is what matters here).
const FIRST = ["Ada", "Alan", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis"];
const LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Thompson", "Hamilton"];

function memberFor(id) {
  const pick = (list) => list[Math.floor(Math.random() * list.length)];
  const username = `${pick(FIRST)} ${pick(LAST)}`;
  return { id, username, avatar: `/avatars/${encodeURIComponent(username)}.svg` };
}

module.exports = { readSettings, memberFor };
