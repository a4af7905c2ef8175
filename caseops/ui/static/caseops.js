// caseops progressive enhancement. Served locally so pages work offline and under a
// Content-Security-Policy without 'unsafe-inline': no inline scripts, no CDN.
"use strict";

// --- the "updated" notice on a client's record ------------------------------------------
//
// The page is rendered once (one logged view) with the fingerprint of what this worker's
// view shows. Here the script asks the server for that fingerprint again every
// data-poll-seconds. When it changes, a notice offers a reload; nothing reloads by itself.
// Polls happen only while the tab is visible and the user was recently active, so an
// unattended screen neither keeps its session alive nor fills the access log.
const ACTIVE_WINDOW_MS = 2 * 60 * 1000;

function watchRecord(root) {
  const url = root.dataset.fingerprintUrl;
  const notice = root.querySelector("[data-updated-notice]");
  const seconds = Number(root.dataset.pollSeconds) > 0 ? Number(root.dataset.pollSeconds) : 20;
  // The page carries the fingerprint of the view it shows, so a change made between the
  // render and the first poll is noticed too.
  let baseline = root.dataset.fingerprint || null;
  let busy = false;
  let stopped = false;
  let lastActivity = Date.now();
  let timer = null;

  const stop = () => {
    stopped = true;
    if (timer !== null) window.clearInterval(timer);
  };

  const showNotice = () => {
    const reload = document.createElement("a");
    reload.href = window.location.href.split("#")[0];
    reload.textContent = "reload to see the changes";
    notice.replaceChildren(
      document.createTextNode("This client's record was updated — "),
      reload,
      document.createTextNode("."),
    );
    notice.classList.add("visible");
  };

  const check = async () => {
    if (stopped || busy || document.hidden) return;
    if (Date.now() - lastActivity > ACTIVE_WINDOW_MS) return;
    busy = true;
    try {
      const response = await fetch(url, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) {
        // Signed out, access changed or the client is gone: stop asking.
        if ([401, 403, 404].includes(response.status)) stop();
        return;
      }
      const { fingerprint } = await response.json();
      if (baseline === null) baseline = fingerprint;
      if (fingerprint !== baseline) {
        root.dataset.watch = "updated";
        showNotice();
        stop();
      } else {
        root.dataset.watch = "ready";
      }
    } catch (_networkError) {
      // Offline for a moment: the next poll tries again.
    } finally {
      busy = false;
    }
  };

  const active = () => {
    const wasIdle = Date.now() - lastActivity > ACTIVE_WINDOW_MS;
    lastActivity = Date.now();
    if (wasIdle) check();
  };
  ["pointerdown", "pointermove", "keydown", "scroll", "focus"].forEach((type) =>
    window.addEventListener(type, active, { passive: true }),
  );
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      lastActivity = Date.now();
      check();
    }
  });

  check();
  timer = window.setInterval(check, seconds * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  // Forms that ask for confirmation carry data-confirm="question".
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });

  document.querySelectorAll("[data-record-watch]").forEach(watchRecord);

  document.querySelectorAll("[data-print]").forEach((button) => {
    button.addEventListener("click", () => window.print());
  });
});
