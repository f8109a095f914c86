// Live logs over Server-Sent Events. The server sends lines in batches ("lines" events, a JSON
// array each). The browser keeps at most data-max lines: older ones are dropped from the page
// (and from the queue when lines arrive faster than they are drawn), so a 100,000-line log
// never makes the tab slow. Lines are drawn at most once per frame; off-screen lines are not
// laid out (content-visibility in the stylesheet).
(function () {
  var log = document.getElementById("log");
  if (!log || !window.EventSource) return;
  var max = parseInt(log.dataset.max, 10) || 5000;
  var perFrame = 500;
  var status = document.getElementById("logstatus");
  var ts = document.getElementById("timestamps");
  var keep = document.getElementById("autoscroll");
  var queue = [], received = 0, dropped = 0, scheduled = false, ended = false;

  ts.addEventListener("change", function () { log.classList.toggle("ts", ts.checked); });
  log.addEventListener("scroll", function () {
    // Scrolling up to read stops keeping to the bottom; scrolling back down resumes it.
    keep.checked = log.scrollTop + log.clientHeight >= log.scrollHeight - 30;
  });

  function say(text) { status.textContent = text; }
  function line(l) {
    var div = document.createElement("div");
    div.className = "l" + (l.note ? " n" : "");
    if (l.time) {
      var t = document.createElement("time");
      t.dateTime = l.time; t.textContent = l.time.replace("T", " ").replace(/\.\d+Z$/, "Z");
      div.appendChild(t);
    }
    var src = l.task ? l.task + " : " + l.step : (l.pod ? l.pod + "/" + l.container : "");
    if (src) {
      var s = document.createElement("span");
      s.className = "src"; s.textContent = "[" + src + "]";
      div.appendChild(s);
    }
    div.appendChild(document.createTextNode(l.line));
    return div;
  }
  function draw() {
    scheduled = false;
    // At most perFrame lines a frame: the page keeps answering clicks while a burst is drawn.
    var batch = queue.splice(0, perFrame);
    var frag = document.createDocumentFragment();
    for (var i = 0; i < batch.length; i++) frag.appendChild(line(batch[i]));
    log.appendChild(frag);
    var extra = log.childElementCount - max;
    if (extra > 0) {
      var range = document.createRange();
      range.setStartBefore(log.firstElementChild);
      range.setEndAfter(log.children[extra - 1]);
      range.deleteContents();
    }
    if (queue.length) schedule();
    dropped = Math.max(0, received - log.childElementCount + (ended ? 1 : 0));
    if (keep.checked) log.scrollTop = log.scrollHeight;
    log.dataset.lines = String(received);
    log.dataset.dropped = String(dropped);
    var shown = received + " lines" + (dropped ? " (oldest " + dropped + " not shown: download for all)" : "");
    if (!ended) say(shown);
    else if (!queue.length) { say(endText + " · " + shown); log.dataset.ended = endClass; }
  }
  function schedule() {
    if (!scheduled) { scheduled = true; requestAnimationFrame(draw); }
  }

  var es = new EventSource(log.dataset.stream);
  es.addEventListener("open", function () { if (!received) say("connected, waiting for lines…"); });
  es.addEventListener("lines", function (ev) {
    var lines = JSON.parse(ev.data);
    received += lines.length;
    queue = queue.length + lines.length > max ? queue.concat(lines).slice(-max) : queue.concat(lines);
    schedule();
  });
  // The end is announced (status, data-ended) once every line before it is drawn.
  var endText = "", endClass = "";
  function finish(text, cls) {
    ended = true; es.close();
    endText = text; endClass = cls;
    queue.push({ line: text, note: true });
    schedule();
  }
  es.addEventListener("end", function (ev) { finish(JSON.parse(ev.data).message, "end"); });
  es.addEventListener("error", function (ev) {
    if (ev.data) { finish("error: " + JSON.parse(ev.data).message, "error"); return; }
    if (!ended) say("connection lost, reconnecting…"); // EventSource retries with Last-Event-ID
  });
})();
