// Auto-refresh of the environment list (progressive enhancement: the page works without it).
// The page is fetched again with the same filters and only the list is replaced, unless the
// tab is hidden or the reader is keyboard-focused inside the list.
(function () {
  var box = document.getElementById("environments");
  if (!box || !window.fetch || !window.DOMParser) return;
  var seconds = parseInt(box.dataset.refresh, 10);
  if (!(seconds > 0)) return;
  function refresh() {
    if (document.hidden || box.contains(document.activeElement)) return;
    fetch("/?" + (box.dataset.query || ""), { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("environments");
        if (fresh) box.replaceChildren.apply(box, Array.prototype.slice.call(fresh.childNodes));
      })
      .catch(function () {});
  }
  setInterval(refresh, seconds * 1000);
})();
