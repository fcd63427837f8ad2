// Dead letters: every DLQ of the stage with its depth; a queue's messages
// with their reason and receive count; redrive the queue or delete a message
// (each asks first).

import { api } from "./api.js";
import { ageText, failure, h, json, loading, replace, section, table } from "./dom.js";

function queues(ctx, dlqs, selected) {
  return table(
    "Dead-letter queues",
    [
      {
        label: "Queue",
        cell: (q) =>
          h(
            "a",
            { href: ctx.link(`dead-letters/${encodeURIComponent(q.queue)}`), "aria-current": q.queue === selected ? "true" : null },
            q.queue,
          ),
      },
      { label: "Source", cell: (q) => q.source },
      { label: "Depth", class: "num depth", cell: (q) => h("span", { class: q.depth ? "warn" : "" }, String(q.depth)) },
      { label: "Oldest", class: "num", cell: (q) => ageText(q.oldestAgeSeconds) },
    ],
    dlqs,
    { empty: "This stage has no dead-letter queues.", rowKey: (q) => q.queue },
  );
}

function messages(ctx, queue, items, reload) {
  const remove = async (m, button) => {
    if (!window.confirm(`Delete message ${m.messageId} from ${queue}? It will not be retried.`)) return;
    button.disabled = true;
    try {
      await api(`ops/dead-letters/${encodeURIComponent(queue)}/${encodeURIComponent(m.messageId)}`, {
        method: "DELETE",
        signal: ctx.signal,
      });
      ctx.flash(`Deleted message ${m.messageId}.`);
      reload();
    } catch (error) {
      if (!ctx.active() || error.name === "AbortError" || error.name === "Unauthorized") return;
      button.disabled = false;
      ctx.flash(`Could not delete ${m.messageId}: ${error.message}`, "error");
    }
  };
  return table(
    `Messages of ${queue}, oldest first`,
    [
      { label: "Message", cell: (m) => h("span", { class: "mono" }, m.messageId) },
      { label: "Receives", class: "num", cell: (m) => String(m.receiveCount) },
      { label: "Reason", cell: (m) => h("span", { class: "reason" }, m.reason ?? "(none recorded)") },
      {
        label: "Attributes",
        cell: (m) =>
          Object.keys(m.attributes || {}).length
            ? h("dl", { class: "facts small" }, Object.entries(m.attributes).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))
            : "–",
      },
      { label: "Body", cell: (m) => h("details", {}, h("summary", {}, "Body"), h("pre", {}, json(m.body))) },
      {
        label: "Actions",
        cell: (m) => {
          const button = h("button", { type: "button", class: "danger", "aria-label": `Delete message ${m.messageId}` }, "Delete");
          button.addEventListener("click", () => remove(m, button));
          return button;
        },
      },
    ],
    items,
    { empty: "No messages in this queue.", rowKey: (m) => m.messageId },
  );
}

export async function render(ctx) {
  const selected = ctx.params.queue || null;
  const list = h("div", {}, loading());
  const detail = h("div", {});
  const heading = [h("h1", {}, "Dead letters")];
  replace(ctx.main, heading, section("Queues", list), selected ? section(`Queue ${selected}`, detail) : null);

  const load = async () => {
    let dlqs;
    let peek = null;
    try {
      [dlqs, peek] = await Promise.all([
        api("ops/dead-letters", { signal: ctx.signal }),
        selected ? api(`ops/dead-letters/${encodeURIComponent(selected)}`, { signal: ctx.signal }) : null,
      ]);
    } catch (error) {
      if (!ctx.active() || error.name === "AbortError" || error.name === "Unauthorized") return;
      replace(selected ? detail : list, failure(error, load));
      return;
    }
    if (!ctx.active()) return;
    replace(list, queues(ctx, dlqs.items, selected));
    if (!selected) return;
    const queue = dlqs.items.find((q) => q.queue === selected);
    const redrive = h("button", { type: "button" }, "Redrive all");
    redrive.addEventListener("click", async () => {
      const target = queue && queue.source ? queue.source : "the queue it failed in";
      if (!window.confirm(`Move every message of ${selected} back to ${target}?`)) return;
      redrive.disabled = true;
      try {
        const task = await api(`ops/dead-letters/${encodeURIComponent(selected)}/redrive`, {
          method: "POST",
          signal: ctx.signal,
        });
        ctx.flash(`Redrive ${task.status}: ${task.moved ?? 0} of ${task.toMove ?? 0} messages moved back.`);
        await load();
      } catch (error) {
        if (!ctx.active() || error.name === "AbortError" || error.name === "Unauthorized") return;
        redrive.disabled = false;
        ctx.flash(`Could not redrive ${selected}: ${error.message}`, "error");
      }
    });
    replace(
      detail,
      h("p", {}, `Depth ${queue ? queue.depth : "?"}; showing up to 100 messages (they stay in the queue).`),
      h("div", { class: "actions" }, peek.items.length ? redrive : null, h("button", { type: "button", class: "quiet", onclick: () => load() }, "Refresh")),
      messages(ctx, selected, peek.items, load),
    );
  };
  await load();
}
