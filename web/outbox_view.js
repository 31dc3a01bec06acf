// How the outbox's messages look while they travel: pending, sending, waiting, stored or
// failed, each on its room's timeline, with a notice when the relay is slow or degraded.

export const WAITING_FOR_CONNECTION = "waiting for the connection";
const FAILURE_REASONS = {
  unavailable: "the relay could not reach its storage",
  rate_limited: "the relay did not take it in time",
};

// timelineOf(item): the item's room's timeline (a room left meanwhile has none); joined():
// the socket is usable; degraded(flag): the relay's storage is (un)reachable; notice(text).
export function outboxCallbacks({ timelineOf, joined, degraded, notice }) {
  return {
    onQueued: (item) => {
      timelineOf(item)?.addPending(item);
      if (!joined()) timelineOf(item)?.retrying(item.ref, WAITING_FOR_CONNECTION);
    },
    onSending: (item) => timelineOf(item)?.retrying(item.ref, "sending…"),
    onStored: (item, id) => {
      timelineOf(item)?.stored(item.ref, id);
      degraded(false);
      notice("");
    },
    onRetrying: (item, code, delay) => {
      const seconds = (delay / 1000).toFixed(1);
      if (code === "unavailable") {
        degraded(true);
        notice("The relay cannot reach its storage right now; your message is being retried.");
        timelineOf(item)?.retrying(item.ref, `storage unreachable, retrying in ${seconds}s`);
      } else {
        timelineOf(item)?.retrying(item.ref, `waiting ${seconds}s`);
        notice("Sending more slowly: the relay limits how many messages arrive each second.");
      }
    },
    onFailed: (item, code, detail) => {
      timelineOf(item)?.failed(item.ref, FAILURE_REASONS[code] || detail);
      notice("A message could not be sent. Use its Retry button when the relay is back.");
    },
  };
}
