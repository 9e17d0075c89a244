// @ts-check
// The dashboard page's script: inlined into the page, run under a CSP that allows only it.
// Everything a server or a publisher sends is written with textContent, never as HTML.
(() => {
  const token = new URLSearchParams(location.search).get("token") ?? "";
  /** @param {string} path */
  const withToken = (path) => `${path}?token=${encodeURIComponent(token)}`;
  /** Samples kept per chart: one a second, two minutes. */
  const WINDOW = 120;
  /** Tail entries kept on the page. */
  const TAIL_MAX = 200;

  /** @param {string} id */
  const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
  /** @param {string} tag @param {string} [text] @param {string} [className] */
  const el = (tag, text, className) => {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  };
  const SVG = "http://www.w3.org/2000/svg";

  /** @param {number} n */
  const count = (n) =>
    n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)}k` : `${n >= 100 ? Math.round(n) : Math.round(n * 10) / 10}`;
  /** @param {number} n */
  const bytes = (n) =>
    n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${Math.round(n)} B`;

  /**
   * @typedef {{ time: number, streams: number, topics: number, submissions: number, eventsSubmitted: number,
   *   deliveries: number, bytesWritten: number, slowConsumers: number, tokenRejections: Record<string, number>,
   *   history: { events: number, bytes: number } | null, redis: { ready: boolean, instances: number | null } | null,
   *   busiest: { topic: string, subscribers: number }[] }} Sample
   * @typedef {{ name: string, label: string, read: (s: Sample, prev: Sample | undefined) => number | undefined,
   *   format: (n: number) => string, values: number[], line: SVGPolylineElement, output: HTMLOutputElement,
   *   svg: SVGSVGElement }} Chart
   */
  /** @param {(s: Sample) => number} total @returns {(s: Sample, prev: Sample | undefined) => number | undefined} */
  const perSecond = (total) => (s, prev) => (prev ? Math.max(0, (total(s) - total(prev)) / Math.max(0.001, (s.time - prev.time) / 1000)) : undefined);

  /** @type {Pick<Chart, "name" | "label" | "read" | "format">[]} */
  const specs = [
    { name: "streams", label: "Open streams", read: (s) => s.streams, format: count },
    { name: "topics", label: "Topics", read: (s) => s.topics, format: count },
    { name: "submissions", label: "Submissions/s", read: perSecond((s) => s.submissions), format: count },
    { name: "deliveries", label: "Deliveries/s", read: perSecond((s) => s.deliveries), format: count },
    { name: "bytes", label: "Bytes/s", read: perSecond((s) => s.bytesWritten), format: bytes },
  ];
  /** @type {Chart[]} */
  const charts = specs.map(({ name, label, read, format }) => {
    const figure = el("figure");
    figure.dataset.chart = name;
    const caption = el("figcaption", label);
    const output = /** @type {HTMLOutputElement} */ (el("output", "–"));
    caption.append(output);
    const svg = /** @type {SVGSVGElement} */ (document.createElementNS(SVG, "svg"));
    svg.setAttribute("viewBox", `0 0 ${WINDOW} 100`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `${label}: no data yet`);
    const base = document.createElementNS(SVG, "line");
    for (const [k, v] of [["x1", "0"], ["x2", String(WINDOW)], ["y1", "99"], ["y2", "99"]]) base.setAttribute(k, v);
    const line = /** @type {SVGPolylineElement} */ (document.createElementNS(SVG, "polyline"));
    svg.append(base, line);
    figure.append(caption, svg);
    byId("charts").append(figure);
    return { name, label, read, format, values: [], line, output, svg };
  });

  /** @param {Chart} chart @param {number} value */
  function plot(chart, value) {
    chart.values.push(value);
    if (chart.values.length > WINDOW) chart.values.shift();
    const max = Math.max(1, ...chart.values);
    const offset = WINDOW - chart.values.length; // newest at the right edge
    chart.line.setAttribute("points", chart.values.map((v, i) => `${offset + i},${(98 - (v / max) * 94).toFixed(1)}`).join(" "));
    chart.output.value = chart.format(value);
    chart.svg.setAttribute("aria-label", `${chart.label}: now ${chart.format(value)}, peak ${chart.format(max)} in the last ${chart.values.length} s`);
  }

  /** @param {HTMLElement} tbody @param {[string, string][]} rows */
  function fillTable(tbody, rows) {
    tbody.replaceChildren(
      ...rows.map(([key, value]) => {
        const tr = el("tr");
        tr.append(el("td", key), el("td", value, "num"));
        return tr;
      }),
    );
  }

  /** @type {Sample | undefined} */
  let previous;
  /** @param {Sample} s */
  function show(s) {
    // A sample sent as the page opened may come just before the first timed one: a rate
    // over a few milliseconds would be noise, so such a sample is skipped.
    if (previous && s.time - previous.time < 500) return;
    for (const chart of charts) {
      const value = chart.read(s, previous);
      if (value !== undefined) plot(chart, value);
    }
    previous = s;
    byId("slow").textContent = count(s.slowConsumers);
    const reasons = Object.entries(s.tokenRejections).filter(([, n]) => n > 0);
    fillTable(byId("rejections"), reasons.length ? reasons.map(([r, n]) => [r, count(n)]) : [["none", "0"]]);
    byId("history").textContent = s.history ? `${count(s.history.events)} events, ${bytes(s.history.bytes)}` : s.redis ? "kept in Redis, or off" : "off";
    byId("redis").textContent = !s.redis
      ? "not used (one instance)"
      : `${s.redis.ready ? "ready" : "NOT READY"}; instances seen: ${s.redis.instances ?? "…"}`;
    fillTable(byId("busiest"), s.busiest.length ? s.busiest.map((t) => [t.topic, count(t.subscribers)]) : [["(no topics)", "0"]]);
  }

  const status = byId("status");
  /** @param {string} text @param {boolean} [bad] */
  const setStatus = (text, bad = false) => {
    status.textContent = text;
    status.classList.toggle("bad", bad);
  };
  const stats = new EventSource(withToken("dashboard/stream"));
  stats.addEventListener("open", () => setStatus("live"));
  stats.addEventListener("stats", (e) => show(JSON.parse(/** @type {MessageEvent<string>} */ (e).data)));
  stats.addEventListener("error", () => {
    if (stats.readyState === EventSource.CLOSED) setStatus("disconnected: this link has expired or is not valid; get a new one (sse-server dashboard-url)", true);
    else setStatus("reconnecting…", true);
  });

  // The tail: the topic's event stream, read with fetch and parsed here, so that every
  // event name arrives (an EventSource hands over only the names it listens to).
  const tailList = byId("tail");
  const tailStatus = byId("tail-status");
  const tailStart = /** @type {HTMLButtonElement} */ (byId("tail-start"));
  const tailStop = /** @type {HTMLButtonElement} */ (byId("tail-stop"));
  /** @type {AbortController | undefined} */
  let tailing;

  /** @param {string} event @param {string} data @param {string} id */
  function addTail(event, data, id) {
    const li = el("li");
    li.append(el("div", `${new Date().toLocaleTimeString()} · ${event || "message"}${id ? ` · id ${id}` : ""}`, "meta"), el("pre", data));
    tailList.prepend(li);
    while (tailList.children.length > TAIL_MAX) tailList.lastElementChild?.remove();
  }

  /** @param {ReadableStream<Uint8Array>} body @param {(event: string, data: string, id: string) => void} onEvent */
  async function readEvents(body, onEvent) {
    const decoder = new TextDecoder();
    let buffer = "";
    let event = "";
    /** @type {string[]} */
    let data = [];
    let id = "";
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "") {
          if (data.length) onEvent(event, data.join("\n"), id);
          event = "";
          data = [];
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event = value;
          else if (field === "data") data.push(value);
          else if (field === "id") id = value;
        }
      }
    }
  }

  function stopTail() {
    tailing?.abort();
    tailing = undefined;
    tailStop.disabled = true;
  }

  byId("tail-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    stopTail();
    const topic = /** @type {HTMLInputElement} */ (byId("tail-topic")).value;
    const controller = (tailing = new AbortController());
    tailStop.disabled = false;
    tailList.replaceChildren();
    tailStatus.textContent = `connecting to ${topic}…`;
    try {
      const response = await fetch(`${withToken("dashboard/tail")}&topic=${encodeURIComponent(topic)}`, { signal: controller.signal });
      if (!response.ok || !response.body) throw new Error(`${response.status} ${(await response.text()).trim()}`);
      tailStatus.textContent = `following ${topic}`;
      await readEvents(response.body, addTail);
      if (tailing === controller) tailStatus.textContent = `${topic}: the stream ended`;
    } catch (error) {
      if (!controller.signal.aborted) tailStatus.textContent = `${topic}: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      if (tailing === controller) stopTail();
    }
  });
  tailStop.addEventListener("click", () => {
    stopTail();
    tailStatus.textContent = "stopped";
    tailStart.focus();
  });

  const publishForm = /** @type {HTMLFormElement} */ (byId("publish-form"));
  const publishStatus = /** @type {HTMLOutputElement} */ (byId("publish-status"));
  publishForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const field = (/** @type {string} */ name) => /** @type {HTMLInputElement} */ (publishForm.elements.namedItem(name)).value;
    const event = { topic: field("topic"), event: field("event"), data: field("data") };
    publishStatus.value = "publishing…";
    try {
      const response = await fetch("dashboard/publish", {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify(event),
      });
      const text = (await response.text()).trim();
      publishStatus.value = response.ok ? `published to ${event.topic}` : `refused (${response.status}): ${text}`;
    } catch (error) {
      publishStatus.value = `failed: ${String(error)}`;
    }
  });
})();
