// Private rooms' tokens (docs/protocol.md, Private rooms). A token comes in the URL
// fragment (#room_token=...), which browsers never send to a server, so it stays out of
// every log. It is kept per room for this tab's reloads and taken out of the address bar
// so a copied link does not hand it on.

const keyOf = (room) => `chat-relay:room-token:${room}`;

// Keep the fragment's token for `room` (the room the address names) and clear it from the URL.
export function takeRoomToken(room) {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromUrl = fragment.get("room_token");
  if (!fromUrl) return;
  sessionStorage.setItem(keyOf(room), fromUrl);
  fragment.delete("room_token");
  const rest = fragment.toString();
  history.replaceState(null, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
}

// The token a join or subscribe into `room` carries, if this tab was given one.
export const roomTokenFor = (room) => sessionStorage.getItem(keyOf(room));
