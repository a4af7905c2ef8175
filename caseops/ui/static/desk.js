// The worker's desk, live: notifications arrive on the page while it is open.
//
// Progressive enhancement only: without this script the home page lists the newest
// notifications as rendered. With it, the page opens the caller's event stream
// (GET /api/v1/me/events, Server-Sent Events) and, where EventSource is missing or the
// stream cannot be held, asks GET /api/v1/me/notifications?after=<last id> every
// POLL_MS instead. Events carry ids and kinds only; for a referral the script then asks
// the referral API (through the decision, logged as every look is) for what the row
// shows. Nothing reloads by itself.
"use strict";

const POLL_MS = 10000;
const MAX_SHOWN = 20;

function desk(root) {
  const list = root.querySelector("[data-notification-list]");
  const zone = root.dataset.timeZone || undefined;
  let agencies = {};
  try {
    agencies = JSON.parse(root.dataset.agencyNames || "{}");
  } catch (_notJson) {
    agencies = {};
  }
  let lastId = Number(root.dataset.lastId) || 0;
  let pollTimer = null;

  const url = (template, key, value) => template.replace(key, encodeURIComponent(value));
  const clientName = (clientId) => {
    const row = document.querySelector(`[data-testid="caseload-client"][data-client="${CSS.escape(clientId)}"] a`);
    return row ? row.textContent.trim() : null;
  };
  const clock = (iso) => {
    const at = new Date(iso);
    if (Number.isNaN(at.getTime())) return iso;
    try {
      return new Intl.DateTimeFormat("en-CA", {
        timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", hour12: false, timeZoneName: "short",
      }).format(at).replace(",", "");
    } catch (_badZone) {
      return at.toISOString();
    }
  };

  const link = (href, text) => {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  };

  const describe = (event) => {
    const data = event.data || {};
    const name = data.client_id ? clientName(data.client_id) : null;
    switch (event.kind) {
      case "referral.requested":
        return link(url(root.dataset.referralUrl, "REFERRAL_ID", data.referral_id),
          name ? `New referral for ${name}` : "New referral");
      case "referral.status_changed":
        return link(url(root.dataset.referralUrl, "REFERRAL_ID", data.referral_id),
          data.status ? `A referral is now ${data.status.replace(/[-_]/g, " ")}` : "A referral changed");
      case "task.assigned":
        return link(url(root.dataset.clientUrl, "CLIENT_ID", data.client_id),
          name ? `A task was assigned to you for ${name}` : "A task was assigned to you");
      case "client.updated":
        markChanged(data.client_id);
        return link(url(root.dataset.clientUrl, "CLIENT_ID", data.client_id),
          `${name || "A client"}'s record changed`);
      case "consent.revoked":
        return document.createTextNode("A consent naming your agency was revoked");
      default:
        return document.createTextNode(event.kind);
    }
  };

  const markChanged = (clientId) => {
    const row = document.querySelector(`[data-testid="caseload-client"][data-client="${CSS.escape(clientId || "")}"]`);
    if (!row || row.querySelector("[data-testid=changed]")) return;
    const badge = document.createElement("span");
    badge.className = "badge badge-changed";
    badge.dataset.testid = "changed";
    badge.textContent = "Changed";
    row.cells[3].replaceChildren(badge);
  };

  // A referral addressed to us: ask the API (logged) and add or refresh its row.
  const showReferral = async (referralId) => {
    const table = document.querySelector("[data-incoming-table]");
    if (!table || !referralId) return;
    try {
      const response = await fetch(url(root.dataset.referralApi, "REFERRAL_ID", referralId), {
        credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      });
      if (!response.ok) return;
      const r = await response.json();
      if (r.side !== "recipient") return;
      const open = ["requested", "accepted", "in-progress", "on-hold", "open"].includes(r.status);
      const existing = table.querySelector(`[data-referral="${CSS.escape(r.id)}"]`);
      if (!open) {
        if (existing) existing.remove();
        return;
      }
      const row = document.createElement("tr");
      row.dataset.testid = "incoming-referral";
      row.dataset.referral = r.id;
      const cells = [
        clock(r.created_at),
        null,
        agencies[r.from_agency] || r.from_agency.toUpperCase(),
        r.urgency === "urgent" ? "Urgent" : "Routine",
        r.status.replace(/[-_]/g, " "),
      ];
      cells.forEach((text, index) => {
        const cell = document.createElement("td");
        if (index === 1) {
          const name = clientName(r.client_id);
          cell.append(link(url(root.dataset.referralUrl, "REFERRAL_ID", r.id),
            name ? `${r.service.display} for ${name}` : r.service.display));
        } else {
          cell.textContent = text;
        }
        row.append(cell);
      });
      if (existing) existing.replaceWith(row);
      else table.tBodies[0].prepend(row);
      table.hidden = false;
      const empty = document.querySelector("[data-incoming-empty]");
      if (empty) empty.remove();
    } catch (_networkError) {
      // The notification is listed; the row comes with the next reload.
    }
  };

  const add = (event) => {
    if (!event || typeof event.id !== "number" || event.id <= lastId) return;
    lastId = event.id;
    const item = document.createElement("li");
    item.dataset.testid = "notification";
    item.dataset.kind = event.kind;
    item.dataset.id = String(event.id);
    const when = document.createElement("span");
    when.className = "sub";
    when.textContent = ` ${clock(event.created_at)}`;
    item.append(describe(event), when);
    list.prepend(item);
    while (list.children.length > MAX_SHOWN) list.lastElementChild.remove();
    const empty = root.querySelector("[data-notifications-empty]");
    if (empty) empty.remove();
    if (event.kind === "referral.requested" || event.kind === "referral.status_changed") {
      showReferral((event.data || {}).referral_id);
    }
  };

  const poll = async () => {
    try {
      const response = await fetch(`${root.dataset.notificationsUrl}?after=${lastId}`, {
        credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      });
      if (response.ok) (await response.json()).forEach(add);
      else if ([401, 403].includes(response.status)) return; // signed out: stop asking
    } catch (_networkError) {
      // offline for a moment: try again
    }
    pollTimer = window.setTimeout(poll, POLL_MS);
  };

  const startPolling = () => {
    root.dataset.live = "polling";
    if (pollTimer === null) pollTimer = window.setTimeout(poll, 0);
  };

  if (!("EventSource" in window)) {
    startPolling();
    return;
  }
  let failures = 0;
  const stream = new EventSource(`${root.dataset.eventsUrl}?after=${lastId}`);
  stream.onopen = () => {
    failures = 0;
    root.dataset.live = "stream";
  };
  stream.onmessage = (message) => {
    try {
      add(JSON.parse(message.data));
    } catch (_notJson) {
      // a heartbeat or something this page does not know: ignore
    }
  };
  stream.onerror = () => {
    // EventSource reconnects by itself (with Last-Event-ID); after repeated failures
    // (the server refused a stream slot, a proxy buffers) fall back to polling.
    failures += 1;
    if (failures >= 3 || stream.readyState === EventSource.CLOSED) {
      stream.close();
      startPolling();
    }
  };
}

document.querySelectorAll("[data-notifications]").forEach(desk);
