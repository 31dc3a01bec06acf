// Who this page is: its member (name, avatar), its resume token, the name it asked for, and
// who signs people in (the relay says: AUTH_MODE). Anonymous, a person renames here; signed
// in at the load balancer, Sign out is a POST from this page.

import { BIDI_CONTROLS, NAME_MAX_CHARS } from "./protocol.js";
import { showName } from "./names.js";

// Identities are not tied to a room (a token names a member everywhere), so one token per
// browser gives one name in every room. The per-room key is what older pages stored.
const TOKEN_KEY = "chat-relay:token";

// The relay's rules for a name (it checks them again and answers bad_name).
export function nameProblem(name) {
  if (!name || /^[\s\p{Default_Ignorable_Code_Point}]*$/u.test(name)) return "Choose a name with something visible in it.";
  if ([...name].length > NAME_MAX_CHARS) return `Names are limited to ${NAME_MAX_CHARS} characters.`;
  if (/[\p{Cc}\u2028\u2029]/u.test(name)) return "Names cannot hold control characters or line breaks.";
  if (BIDI_CONTROLS.test(name)) return "Names cannot hold bidi controls (they reorder the text after the name).";
  return "";
}

export class Identity {
  // notice(text): tell the person; rejoin(): join again at once (the relay takes a name at
  // join); onMember(member): this page's member changed; focus(): back to the message input.
  constructor({ ui, firstRoom, notice, rejoin, onMember, focus }) {
    this.ui = ui;
    this.legacyTokenKey = `chat-relay:token:${firstRoom}`;
    this.notice = notice;
    this.rejoin = rejoin;
    this.onMember = onMember;
    this.focus = focus;
    this.me = null;
    this.signIn = "none"; // "alb" when the load balancer signs people in (GET /auth/session)
    this.pendingName = null; // a name chosen here, sent on the next join until welcome confirms it
    // Tabs of one browser are one person: a rename in one tab tells the others to rejoin.
    this.channel = "BroadcastChannel" in window ? new BroadcastChannel("chat-relay:identity") : null;
    this.listen();
  }

  // What a join carries of the identity: the resume token, a newly chosen name.
  joinFields(join) {
    const token = localStorage.getItem(TOKEN_KEY) || localStorage.getItem(this.legacyTokenKey);
    if (token) join.token = token;
    if (this.pendingName !== null) join.name = this.pendingName;
  }

  welcomed(frame) {
    localStorage.setItem(TOKEN_KEY, frame.token);
    this.show(frame.member);
    if (this.pendingName !== null) {
      this.pendingName = null;
      if (this.channel) this.channel.postMessage({ renamed: frame.member.id });
    }
  }

  // The relay refused the chosen name; the page joins under the current one.
  nameRefused(detail) {
    this.pendingName = null;
    this.notice(`That name was not accepted: ${detail}`);
  }

  show(member) {
    const ui = this.ui;
    this.me = member;
    showName(ui.meName, member.id, member.username, new Map());
    ui.meAvatar.src = member.avatar;
    ui.meAvatar.title = `You are ${member.username}`;
    ui.me.hidden = false;
    this.onMember(member);
    this.renderControls();
  }

  renderControls() {
    this.ui.rename.hidden = this.signIn !== "none" || !this.me;
    this.ui.signOut.hidden = this.signIn !== "alb";
  }

  // Who signs people in: the relay says. A relay without the endpoint is anonymous.
  async load() {
    try {
      const response = await fetch("/auth/session", { cache: "no-store" });
      const session = await response.json();
      this.signIn = session.mode === "alb" ? "alb" : "none";
      if (session.logout_url) this.ui.signOut.dataset.logoutUrl = session.logout_url;
    } catch {
      this.signIn = "none";
    }
    this.renderControls();
  }

  // Signed in at the load balancer, a socket refused before its welcome is most likely a
  // sign-in that ended (the relay answers 401, which a page cannot read from a WebSocket).
  async check() {
    let signedIn = false;
    try {
      const response = await fetch("/auth/session", { cache: "no-store" });
      signedIn = response.ok && (await response.json()).signed_in === true;
    } catch {
      // the load balancer redirected to the identity provider: not signed in any more
    }
    if (!signedIn) this.notice("Your sign-in has ended. Reload the page to sign in again.");
  }

  showRenameForm(open) {
    const ui = this.ui;
    ui.renameForm.hidden = !open;
    ui.rename.setAttribute("aria-expanded", String(open));
    if (open) {
      ui.nameInput.value = this.me ? this.me.username : "";
      ui.nameInput.focus();
      ui.nameInput.select();
    } else {
      this.focus();
    }
  }

  listen() {
    const ui = this.ui;
    // Sign out is a POST from this page (a link elsewhere must not sign anyone out); the
    // relay expires the load balancer's session cookie and says where to go next (the
    // identity provider's logout page).
    ui.signOut.addEventListener("click", async () => {
      ui.signOut.disabled = true;
      try {
        const response = await fetch(ui.signOut.dataset.logoutUrl || "/auth/logout", {
          method: "POST",
          cache: "no-store",
        });
        const answer = await response.json();
        location.assign(answer.next || "/");
      } catch {
        ui.signOut.disabled = false;
        this.notice("Sign out did not go through; try again.");
      }
    });
    ui.rename.addEventListener("click", () => this.showRenameForm(ui.renameForm.hidden));
    ui.renameCancel.addEventListener("click", () => this.showRenameForm(false));
    ui.renameForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = ui.nameInput.value.trim();
      const problem = nameProblem(name);
      if (problem) {
        this.notice(problem);
        ui.nameInput.focus();
        return;
      }
      this.notice("");
      this.showRenameForm(false);
      if (this.me && name === this.me.username) return;
      this.pendingName = name;
      this.rejoin();
    });
    if (this.channel) {
      this.channel.addEventListener("message", (event) => {
        if (this.me && event.data && event.data.renamed === this.me.id) this.rejoin();
      });
    }
  }
}
