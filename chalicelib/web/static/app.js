// Cronpilot dashboard: local times, countdowns and live refresh. No framework, no build step.
(function () {
  "use strict";
  var REFRESH_MS = 5000;
  var fmt = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit"
  });

  // Times arrive in UTC; show them in the browser's zone and keep UTC on hover.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) { el.textContent = fmt.format(d); }
    });
  }

  function spell(seconds) {
    var s = Math.abs(Math.round(seconds));
    var text = s < 60 ? s + " s" : s < 3600 ? Math.floor(s / 60) + " min " + (s % 60) + " s"
      : s < 86400 ? Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min"
      : Math.floor(s / 86400) + " d";
    return seconds < 0 ? "due " + text + " ago" : "in " + text;
  }

  function countdowns() {
    var now = Date.now();
    document.querySelectorAll("[data-until]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("data-until"));
      if (!isNaN(at)) { el.textContent = spell((at - now) / 1000); }
    });
  }

  // Swap the page's live region for a fresh copy from the server, unless the reader is
  // busy in it (focus inside) or the tab is hidden.
  function refresh() {
    var region = document.querySelector("[data-live]");
    if (!region || document.hidden || region.contains(document.activeElement)) { return; }
    fetch(window.location.href, {
      headers: { "X-Cronpilot-Partial": "live" },
      credentials: "same-origin"
    }).then(function (response) {
      if (response.status === 401) { window.location.reload(); return null; }
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (html === null || html === undefined) { return; }
      region.innerHTML = html;
      localTimes(region);
      countdowns();
    }).catch(function () { /* offline for a moment: try again next tick */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    countdowns();
    setInterval(countdowns, 1000);
    if (document.querySelector("[data-live]")) { setInterval(refresh, REFRESH_MS); }
  });
})();
