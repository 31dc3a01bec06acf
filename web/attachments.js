// Attachments: pick or drop a file, upload it straight to storage with the slot's form,
// then post a message naming it. Links are asked for when shown (they expire quickly).

// Protocol facts (contract/protocol.py; the relay enforces the real limits).
const DOWNLOADABLE = new Set(["unscanned", "clean"]);

function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export class Attachments {
  // send(frame) -> bool on the joined socket; notice(text) tells the person something.
  constructor({ send, notice, uploads }) {
    this.send = send;
    this.notice = notice;
    this.uploads = uploads;   // the list of uploads in progress
    this.pending = new Map(); // upload ref -> { file, row }
    this.chips = new Map();   // attachment id -> chips showing it
    this.links = new Map();   // attachment id -> { url, expires }
  }

  // The attach button picks files, and files dropped on `dropZone` are taken too; each goes
  // to the room shown then (activeRoom()).
  wire(button, input, dropZone, activeRoom) {
    button.addEventListener("click", () => input.click());
    input.addEventListener("change", () => {
      for (const file of input.files) this.pick(file, activeRoom());
      input.value = "";
    });
    dropZone.addEventListener("dragover", (event) => {
      event.preventDefault();
      dropZone.classList.add("dropping");
    });
    dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dropping"));
    dropZone.addEventListener("drop", (event) => {
      event.preventDefault();
      dropZone.classList.remove("dropping");
      for (const file of event.dataTransfer.files) this.pick(file, activeRoom());
    });
  }

  // Upload `file` into `room` (a room the socket is in); the message goes to that room too.
  pick(file, room) {
    const ref = `up-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const row = document.createElement("li");
    row.className = "upload";
    const name = document.createElement("span");
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", `uploading ${file.name}`);
    row.append(name, bar);
    this.uploads.append(row);
    this.pending.set(ref, { file, row, bar, room });
    const frame = { type: "upload", room, name: file.name, size: file.size,
      content_type: file.type || "application/octet-stream", ref };
    if (!this.send(frame)) this.fail(ref, "not connected; try again when the relay is back");
  }

  fail(ref, why) {
    const item = this.pending.get(ref);
    if (!item) return;
    this.pending.delete(ref);
    item.row.remove();
    this.notice(`${item.file.name} was not sent: ${why}`);
  }

  // An `error` answering an upload (the relay answers in order; the oldest waits first).
  refused(code, detail) {
    for (const [ref, item] of this.pending) {
      if (!item.uploading) {
        this.fail(ref, detail);
        return true;
      }
    }
    return false;
  }

  slot(frame) {
    const item = this.pending.get(frame.ref);
    if (!item) return;
    item.uploading = true;
    const form = new FormData();
    for (const [key, value] of Object.entries(frame.upload.fields)) form.append(key, value);
    form.append("file", item.file);
    const request = new XMLHttpRequest();
    request.open("POST", frame.upload.url);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) item.bar.value = Math.round((100 * event.loaded) / event.total);
    });
    request.addEventListener("load", () => {
      if (request.status >= 300) {
        this.fail(frame.ref, `the store refused it (${request.status})`);
        return;
      }
      this.pending.delete(frame.ref);
      item.row.remove();
      this.send({ type: "send", room: item.room, text: "", ref: frame.ref, attachments: [frame.attachment] });
    });
    request.addEventListener("error", () => this.fail(frame.ref, "the upload failed"));
    request.send(form);
  }

  // The chips of a shown message's attachments, in `room` (links are asked for there).
  render(container, attachments, room) {
    for (const attachment of attachments) {
      const chip = document.createElement("div");
      chip.className = "attachment";
      chip.dataset.attachment = attachment.id;
      chip.room = room;
      container.append(chip);
      const shown = this.chips.get(attachment.id) || [];
      shown.push(chip);
      this.chips.set(attachment.id, shown);
      this.fill(chip, attachment);
    }
  }

  fill(chip, attachment) {
    chip.replaceChildren();
    chip.dataset.status = attachment.status;
    const name = document.createElement("span");
    name.className = "file-name";
    name.textContent = `${attachment.name} (${sizeText(attachment.size)})`;
    const state = document.createElement("span");
    state.className = "file-state";
    chip.append(name, state);
    chip.attachment = attachment;
    if (attachment.status === "infected") {
      state.textContent = "blocked: the scan found malware";
    } else if (!DOWNLOADABLE.has(attachment.status)) {
      state.textContent = "scanning…";
    } else {
      state.textContent = attachment.status === "unscanned" ? "not scanned (this relay does not scan files)" : "";
      const link = this.links.get(attachment.id);
      if (link && link.expires * 1000 > Date.now() + 5000) this.showLink(chip, link.url);
      else this.send({ type: "download", room: chip.room, attachment: attachment.id, ref: attachment.id });
    }
  }

  showLink(chip, url) {
    const attachment = chip.attachment;
    if (attachment.content_type.startsWith("image/")) {
      const image = document.createElement("img");
      image.className = "preview";
      image.alt = attachment.name;
      image.src = url;
      chip.prepend(image);
    }
    const link = document.createElement("a");
    link.className = "file-link";
    link.href = url;
    link.textContent = "Open";
    link.rel = "noopener noreferrer";
    chip.append(link);
  }

  linked(frame) {
    this.links.set(frame.attachment, { url: frame.url, expires: frame.expires });
    for (const chip of this.chips.get(frame.attachment) || []) {
      if (!chip.querySelector("a.file-link")) this.showLink(chip, frame.url);
    }
  }

  updated(frame) {
    for (const chip of this.chips.get(frame.attachment.id) || []) this.fill(chip, frame.attachment);
  }
}
