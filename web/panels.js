// Phones: the room list and the members list each fold behind a header toggle; one open at
// a time, Escape closes it and gives the focus back to its toggle.

export function showPanel(toggle, panel, open) {
  toggle.setAttribute("aria-expanded", String(open));
  panel.classList.toggle("open", open);
}

// pairs: [[toggle, panel], ...]
export function foldingPanels(pairs) {
  for (const [toggle, panel] of pairs) {
    toggle.addEventListener("click", () => {
      for (const [other, otherPanel] of pairs) if (other !== toggle) showPanel(other, otherPanel, false);
      showPanel(toggle, panel, toggle.getAttribute("aria-expanded") !== "true");
    });
  }
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    for (const [toggle, panel] of pairs) {
      if (panel.classList.contains("open")) {
        showPanel(toggle, panel, false);
        toggle.focus();
      }
    }
  });
}
