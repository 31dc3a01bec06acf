// The members list of the room shown: avatar, name, and "(you)" for the person, which
// never wraps inside itself beside a long name.

import { showName } from "./names.js";
import { avatarImage } from "./timeline.js";

export function renderMembers({ list, counts }, members, me) {
  list.replaceChildren();
  const sorted = [...members.values()].sort((a, b) => a.username.localeCompare(b.username));
  for (const member of sorted) {
    const li = document.createElement("li");
    li.dataset.memberId = member.id;
    const name = document.createElement("span");
    name.className = "who";
    showName(name, member.id, member.username, members);
    li.append(avatarImage(member.avatar, 24), name);
    if (me && member.id === me.id) {
      li.classList.add("self");
      const you = document.createElement("span");
      you.className = "you";
      you.textContent = "(you)";
      li.append(you);
    }
    list.append(li);
  }
  for (const count of counts) count.textContent = String(members.size);
}
