// Countdowns: each .countdown[data-due] shows the time left, amber under 15 min, red when
// overdue; a page with data-refresh reloads itself after that many seconds.
"use strict";
(function () {
  function text(seconds) {
    var sign = seconds < 0 ? "超时 " : "";
    var s = Math.abs(Math.trunc(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return h ? sign + h + "h" + String(m).padStart(2, "0") + "m" : sign + m + "m" + String(r).padStart(2, "0") + "s";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var left = (Date.parse(el.dataset.due) - now) / 1000;
      el.textContent = text(left);
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 900);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    var refresh = Number(document.body.dataset.refresh || 0);
    if (refresh > 0) { setTimeout(function () { location.reload(); }, refresh * 1000); }
  });
})();
