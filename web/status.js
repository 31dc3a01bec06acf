// The connection state in the header: connecting / online / degraded / offline.
// While degraded, /readyz says when storage is back even if nothing is being retried.
// Behind the ALB the stickiness cookie sends it to the task holding this socket.

const READY_POLL_MS = 5000;

export class ConnectionStatus {
  // joined() and closed(): the socket's state; busy(): a send is in flight (its answer
  // will say); recovered(): storage answers again.
  constructor({ element, joined, closed, busy, recovered }) {
    this.element = element;
    this.joined = joined;
    this.closed = closed;
    this.busy = busy;
    this.recovered = recovered;
    this.label = "connecting…";
    this.degraded = false; // the relay said its storage is unreachable
    this.poll = null;
  }

  render() {
    let kind;
    let label;
    if (!this.joined()) {
      kind = this.closed() ? "offline" : "connecting";
      label = this.label;
    } else if (this.degraded) {
      kind = "degraded";
      label = "degraded";
    } else {
      kind = "online";
      label = "online";
    }
    this.element.dataset.state = kind;
    this.element.textContent = label;
  }

  setConnection(label) {
    this.label = label;
    this.render();
  }

  setDegraded(degraded) {
    this.degraded = degraded;
    clearInterval(this.poll);
    this.poll = null;
    if (degraded) {
      this.poll = setInterval(async () => {
        if (this.busy()) return;
        try {
          const response = await fetch("/readyz", { cache: "no-store" });
          if (response.ok && this.degraded && !this.busy()) {
            this.setDegraded(false);
            this.recovered();
          }
        } catch {
          // offline: the socket's close handler shows that
        }
      }, READY_POLL_MS);
    }
    this.render();
  }
}
