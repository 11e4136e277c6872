// artbandit serve dashboard: polls /dashboard/api/* and draws on <canvas>. No libraries, nothing
// from another origin. Every string from the service goes through textContent (never innerHTML).
"use strict";
(function () {
  var POLL_MS = Number(new URLSearchParams(location.search).get("poll")) || 2000;
  var updates = 0;

  function api(path) {
    return fetch(path, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) { location.assign("/dashboard/login"); throw new Error("session ended"); }
        if (!r.ok) { throw new Error(path + ": HTTP " + r.status); }
        return r.json();
      });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function fmtNum(x, digits) {
    if (x === null || x === undefined || !isFinite(x)) { return "–"; }
    return Number(x).toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 3 : digits });
  }
  function fmtPct(x) { return (x === null || x === undefined) ? "–" : (100 * x).toFixed(1) + "%"; }
  function fmtAge(s) {
    if (s === null || s === undefined) { return "–"; }
    if (s < 90) { return Math.round(s) + " s"; }
    if (s < 5400) { return Math.round(s / 60) + " min"; }
    return (s / 3600).toFixed(1) + " h";
  }
  function localTime(t, seconds) {  // the viewer's own time zone
    var o = { hour: "2-digit", minute: "2-digit" };
    if (seconds) { o.second = "2-digit"; }
    return new Date(t * 1000).toLocaleTimeString([], o);
  }

  function niceStep(span, n) {
    var raw = span / Math.max(n, 1), mag = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  }

  // series: [{label, colour, dash, points: [{t, y, lo, hi}]}]; markers: [t]
  function chart(canvas, series, markers, yLabel) {
    var dpr = window.devicePixelRatio || 1, W = canvas.width, H = canvas.height;
    if (!canvas.dataset.w) { canvas.dataset.w = W; canvas.dataset.h = H; }
    W = Number(canvas.dataset.w); H = Number(canvas.dataset.h);
    canvas.width = W * dpr; canvas.height = H * dpr;
    var g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    var L = 58, R = 12, T = 10, B = 30, pw = W - L - R, ph = H - T - B;
    var ts = [], ys = [], npoints = 0;
    series.forEach(function (s) {
      s.points.forEach(function (p) {
        ts.push(p.t); npoints++;
        [p.y, p.lo, p.hi].forEach(function (v) { if (v !== null && v !== undefined && isFinite(v)) { ys.push(v); } });
      });
    });
    canvas.dataset.points = String(npoints);
    g.font = "12px system-ui, sans-serif"; g.fillStyle = "#555"; g.strokeStyle = "#ccc";
    if (!ts.length) {
      g.fillText("no data yet: waiting for traffic", L + 10, T + ph / 2);
      return;
    }
    var t0 = Math.min.apply(null, ts), t1 = Math.max.apply(null, ts);
    if (t1 - t0 < 300) { t0 = t1 - 300; }
    var y0 = Math.min(0, Math.min.apply(null, ys)), y1 = Math.max.apply(null, ys);
    if (y1 <= y0) { y1 = y0 + 1; }
    var ystep = niceStep(y1 - y0, 5);
    y1 = Math.ceil(y1 / ystep) * ystep;
    function X(t) { return L + (t - t0) / (t1 - t0) * pw; }
    function Y(v) { return T + ph - (v - y0) / (y1 - y0) * ph; }
    // grid and ticks
    g.lineWidth = 1; g.textAlign = "right"; g.textBaseline = "middle";
    for (var v = y0; v <= y1 + ystep / 2; v += ystep) {
      g.strokeStyle = "#e5e5e5"; g.beginPath(); g.moveTo(L, Y(v)); g.lineTo(L + pw, Y(v)); g.stroke();
      g.fillText(fmtNum(v, ystep < 0.01 ? 4 : ystep < 1 ? 2 : 0), L - 6, Y(v));
    }
    var steps = [60, 120, 300, 600, 900, 1800, 3600, 7200, 21600], tstep = steps[steps.length - 1];
    for (var i = 0; i < steps.length; i++) { if ((t1 - t0) / steps[i] <= 6) { tstep = steps[i]; break; } }
    g.textAlign = "center"; g.textBaseline = "top";
    for (var t = Math.ceil(t0 / tstep) * tstep; t <= t1; t += tstep) {
      g.strokeStyle = "#e5e5e5"; g.beginPath(); g.moveTo(X(t), T); g.lineTo(X(t), T + ph); g.stroke();
      g.fillText(localTime(t), X(t), T + ph + 6);
    }
    g.strokeStyle = "#888"; g.beginPath(); g.moveTo(L, T); g.lineTo(L, T + ph); g.lineTo(L + pw, T + ph); g.stroke();
    if (yLabel) {
      g.save(); g.translate(12, T + ph / 2); g.rotate(-Math.PI / 2); g.textAlign = "center"; g.fillText(yLabel, 0, 0); g.restore();
    }
    // drift detections
    (markers || []).forEach(function (m) {
      if (m < t0 || m > t1 + 60) { return; }
      g.strokeStyle = "#B2182B"; g.setLineDash([3, 3]); g.beginPath(); g.moveTo(X(m), T); g.lineTo(X(m), T + ph); g.stroke();
      g.setLineDash([]);
    });
    series.forEach(function (s) {
      var pts = s.points.filter(function (p) { return p.y !== null && p.y !== undefined; });
      var band = pts.filter(function (p) { return p.lo !== null && p.lo !== undefined; });
      if (band.length > 1) {  // the 95% interval as a band
        g.globalAlpha = 0.15; g.fillStyle = s.colour; g.beginPath();
        band.forEach(function (p, k) { if (k === 0) { g.moveTo(X(p.t), Y(p.hi)); } else { g.lineTo(X(p.t), Y(p.hi)); } });
        for (var k = band.length - 1; k >= 0; k--) { g.lineTo(X(band[k].t), Y(band[k].lo)); }
        g.closePath(); g.fill(); g.globalAlpha = 1;
      }
      g.strokeStyle = s.colour; g.lineWidth = s.width || 1.8; g.setLineDash(s.dash || []);
      g.beginPath();
      pts.forEach(function (p, k) { if (k === 0) { g.moveTo(X(p.t), Y(p.y)); } else { g.lineTo(X(p.t), Y(p.y)); } });
      g.stroke(); g.setLineDash([]);
      g.fillStyle = s.colour;
      if (pts.length === 1) { g.beginPath(); g.arc(X(pts[0].t), Y(pts[0].y), 3, 0, 2 * Math.PI); g.fill(); }
    });
  }

  function legend(ul, series, markers) {
    clear(ul);
    series.forEach(function (s) {
      var li = el("li"), sw = el("span", "sw");
      sw.style.background = s.colour;
      li.appendChild(sw); li.appendChild(document.createTextNode(s.label)); ul.appendChild(li);
    });
    if (markers) {
      var li = el("li"), sw = el("span", "sw"); sw.style.background = "#B2182B";
      li.appendChild(sw); li.appendChild(document.createTextNode("drift detected (" + markers + ")")); ul.appendChild(li);
    }
  }

  function tile(parent, k, v) {
    var d = el("div", "tile"); d.appendChild(el("div", "k", k)); var val = el("div", "v", v); d.appendChild(val);
    parent.appendChild(d); return val;
  }

  function stamp(d) {
    updates++;
    document.body.dataset.updates = String(updates);
    var u = document.getElementById("updated");
    if (u) { u.textContent = "Updated " + localTime(d.now || Date.now() / 1000, true) + " (your local time), every " + POLL_MS / 1000 + " s"; }
  }

  function est(m, key) { var e = m[key]; return { t: m.t + 30, y: e ? e.mean : null, lo: e ? e.lo : null, hi: e ? e.hi : null }; }

  function overview() {
    api("/dashboard/api/overview").then(function (d) {
      var tiles = document.getElementById("tiles"); clear(tiles);
      var last = d.minutes.length ? d.minutes[d.minutes.length - 1] : null;
      tile(tiles, "policy", d.policy);
      tile(tiles, "model version", d.modelVersion);
      tile(tiles, "model age", fmtAge(d.modelAgeS));
      tile(tiles, "mode", d.learningMode);
      tile(tiles, "pending events", fmtNum(d.eventsPending, 0));
      tile(tiles, "oldest pending", fmtAge(d.oldestPendingS));
      tile(tiles, "events learned", fmtNum(d.eventsLearned, 0));
      tile(tiles, "decisions this minute", last ? fmtNum(last.decisions, 0) : "0");
      tile(tiles, "drift detections", fmtNum(d.drift.length, 0));
      if (d.modelError) { tile(tiles, "model", d.modelError).classList.add("flag"); }
      var c = d.colours;
      var rewardSeries = [
        { label: "live policy (" + d.policy + ")", colour: c.live, points: d.minutes.map(function (m) { return est(m, "live"); }) },
        { label: "baseline action (estimated)", colour: c.baseline, dash: [6, 4], points: d.minutes.map(function (m) { return est(m, "baseline"); }) },
        { label: "uniform choice (estimated)", colour: c.uniform, dash: [2, 3], points: d.minutes.map(function (m) { return est(m, "uniform"); }) }
      ];
      var drift = d.drift.map(function (x) { return x.t; });
      chart(document.getElementById("reward"), rewardSeries, drift, "mean reward");
      legend(document.getElementById("reward-legend"), rewardSeries, drift.length);
      var trafficSeries = [
        { label: "decisions / min", colour: c.live, points: d.minutes.map(function (m) { return { t: m.t + 30, y: m.decisions }; }) },
        { label: "rewards / min", colour: "#E69F00", points: d.minutes.map(function (m) { return { t: m.t + 30, y: m.rewards }; }) }
      ];
      chart(document.getElementById("traffic"), trafficSeries, drift, "per minute");
      legend(document.getElementById("traffic-legend"), trafficSeries, 0);
      stamp(d);
    }).catch(report);
  }

  function imageUrl(title, variant) {
    return "/dashboard/image?title=" + encodeURIComponent(title) + "&variant=" + encodeURIComponent(variant);
  }

  function titles() {
    api("/dashboard/api/titles").then(function (d) {
      var ul = document.getElementById("titles"); clear(ul);
      document.getElementById("note").textContent = d.catalogue ? d.titles.length + " titles" :
        "No catalogue: start the service with --catalog DIR (a folder written by `artbandit catalog build`).";
      d.titles.forEach(function (t) {
        var li = el("li"), a = el("a");
        a.href = "/dashboard/title?id=" + encodeURIComponent(t.id);
        var img = el("img"); img.alt = ""; img.src = imageUrl(t.id, t.cover); img.loading = "lazy";
        a.appendChild(img); a.appendChild(el("div", "id", t.title));
        li.appendChild(a);
        li.appendChild(el("div", "caption", t.variants + " variants, " + fmtNum(t.impressions, 0) + " impressions"));
        li.dataset.title = t.id;
        ul.appendChild(li);
      });
      stamp(d);
    }).catch(report);
  }

  function title() {
    var id = new URLSearchParams(location.search).get("id") || "";
    api("/dashboard/api/title?id=" + encodeURIComponent(id)).then(function (d) {
      document.getElementById("title-name").textContent = d.title + (d.title !== d.id ? " (" + d.id + ")" : "");
      document.title = "artbandit serve: " + d.title;
      var starved = d.variants.filter(function (v) { return v.starved; }).length;
      document.getElementById("title-note").textContent = fmtNum(d.impressions, 0) + " impressions. Probability: what " +
        d.policy + " gives each variant now for an empty context (what /rank answers). Starved: shown to less than " +
        fmtPct(d.floor) + " of the impressions it was eligible for, beyond sampling noise" +
        (starved ? " — " + starved + " starved." : " — none starved.");
      var box = document.getElementById("variants");
      var cards = {};
      Array.prototype.forEach.call(box.children, function (c) { cards[c.dataset.variant] = c; });
      d.variants.forEach(function (v) {
        var card = cards[v.id];
        if (!card) {
          card = el("div", "variant"); card.dataset.variant = v.id;
          if (v.image) { var img = el("img"); img.alt = "variant " + v.id; img.src = imageUrl(d.id, v.id); card.appendChild(img); }
          card.appendChild(el("div", "id", v.id));
          var bar = el("div", "bar"), fill = el("span"); fill.style.background = d.colours.live; bar.appendChild(fill);
          card.appendChild(bar);
          card.appendChild(el("table", "kv"));
          box.appendChild(card);
        }
        card.dataset.probability = String(v.probability);
        card.classList.toggle("starved", !!v.starved);
        card.querySelector(".bar span").style.width = (100 * v.probability).toFixed(1) + "%";
        var kv = card.querySelector("table"); clear(kv);
        [["probability", fmtPct(v.probability)], ["share of title's impressions", fmtPct(v.titleShare)],
         ["shown when eligible", fmtPct(v.share)], ["impressions", fmtNum(v.impressions, 0)],
         ["reward rate", v.rewardRate === null ? "–" : fmtNum(v.rewardRate, 3)],
         ["treatment", v.treatment || "–"]].forEach(function (row) {
          var tr = el("tr"); tr.appendChild(el("td", null, row[0])); tr.appendChild(el("td", null, row[1])); kv.appendChild(tr);
        });
        var flag = card.querySelector(".flag");
        if (v.starved && !flag) { card.appendChild(el("div", "flag", "starved")); }
        if (!v.starved && flag) { card.removeChild(flag); }
      });
      segments(d);
      stamp(d);
    }).catch(report);
  }

  function post(path, body) {
    return fetch(path, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Artbandit-Dashboard": "1" },
      body: body === undefined ? "" : JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (j) { return { status: r.status, body: j }; }); });
  }

  var seen = {};
  function evaluations() {
    api("/dashboard/api/evaluations").then(function (d) {
      var applied = document.getElementById("applied"); clear(applied);
      if (d.applied) {
        applied.appendChild(document.createTextNode("Serving " + d.applied.policy + " from evaluation " +
          d.applied.evaluation + " (model " + d.modelVersion + "). "));
        var rb = el("button", null, "Roll back to the previous model"); rb.id = "rollback";
        rb.addEventListener("click", function () {
          if (!window.confirm("Serve the previous model again?")) { return; }
          post("/dashboard/api/rollback").then(function (r) { evaluations(); if (r.status !== 200) { report(new Error(r.body.error.message)); } });
        });
        applied.appendChild(rb);
      } else {
        applied.textContent = "Serving model " + d.modelVersion + ".";
      }
      var box = document.getElementById("evals");
      var ids = d.evaluations.map(function (e) { return e.id; });
      Array.prototype.slice.call(box.children).forEach(function (c) { if (ids.indexOf(c.dataset.id) < 0) { box.removeChild(c); } });
      d.evaluations.forEach(function (e, i) {
        var sig = JSON.stringify(e), card = box.querySelector('[data-id="' + e.id + '"]');
        if (card && seen[e.id] === sig) { return; }
        seen[e.id] = sig;
        var fresh = renderEvaluation(e, d.colours);
        if (card) { box.replaceChild(fresh, card); } else { box.insertBefore(fresh, box.children[i] || null); }
      });
      stamp(d);
    }).catch(report);
  }

  function renderEvaluation(e, colours) {
    var card = el("div", "chart evaluation"); card.dataset.id = e.id; card.dataset.status = e.status;
    card.appendChild(el("h2", null, e.name));
    card.appendChild(el("div", "caption", "status: " + e.status + (e.status === "pending" ? " (" + fmtPct(e.progress) + ")" : "") +
      (e.events ? ", " + fmtNum(e.events, 0) + " events" : "") +
      (e.startTime || e.endTime ? " logged from " + (e.startTime ? new Date(e.startTime).toLocaleString() : "the start") +
        " to " + (e.endTime ? new Date(e.endTime).toLocaleString() : "now") : "") + ", created " + new Date(e.creationTime).toLocaleString()));
    if (e.status === "pending") {
      var bar = el("div", "bar"), fill = el("span"); fill.style.background = colours.live;
      fill.style.width = (100 * e.progress).toFixed(1) + "%"; bar.appendChild(fill); card.appendChild(bar);
    }
    if (e.error) { card.appendChild(el("p", "error", e.error)); }
    if (e.policyResults.length) {
      var t = el("table", "kv leaderboard"), head = el("tr");
      ["policy", "estimated reward (DR)", "95% interval"].forEach(function (h) { head.appendChild(el("th", null, h)); });
      t.appendChild(head);
      e.policyResults.slice().sort(function (a, b) { return (b.totalSummary.averageReward || 0) - (a.totalSummary.averageReward || 0); })
        .forEach(function (p) {
          var tr = el("tr"); tr.dataset.policy = p.name;
          tr.appendChild(el("td", p.name === e.optimalPolicy ? "winner" : null, p.name + (p.name === e.optimalPolicy ? " (winner)" : "")));
          tr.appendChild(el("td", null, fmtNum(p.totalSummary.averageReward, 4)));
          tr.appendChild(el("td", null, "[" + fmtNum(p.totalSummary.low, 4) + ", " + fmtNum(p.totalSummary.high, 4) + "]"));
          t.appendChild(tr);
        });
      card.appendChild(t);
    }
    if (e.decision && e.decision.recommendation) { card.appendChild(el("p", "caption", e.decision.recommendation)); }
    if (e.featureImportance.length && e.featureImportance[0].length) {
      card.appendChild(el("div", "caption", "Feature importance (most important first): " + e.featureImportance[0].join(", ")));
    }
    if (e.status === "completed" && e.optimalPolicy && e.optimalPolicy.indexOf("vw") === 0) {
      var b = el("button", "apply", "Apply " + e.optimalPolicy);
      b.addEventListener("click", function () {
        if (!window.confirm("Serve " + e.optimalPolicy + ", warm-started on the whole log? The current model is kept for rollback.")) { return; }
        b.disabled = true;
        post("/dashboard/api/evaluations/" + encodeURIComponent(e.id) + "/apply").then(function (r) {
          if (r.status !== 200) { report(new Error(r.body.error.message)); }
          evaluations();
        });
      });
      card.appendChild(b);
    }
    return card;
  }

  function setupEvaluations() {
    document.getElementById("new-eval").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = { name: document.getElementById("eval-name").value }, hours = document.getElementById("eval-hours").value.trim();
      if (hours !== "") { body.hours = isFinite(Number(hours)) ? Number(hours) : hours; }
      post("/dashboard/api/evaluations", body).then(function (r) {
        if (r.status !== 201) { report(new Error(r.body.error.message)); }
        evaluations();
      });
    });
    evaluations();
  }

  // the service settings as a form: built on the first load and after a save, never by the poll
  // (it would overwrite what is being typed); only changed fields are sent, the server checks them
  var loaded = null;
  function serviceForm(service, choices) {
    loaded = service;
    var t = document.getElementById("service"); clear(t);
    Object.keys(service).forEach(function (k) {
      var tr = el("tr"), label = el("label", null, k), input;
      tr.dataset.key = k; label.htmlFor = "cfg-" + k;
      if (choices[k]) {
        input = el("select");
        choices[k].forEach(function (c) { var o = el("option", null, c); o.value = c; input.appendChild(o); });
      } else {
        input = el("input"); input.size = 12;
      }
      input.id = "cfg-" + k; input.value = String(service[k]);
      var td = el("td"); td.appendChild(label); tr.appendChild(td);
      td = el("td"); td.appendChild(input); tr.appendChild(td); t.appendChild(tr);
    });
  }

  function changedSettings() {
    var out = {};
    Object.keys(loaded).forEach(function (k) {
      var text = document.getElementById("cfg-" + k).value.trim();
      if (text === String(loaded[k])) { return; }
      var n = Number(text);  // numbers as numbers; anything else as typed, for the server to refuse
      out[k] = (typeof loaded[k] === "number" && text !== "" && isFinite(n)) ? n : text;
    });
    return out;
  }

  function setupConfiguration() {
    document.getElementById("service-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var msg = document.getElementById("config-message"), changes = changedSettings();
      if (!Object.keys(changes).length) { msg.className = ""; msg.textContent = "Nothing changed."; return; }
      post("/dashboard/api/configuration", changes).then(function (r) {
        if (r.status === 401) { location.assign("/dashboard/login"); return; }
        if (r.status !== 200) { msg.className = "error"; msg.textContent = r.body.error.message; return; }
        serviceForm(r.body.service, lastChoices);
        msg.className = ""; msg.textContent = "Saved.";
      });
    });
    configuration();
  }

  var lastChoices = {};
  function configuration() {
    api("/dashboard/api/configuration").then(function (d) {
      lastChoices = d.choices;
      if (!loaded) { serviceForm(d.service, d.choices); }
      ["policy", "limits"].forEach(function (part) {
        var t = document.getElementById(part); clear(t);
        Object.keys(d[part]).forEach(function (k) {
          var tr = el("tr"); tr.dataset.key = k;
          tr.appendChild(el("td", null, k)); tr.appendChild(el("td", null, String(d[part][k]))); t.appendChild(tr);
        });
      });
      stamp(d);
    }).catch(report);
  }

  function segments(d) {
    var box = document.getElementById("segments-box"), t = document.getElementById("segments");
    if (!d.segments.length) { box.hidden = true; return; }
    box.hidden = false; clear(t);
    document.getElementById("segments-note").textContent = "By the context feature " + d.segments[0].feature +
      ": the probability the live policy gives each variant for that value alone, and (after the slash) its share of that segment's impressions.";
    var head = el("tr"); head.appendChild(el("th", null, "segment")); head.appendChild(el("th", null, "impressions"));
    d.variants.forEach(function (v) { head.appendChild(el("th", null, v.id)); });
    t.appendChild(head);
    d.segments.forEach(function (s) {
      var tr = el("tr"); tr.dataset.segment = s.value;
      tr.appendChild(el("td", null, s.value)); tr.appendChild(el("td", null, fmtNum(s.impressions, 0)));
      s.variants.forEach(function (v) {
        var td = el("td", null, fmtPct(v.probability) + " / " + fmtPct(v.share));
        td.dataset.variant = v.id; td.dataset.probability = String(v.probability); tr.appendChild(td);
      });
      t.appendChild(tr);
    });
  }

  function report(err) {
    var u = document.getElementById("updated") || document.getElementById("note");
    if (u) { u.textContent = "Could not update: " + err.message; }
  }

  var pages = { overview: overview, titles: titles, title: title, evaluations: evaluations,
                configuration: configuration };
  var run = pages[document.body.dataset.page];
  if (run === evaluations) { setupEvaluations(); setInterval(run, POLL_MS); }
  else if (run === configuration) { setupConfiguration(); setInterval(run, POLL_MS); }
  else if (run) { run(); setInterval(run, POLL_MS); }
})();
