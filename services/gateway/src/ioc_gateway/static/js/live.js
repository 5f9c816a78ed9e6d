// The live feed over WebSocket: reconnects with exponential back-off and resumes from the
// last message seen (after=<seq>), so a network blip never needs a page reload.
export class LiveFeed {
  constructor({ onMessage, onStatus, onAuthLost, params = {} }) {
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.onAuthLost = onAuthLost;
    this.params = params;
    this.seq = null;
    this.delay = 1000;
    this.stopped = false;
    this.ws = null;
  }

  url() {
    const q = new URLSearchParams(this.params);
    if (this.seq !== null) q.set("after", String(this.seq));
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    return `${proto}//${location.host}/v1/live?${q}`;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.close();
  }

  connect() {
    this.onStatus("connecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === "hello") {
        if (this.seq === null) this.seq = msg.seq;
        this.delay = 1000;
        this.onStatus("online");
        return;
      }
      if (typeof msg.seq === "number") this.seq = msg.seq;
      this.onMessage(msg);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.onStatus("offline");
      if (event.code === 4401) { this.onAuthLost(); return; }
      if (this.stopped) return;
      // Exponential back-off with jitter, capped at 30 s.
      const wait = this.delay * (0.75 + Math.random() * 0.5);
      this.delay = Math.min(this.delay * 2, 30000);
      setTimeout(() => { if (!this.stopped) this.connect(); }, wait);
    };
  }
}
