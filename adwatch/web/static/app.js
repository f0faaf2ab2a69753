// adwatch: the only script of the pages (CSP: script-src 'self'). It never reads ad text
// into HTML: it only toggles classes on elements the server rendered.
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.reveal");
  if (!button) return;
  const target = document.getElementById(button.dataset.target || "");
  if (target) {
    target.classList.remove("blurred");
    button.remove();
  }
});

// The facet counts of a search come in a second request (on a wide search they take longer
// than the hits): the server renders them, escaped, as a fragment of this same site.
document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll("[data-src]")) {
    fetch(box.dataset.src, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then((answer) => answer.ok ? answer.text() : Promise.reject(answer.status))
      .then((html) => {
        const fragment = new DOMParser().parseFromString(html, "text/html");
        box.replaceChildren(...fragment.body.childNodes);
        box.setAttribute("aria-busy", "false");
      })
      .catch(() => { /* the link to the counts stays */ });
  }
});
