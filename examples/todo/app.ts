/**
 * The todo app server: it keeps the list, and tells the SSE server after each change.
 * Browsers never see the secret; they get a stream URL with a token minted per request.
 */
import { Hono } from "hono";
import { z } from "zod";
import { renderPage } from "./page.ts";
import type { SsePublisher } from "./sse-publisher.ts";

export const TODO_TOPIC = "todo";
/** As in the original's Flask example: the event says "changed", the page refetches. */
export const TODO_UPDATE_EVENT = "todo-update";

const NewItem = z.object({ text: z.string().trim().min(1).max(200) });

export interface TodoAppOptions {
  readonly publisher: SsePublisher;
}

export function createTodoApp({ publisher }: TodoAppOptions): Hono {
  const items: string[] = [];
  const page = renderPage({ updateEvent: TODO_UPDATE_EVENT, clientUrl: publisher.clientUrl });
  const app = new Hono();

  app.get("/", (c) => c.html(page));

  app.get("/todos", (c) => c.json({ items }));

  app.post("/todos", async (c) => {
    const parsed = NewItem.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) return c.text('expected JSON {"text": "..."} of 1 to 200 characters', 400);
    items.push(parsed.data.text);
    // Empty data: the event only says "the list changed"; pages fetch it from us, so the
    // SSE server never carries the list (or anything a subscriber should not see).
    try {
      await publisher.publish([{ topic: TODO_TOPIC, event: TODO_UPDATE_EVENT, data: "" }]);
    } catch (error) {
      console.error(`todo app: could not notify the SSE server: ${String(error)}`);
      return c.text("the item is saved, but other pages were not told (SSE server unreachable)", 502);
    }
    return c.json({ items }, 201);
  });

  // The pattern the original recommends: the page opens a stream on its own origin and
  // is redirected with a token minted now, so the secret and the token's lifetime stay
  // here. 307 keeps the method; no-store keeps a browser from ever reusing a redirect (and
  // its token) from cache. The page's client comes back here for every (re)connection,
  // with `lastEventId` in the query: passed on, the stream resumes where the page left it.
  app.get("/events", (c) => {
    c.header("Cache-Control", "no-store");
    return c.redirect(publisher.streamUrl([TODO_TOPIC], c.req.query("lastEventId")), 307);
  });

  return app;
}
