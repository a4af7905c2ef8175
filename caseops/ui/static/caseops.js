// caseops progressive enhancement. Served locally so pages work offline and under a
// Content-Security-Policy without 'unsafe-inline': no inline scripts, no CDN.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Forms that ask for confirmation carry data-confirm="question".
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });
});
