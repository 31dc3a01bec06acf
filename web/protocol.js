// Protocol v1 facts, as the relay checks them (contract/protocol.py; a test compares): the
// page cannot import contract/ (plain ES modules, no build step), so it keeps these copies.

export const DEFAULT_ROOM = "lobby";
export const TEXT_MAX_CHARS = 2000; // send "text", after trimming
export const NAME_MAX_CHARS = 40; // join "name"
export const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/u; // refused in a name (bad_name)
export const CLOSE_RESTARTING = 1012; // the relay drains: reconnect and resume
export const CLOSE_TRY_AGAIN = 1013; // slow consumer, connection cap, storage down at join
export const CLOSE_DISCONNECTED = 4003; // the product's backend removed this member: no reconnect
export const MESSAGE_DELETED_FRAME = "message_deleted"; // the frame carries the deleted id
export const CLOSE_SIGN_IN_EXPIRED = 4001; // the load balancer's token expired: reconnect at once
