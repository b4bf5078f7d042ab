// Fairway dashboard: reload the page every data-refresh seconds, except
// while the user is typing in a form; ask before destructive actions.
(function () {
  "use strict";
  var secs = parseInt(document.body.dataset.refresh, 10);
  var busy = false;
  document.addEventListener("focusin", function (e) { if (e.target.tagName === "INPUT") busy = true; });
  document.addEventListener("focusout", function () { busy = false; });
  if (secs > 0) {
    setInterval(function () { if (!busy && !document.hidden) location.replace(location.pathname + location.search.replace(/([?&])msg=[^&]*&?/, "$1").replace(/[?&]$/, "")); }, secs * 1000);
  }
  document.addEventListener("click", function (e) {
    var msg = e.target.dataset && e.target.dataset.confirm;
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
})();
