(function () {
  "use strict";
  var ranks = { none: 0, low: 1, medium: 2, high: 3, critical: 4 };
  var items = Array.prototype.slice.call(document.querySelectorAll("#timeline > li"));
  var risk = document.getElementById("f-risk");
  var verdict = document.getElementById("f-verdict");
  var tool = document.getElementById("f-tool");
  var events = document.getElementById("f-events");
  var text = document.getElementById("f-text");
  var count = document.getElementById("f-count");
  function apply() {
    var min = Number(risk.value), v = verdict.value, t = tool.value;
    var q = text.value.toLowerCase(), shown = 0;
    items.forEach(function (li) {
      var call = li.dataset.kind === "call";
      var ok = call ? (ranks[li.dataset.risk] || 0) >= min && (!v || li.dataset.verdict === v) &&
        (!t || li.dataset.tool === t) : events.checked && !min && !v && !t;
      if (ok && q) { ok = li.textContent.toLowerCase().indexOf(q) >= 0; }
      li.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " shown";
  }
  [risk, verdict, tool, events].forEach(function (el) { el.addEventListener("change", apply); });
  text.addEventListener("input", apply);
  document.getElementById("filters").addEventListener("submit", function (e) { e.preventDefault(); });
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
  apply();
})();
