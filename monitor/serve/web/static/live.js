// The running lot on the lots page, refreshed every 5 s while the page is visible.
// The server renders /live (escaped HTML); this copies its #live-fragment into the page.
(function () {
  "use strict";
  var box = document.getElementById("live-body");
  if (!box) { return; }
  function refresh() {
    if (document.hidden) { return; }
    fetch("/live", { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var part = doc.getElementById("live-fragment");
        if (part) { box.replaceChildren(document.importNode(part, true)); }
      })
      .catch(function () { /* the next tick tries again */ });
  }
  refresh();
  setInterval(refresh, 5000);
})();
