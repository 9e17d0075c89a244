/**
 * The demo's only page. It never trusts its own POST to update the list: the list is
 * refetched when the stream opens (so a reconnect catches up on what it missed) and on
 * each update event, which is the whole point of the demo.
 */

export interface PageOptions {
  /** The event name the app submits after each change. */
  readonly updateEvent: string;
  /** The SSE server's browser client (`GET client.js`), imported as a module. */
  readonly clientUrl: string;
}

export function renderPage({ updateEvent, clientUrl }: PageOptions): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Todo · sse-server demo</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f3f5f9; }
  main { max-width: 34rem; margin: 2.5rem auto; padding: 1.5rem 2rem; background: #fff;
         border-radius: 12px; box-shadow: 0 2px 12px rgb(0 0 0 / 8%); }
  h1 { margin: 0 0 .25rem; }
  .hint { margin: 0 0 1.25rem; color: #5b6476; }
  form { display: flex; gap: .5rem; }
  input { flex: 1; padding: .55rem .7rem; font: inherit; border: 1px solid #c5cbd6; border-radius: 6px; }
  button { padding: .55rem 1.1rem; font: inherit; color: #fff; background: #2f6fed; border: 0; border-radius: 6px; cursor: pointer; }
  ul { padding-left: 1.3rem; margin: 1.25rem 0; }
  li { padding: .3rem 0; }
  #empty { color: #8a93a5; font-style: italic; }
  #status { margin: 0; font-size: .9rem; color: #5b6476; }
  #status::before { content: "●"; margin-right: .4rem; color: #d9a21b; }
  #status[data-state="live"]::before { color: #22a35a; }
</style>
</head>
<body>
<main>
  <h1>Todo</h1>
  <p class="hint">Open this page in two windows: an item added in one appears in the other through the SSE server.</p>
  <form id="add">
    <input id="text" name="text" placeholder="What needs doing?" maxlength="200" autocomplete="off" required>
    <button type="submit">Add</button>
  </form>
  <ul id="items"></ul>
  <p id="empty">Nothing to do yet.</p>
  <p id="status" data-state="connecting" data-opens="0">connecting…</p>
</main>
<script type="module">
  import { subscribe } from ${JSON.stringify(clientUrl)};
  const list = document.getElementById("items");
  const empty = document.getElementById("empty");
  const status = document.getElementById("status");
  const form = document.getElementById("add");
  const input = document.getElementById("text");

  function showStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  // Refreshes can overlap (an event arrives while one is in flight): the newest one wins.
  let latestRefresh = 0;
  async function refresh() {
    const ticket = ++latestRefresh;
    try {
      const response = await fetch("/todos", { cache: "no-store" });
      if (!response.ok) return;
      const { items } = await response.json();
      if (ticket !== latestRefresh) return;
      list.replaceChildren(...items.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
      empty.hidden = items.length > 0;
    } catch {
      // The next open or event refreshes again.
    }
  }

  // Same-origin URL: the app answers with a 307 to the SSE server and a fresh token,
  // for every connection the client opens, and passes the page's last event id on. The
  // client reconnects with backoff, never gives up, and shares one stream between tabs.
  let opens = 0;
  const stream = subscribe("/events");
  stream.addEventListener("open", () => {
    opens += 1;
    status.dataset.opens = String(opens);
    showStatus("live", opens === 1 ? "live" : \`live (reconnected \${opens - 1}×)\`);
    refresh();
  });
  stream.addEventListener(${JSON.stringify(updateEvent)}, refresh);
  // The server could not replay what this page missed: the list may be stale.
  stream.addEventListener("reset", refresh);
  stream.addEventListener("error", () => showStatus("connecting", "reconnecting…"));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    const response = await fetch("/todos", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text }),
    });
    if (response.ok) input.value = "";
  });
</script>
</body>
</html>
`;
}
