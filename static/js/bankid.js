// BankID login page: polls /bankid/status when the server says (every 1-2 s) and updates the
// QR code, the status text and the buttons. The server decides everything; this script only
// shows it.
// The QR code is drawn here from the frame texts the server sends (bankid.<token>.<t>.<code>),
// with the vendored encoder (vendor/qrcode-generator.js), as an <svg> built with DOM calls:
// black on white, a four-module quiet zone, a whole number of pixels per module. Each answer
// carries the current frame and the next ones with the millisecond of the order each is due
// at; the page changes frames on its own timer, aligned to the order's clock (one-second beat),
// not when an answer arrives. An expired QR code (startFailed) is renewed by a POST, a bounded
// number of times the server keeps count of, before the person is asked to try again.
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
  var qrBlock = document.getElementById("qr-block");
  var countdown = document.getElementById("qr-countdown");
  var switchForm = document.getElementById("switch");
  var retryForm = document.querySelector("form[action='/bankid/retry']");
  var offline = false;
  var renewing = false;
  // The order's clock on this page's: performance.now() at the order's start, estimated from
  // the answer with the shortest round trip so far (the server's time lies within it).
  var orderStart = null;
  var bestRtt = Infinity;
  var expiresMs = null;
  var frames = {};     // t -> frame text, the current second's and the next ones
  var frameTimer = null;
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
    // A whole number of CSS pixels per module, in the room the page gives the code.
    var room = Math.min(BOX, (qr && qr.clientWidth) || BOX);
    var pixels = size * Math.max(1, Math.floor(room / size));
    qrImg.style.width = pixels + "px";
    qrImg.style.height = pixels + "px";
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

  // The QR code, its steps, countdown and advice: shown only while there is a frame to show
  // and the server answers (a frozen code must not stay on screen while offline).
  function showQr(visible) {
    show(qr, visible);
    show(qrSteps, visible);
    show(qrBlock, visible);
  }

  // Frames the answer carries, and the order's start on this page's clock.
  function learnFrames(list, elapsedMs, sent, got) {
    if (!list || !list.length || elapsedMs === null || elapsedMs === undefined) { return; }
    var token = String(list[0].qr).split(".")[1];
    if (token !== learnFrames.token) {  // a new order (a renewal): forget the old clock
      learnFrames.token = token;
      frames = {};
      orderStart = null;
      bestRtt = Infinity;
    }
    var rtt = Math.max(0, got - sent);
    if (orderStart === null || rtt < bestRtt) {
      bestRtt = rtt;
      orderStart = (sent + got) / 2 - Number(elapsedMs);
    }
    for (var i = 0; i < list.length; i++) { frames[list[i].t] = list[i].qr; }
    tick();
  }

  // On the order's one-second beat: the frame due now, the seconds left; then sleep until the
  // next frame is due.
  function tick() {
    if (frameTimer !== null) { window.clearTimeout(frameTimer); frameTimer = null; }
    if (orderStart === null || stopped || offline || renewing) { return; }
    var now = performance.now();
    var t = Math.max(0, Math.floor((now - orderStart) / 1000));
    var best = null;
    for (var k in frames) {
      if (!Object.prototype.hasOwnProperty.call(frames, k)) { continue; }
      var n = Number(k);
      if (n < t - 1) { delete frames[k]; } else if (n <= t && (best === null || n > best)) { best = n; }
    }
    if (best !== null) { drawQr(frames[best]); }
    if (countdown && expiresMs !== null) {
      var left = Math.ceil((orderStart + expiresMs - now) / 1000);
      if (left > 0) {
        countdown.textContent = root.getAttribute("data-countdown").replace("{seconds}", String(left));
      } else {
        countdown.textContent = root.getAttribute("data-renewing");
      }
      show(countdown, true);
    }
    frameTimer = window.setTimeout(tick, Math.max(5, orderStart + (t + 1) * 1000 - now + 5));
  }

  // A QR code nobody scanned in time: a new order, by a POST the server checks (CSRF, only a
  // startFailed QR order, a bounded number of times). Never for a scanned or pending order.
  function renew(s) {
    if (!retryForm || renewing) { return false; }
    renewing = true;
    var body = new URLSearchParams(new FormData(retryForm));
    body.set("renew", "1");
    if (countdown) { countdown.textContent = root.getAttribute("data-renewing"); }
    fetch(retryForm.getAttribute("action"), {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json" },
      body: body
    }).then(function (r) {
      return r.ok ? r.json() : { renewed: false };
    }).then(function (answer) {
      renewing = false;
      if (answer && answer.renewed) {
        if (!qrBlock) { window.location.reload(); return; }
        stopped = false;
        poll();
      } else {
        s.renew = false;  // refused: the failure as it is, and the person chooses
        update(s);
      }
    }).catch(function () {
      renewing = false;
      s.renew = false;
      update(s);
    });
    return true;
  }

  function update(s, sent, got) {
    if (s.state === "failed" && s.renew && renew(s)) {
      // Quietly: the code goes away for the moment a new order takes; no alert. Polling
      // pauses and starts again with the new order.
      stopped = true;
      showQr(false);
      return;
    }
    root.setAttribute("data-state", s.state);
    setStatus(s.message, s.rfa, s.state === "failed");
    if (s.engaged) {
      // The app has the order: confirm there; no switching ways now (it would cancel it).
      root.setAttribute("data-engaged", "true");
      var h = document.getElementById("heading");
      if (h && h.getAttribute("data-engaged") && s.state === "pending") {
        if (h.textContent !== h.getAttribute("data-engaged")) { h.textContent = h.getAttribute("data-engaged"); }
      }
      show(switchForm, false);
    }
    if (qrImg) {
      expiresMs = s.expires_ms === null || s.expires_ms === undefined ? null : Number(s.expires_ms);
      if (s.qr && !(s.frames && s.frames.length)) { drawQr(s.qr); }
      learnFrames(s.frames, s.elapsed_ms, sent, got);
      showQr(!!s.qr);
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

  // The server says when to ask again: just after the order's next collect is due (at most
  // 2 s with a QR code, whose frames come ahead). Each page waits up to data-poll-spread (an
  // eighth) more, at random: the next collect is due two seconds after this poll's, so pages
  // whose answers came together (after a busy moment) would otherwise poll in step for good,
  // in waves that a thousand waiting pages make into queues. Later, never earlier: the state
  // cannot change before the collect.
  var SPREAD = Math.min(Math.max(Number(root.getAttribute("data-poll-spread")) || 0, 0), 0.5);
  function delayOf(ms) {
    var n = Number(ms);
    var base = isFinite(n) && n > 0 ? Math.min(Math.max(n, 200), 5000) : 1000;
    return base * (1 + SPREAD * Math.random());
  }

  function poll() {
    if (stopped) { return; }
    var next = 1000;
    var sent = performance.now();
    var got = sent;
    fetch(statusUrl, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json" }
    }).then(function (r) {
      got = performance.now();
      if (r.status === 404) { stopped = true; window.location.reload(); return null; }
      // 503 (busy or unavailable) and every other failure: "no contact", try again later.
      if (!r.ok) { throw new Error("status " + r.status); }
      return r.json();
    }).then(function (s) {
      if (s) {
        failures = 0;
        offline = false;
        next = delayOf(s.next_poll_ms);
        update(s, sent, got);
      }
    }).catch(function () {
      // Back off (1, 2, 4, then every 5 s, spread out) so a busy server is not stampeded.
      failures++;
      next = Math.min(5000, 1000 * Math.pow(2, failures - 1)) * (0.8 + 0.4 * Math.random());
      setStatus(root.getAttribute("data-offline"), "", false);
      // No frozen QR code while there is no contact: hidden until an answer comes again.
      offline = true;
      if (frameTimer !== null) { window.clearTimeout(frameTimer); frameTimer = null; }
      showQr(false);
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
  if (qrImg && root.getAttribute("data-frames")) {
    // The page's own answer: the server's time lies between the request and the response.
    var nav = performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
    var sent0 = nav && nav.responseStart ? nav.requestStart : performance.now();
    var got0 = nav && nav.responseStart ? nav.responseStart : performance.now();
    var first = null;
    try { first = JSON.parse(root.getAttribute("data-frames")); } catch (e) { first = null; }
    expiresMs = Number(root.getAttribute("data-expires-ms")) || null;
    learnFrames(first, Number(root.getAttribute("data-elapsed-ms")), sent0, got0);
  }
  window.addEventListener("resize", function () {
    var text = shownQr;
    shownQr = null;
    drawQr(text);
  });
  if (root.getAttribute("data-engaged") === "true") { show(switchForm, false); }
  if (root.getAttribute("data-state") === "failed") {
    stopped = true;
    if (root.getAttribute("data-renew") === "true") {
      renew({ state: "failed", renew: false, message: statusEl.textContent,
              rfa: statusEl.getAttribute("data-rfa") });
    }
  } else {
    window.setTimeout(poll, delayOf(root.getAttribute("data-next-poll-ms")));
  }
})();
