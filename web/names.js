// Names as people chose them (or as their identity provider has them). Each is shown in
// its own <bdi>, so a right-to-left name, or one with bidi controls the relay let through
// before it refused them, cannot reorder the text after it. A name that looks like the name
// of another member present (the same letters, ignoring case and compatibility forms: "Ａda"
// is "ada") gets a short id suffix, so two "Alice"s are told apart.

export const SUFFIX_HEX_DIGITS = 4;

function looks(name) {
  return name.normalize("NFKC").toLocaleLowerCase();
}

// True when a member present other than `id` goes by a name that looks like `username`.
export function nameIsShared(id, username, members) {
  const wanted = looks(username);
  for (const other of members.values()) {
    if (other.id !== id && looks(other.username) === wanted) return true;
  }
  return false;
}

// Fill `element` with the isolated name, and the id suffix when the name is shared.
export function showName(element, id, username, members) {
  const name = document.createElement("bdi");
  name.className = "name";
  name.textContent = username;
  element.replaceChildren(name);
  if (id && nameIsShared(id, username, members)) {
    const suffix = document.createElement("span");
    suffix.className = "id-suffix";
    suffix.textContent = `#${id.slice(0, SUFFIX_HEX_DIGITS)}`;
    suffix.title = `member ${id}`;
    element.append(suffix);
  }
}
