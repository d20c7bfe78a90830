// BankID login page: polls /bankid/status about once a second and updates the QR code, the
// status text and the buttons. The server decides everything; this script only shows it.
// The QR code is drawn here from the frame text the server sends (bankid.<token>.<t>.<code>),
// with the vendored encoder (vendor/qrcode-generator.js), as an <svg> built with DOM calls:
// black on white, a four-module quiet zone, a whole number of pixels per module.
(function () {
  "use strict";
  // The start page of a login with one way: the order starts only with this POST (never a
  // GET), sent at once; without script the page's button sends it.
  var start = document.querySelector("form[data-autosubmit]");
  if (start) {
    start.submit();
    return;
  }
  var root = document.getElementById("bankid");
  if (!root) { return; }
  root.classList.add("js");

  var statusUrl = root.getAttribute("data-status-url");
  var statusEl = document.getElementById("status");
  var qr = document.getElementById("qr");
  var qrImg = document.getElementById("qr-img");
  var qrSteps = document.getElementById("qr-steps");
  var failure = document.getElementById("failure");
  var launch = document.getElementById("launch");
  var pendingOnly = root.querySelectorAll(".pending-only");
  var stopped = false;
  var failures = 0;

  var SVG_NS = "http://www.w3.org/2000/svg";
  var QUIET = 4;       // modules of white around the code
  var BOX = 232;       // CSS pixels the page gives the code at most
  var shownQr = null;  // the frame text drawn now
  var qrPath = null;   // the <path> of the dark modules, once the page draws the code

  function drawQr(text) {
    if (!qrImg || !text || text === shownQr || typeof window.qrcode !== "function") { return; }
    var code = window.qrcode(0, "M");
    code.addData(text, "Byte");
    code.make();
    var n = code.getModuleCount();
    var size = n + 2 * QUIET;
    var d = [];
    for (var r = 0; r < n; r++) {
      for (var c = 0; c < n; c++) {
        if (!code.isDark(r, c)) { continue; }
        var start = c;
        while (c + 1 < n && code.isDark(r, c + 1)) { c++; }
        var run = c - start + 1;
        d.push("M" + (start + QUIET) + " " + (r + QUIET) + "h" + run + "v1h-" + run + "z");
      }
    }
    if (!qrPath) {
      // The page's placeholder <svg> (or, from an older page, an <img>: replaced).
      var svg = qrImg;
      if (qrImg.namespaceURI !== SVG_NS) {
        svg = document.createElementNS(SVG_NS, "svg");
        svg.setAttribute("id", "qr-img");
        svg.setAttribute("role", "img");
        svg.setAttribute("aria-label", qrImg.getAttribute("alt") || "");
        qrImg.parentNode.replaceChild(svg, qrImg);
      }
      svg.setAttribute("shape-rendering", "crispEdges");
      svg.style.display = "block";
      svg.style.margin = "0 auto";
      var light = document.createElementNS(SVG_NS, "rect");
      light.setAttribute("width", "100%");
      light.setAttribute("height", "100%");
      light.setAttribute("fill", "#fff");
      qrPath = document.createElementNS(SVG_NS, "path");
      qrPath.setAttribute("fill", "#000");
      while (svg.firstChild) { svg.removeChild(svg.firstChild); }
      svg.appendChild(light);
      svg.appendChild(qrPath);
      qrImg = svg;
    }
    var room = Math.min(BOX, (qr && qr.clientWidth) || BOX);
    var pixels = size * Math.max(1, Math.floor(room / size));
    qrImg.setAttribute("viewBox", "0 0 " + size + " " + size);
    qrImg.setAttribute("width", String(pixels));
    qrImg.setAttribute("height", String(pixels));
    qrPath.setAttribute("d", d.join(""));
    shownQr = text;
  }

  function show(el, visible) {
    if (!el) { return; }
    if (visible) { el.removeAttribute("hidden"); } else { el.setAttribute("hidden", ""); }
  }

  function setStatus(text, rfa, failed) {
    if (statusEl.textContent !== text) { statusEl.textContent = text; }
    statusEl.setAttribute("data-rfa", rfa || "");
    if (failed) {
      statusEl.setAttribute("role", "alert");
      statusEl.removeAttribute("aria-live");
      statusEl.classList.add("failed");
    }
  }

  function update(s) {
    root.setAttribute("data-state", s.state);
    setStatus(s.message, s.rfa, s.state === "failed");
    if (qrImg) {
      if (s.qr) { drawQr(s.qr); }
      show(qr, !!s.qr);
      show(qrSteps, !!s.qr);
    }
    if (s.state === "failed") {
      stopped = true;
      var heading = document.getElementById("heading");
      if (heading && heading.getAttribute("data-failed")) {
        heading.textContent = heading.getAttribute("data-failed");
      }
      for (var i = 0; i < pendingOnly.length; i++) { show(pendingOnly[i], false); }
      show(failure, true);
      var retry = document.getElementById("retry");
      if (retry) { retry.focus(); }
    } else if (s.state === "complete" && s.next) {
      stopped = true;
      window.location.assign(s.next);
    }
  }

  // The server says when to ask again: just after the QR code's next frame is due.
  function delayOf(ms) {
    var n = Number(ms);
    return isFinite(n) && n > 0 ? Math.min(Math.max(n, 200), 5000) : 1000;
  }

  function poll() {
    if (stopped) { return; }
    var next = 1000;
    fetch(statusUrl, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json" }
    }).then(function (r) {
      if (r.status === 404) { stopped = true; window.location.reload(); return null; }
      // 503 (busy or unavailable) and every other failure: "no contact", try again later.
      if (!r.ok) { throw new Error("status " + r.status); }
      return r.json();
    }).then(function (s) {
      if (s) {
        failures = 0;
        next = delayOf(s.next_poll_ms);
        update(s);
      }
    }).catch(function () {
      // Back off (1, 2, 4, then every 5 s, spread out) so a busy server is not stampeded.
      failures++;
      next = Math.min(5000, 1000 * Math.pow(2, failures - 1)) * (0.8 + 0.4 * Math.random());
      setStatus(root.getAttribute("data-offline"), "", false);
    }).then(function () {
      if (!stopped) { window.setTimeout(poll, next); }
    });
  }

  // Open the BankID app once, where the browser allows it without a tap (not Android), after
  // the page has loaded so the button is there if the app does not open; the button stays.
  function autostart() {
    var key = "bankid-launched-" + root.getAttribute("data-order");
    var launched = false;
    try { launched = window.sessionStorage.getItem(key) === "1"; } catch (e) { launched = false; }
    if (launched || stopped) { return; }
    try { window.sessionStorage.setItem(key, "1"); } catch (e) { /* private mode */ }
    window.location.href = launch.href;
  }
  if (launch && launch.getAttribute("data-autostart") === "1" && root.getAttribute("data-state") === "pending") {
    if (document.readyState === "complete") { autostart(); } else { window.addEventListener("load", autostart); }
  }

  if (qrImg && qrImg.getAttribute("data-qr")) { drawQr(qrImg.getAttribute("data-qr")); }
  if (root.getAttribute("data-state") === "failed") {
    stopped = true;
  } else {
    window.setTimeout(poll, delayOf(root.getAttribute("data-next-poll-ms")));
  }
})();
