// BankID login page: polls /bankid/status once a second and updates the QR code, the status
// text and the buttons. The server decides everything; this script only shows it.
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
      if (s.qr) { qrImg.src = s.qr; }
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

  function poll() {
    if (stopped) { return; }
    fetch(statusUrl, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json" }
    }).then(function (r) {
      if (r.status === 404) { stopped = true; window.location.reload(); return null; }
      if (!r.ok) { throw new Error("status " + r.status); }
      return r.json();
    }).then(function (s) {
      if (s) { update(s); }
    }).catch(function () {
      setStatus(root.getAttribute("data-offline"), "", false);
    }).then(function () {
      if (!stopped) { window.setTimeout(poll, 1000); }
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

  if (root.getAttribute("data-state") === "failed") {
    stopped = true;
  } else {
    window.setTimeout(poll, 1000);
  }
})();
