/* inmail-guard console: charts (Chart.js, bundled), the Traffic page's live refresh, and the
   Playground's example picker. Everything else works without JavaScript. */
(function () {
  "use strict";
  var PALETTE = ["#0b5cad", "#a4161a", "#2f6f3e", "#b35c00", "#6a3d9a", "#00796b", "#5d4037",
                 "#c2185b", "#455a64", "#827717"];
  var OUTCOME_COLOURS = {accepted: "#2f6f3e", rejected: "#a4161a"};

  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  /* pairs: [[name, values], ...] in the order to draw them */
  function datasets(pairs, colours, stack) {
    return pairs.map(function (pair, i) {
      var colour = (colours && colours[pair[0]]) || PALETTE[i % PALETTE.length];
      return {label: pair[0], data: pair[1], backgroundColor: colour, borderColor: colour,
              stack: stack};
    });
  }

  function barChart(id, labels, sets, stacked, yOptions) {
    var canvas = document.getElementById(id);
    if (!canvas || typeof Chart === "undefined") { return null; }
    return new Chart(canvas, {
      type: "bar",
      data: {labels: labels, datasets: sets},
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: {x: {stacked: stacked}, y: Object.assign({stacked: stacked, beginAtZero: true}, yOptions || {})},
        plugins: {legend: {position: "bottom"}}
      }
    });
  }

  /* Traffic */
  var traffic = data("traffic-data");
  if (traffic) {
    var s = traffic.series;
    var outcomes = barChart("chart-outcomes", s.minutes, datasets(s.outcomes, OUTCOME_COLOURS, "o"), true, {ticks: {precision: 0}});
    var codes = barChart("chart-codes", s.minutes, datasets(s.codes, null, "c"), true, {ticks: {precision: 0}});
    var live = document.getElementById("live");
    var refresh = function () {
      if (!live || !live.checked) { return; }
      fetch("traffic.json" + window.location.search, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (d) {
          [[outcomes, d.series.outcomes, OUTCOME_COLOURS, "o"], [codes, d.series.codes, null, "c"]].forEach(function (c) {
            if (!c[0]) { return; }
            c[0].data.labels = d.series.minutes;
            c[0].data.datasets = datasets(c[1], c[2], c[3]);
            c[0].update();
          });
          updateLatest(d.rows);
        })
        .catch(function () { /* keep the last good view */ });
    };
    window.setInterval(refresh, 5000);
  }

  function updateLatest(rows) {
    var body = document.querySelector("#latest tbody");
    if (!body) { return; }
    body.textContent = "";
    if (!rows.length) {
      var tr0 = body.insertRow(); var td0 = tr0.insertCell(); td0.colSpan = 7; td0.textContent = "No decisions yet.";
      return;
    }
    rows.forEach(function (r) {
      var tr = body.insertRow();
      tr.insertCell().textContent = r.seen_at.replace("T", " ").slice(0, 19) + " UTC";
      var b = document.createElement("span"); b.className = "badge badge-" + r.outcome; b.textContent = r.outcome;
      tr.insertCell().appendChild(b);
      var codesCell = tr.insertCell();
      r.codes.forEach(function (c) { var e = document.createElement("code"); e.className = "code"; e.textContent = c; codesCell.appendChild(e); codesCell.appendChild(document.createTextNode(" ")); });
      r.shadow.forEach(function (c) { var e = document.createElement("code"); e.className = "code shadow"; e.textContent = c + " (shadow)"; codesCell.appendChild(e); codesCell.appendChild(document.createTextNode(" ")); });
      var sc = tr.insertCell(); sc.className = "num"; sc.textContent = r.score;
      tr.insertCell().textContent = r.sender_id + " → " + r.recipient_id;
      var ln = tr.insertCell(); ln.className = "num"; ln.textContent = r.subject_len + " / " + r.body_len;
      var a = document.createElement("a"); a.href = "traffic/" + encodeURIComponent(r.decision_id); a.textContent = r.decision_id.slice(0, 12) + "…";
      tr.insertCell().appendChild(a);
    });
  }

  /* Campaign analytics */
  var analytics = data("analytics-data");
  if (analytics) {
    var rates = analytics.rates.map(function (pair) {
      return [pair[0], pair[1].map(function (v) { return Math.round(v * 1000) / 10; })];
    });
    barChart("chart-rates", analytics.labels, datasets(rates, null, undefined), false,
             {max: 100, title: {display: true, text: "% of delivered"}});
    barChart("chart-sent", analytics.labels, datasets([["sent", analytics.sent]], null, undefined), false, {ticks: {precision: 0}});
  }

  /* Playground: choosing an example loads it (the link works without JavaScript too) */
  var example = document.getElementById("example");
  var load = document.getElementById("load-example");
  if (example && load) {
    example.addEventListener("change", function () {
      load.href = example.getAttribute("data-example-base") + encodeURIComponent(example.value);
    });
  }
})();
