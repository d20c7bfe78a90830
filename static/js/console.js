// The customer-service console (templates/console), loaded with defer; no inline script (CSP).
// 1. The personal-number field says as you type whether the number is well formed: 12 digits
//    (a dash before the last four is fine), a real date, and the check digit (Luhn over the
//    last ten). The server checks it again. 2. A request page follows its state: it asks
//    /console/requests/{id}/state every 2 s and, once the request has ended, reloads so that
//    the server shows the result. Without script, the page has a Refresh link.
(function () {
  "use strict";

  function luhnOk(digits) {
    var sum = 0;
    for (var i = 0; i < digits.length; i++) {
      var d = digits.charCodeAt(digits.length - 1 - i) - 48;
      if (i % 2 === 1) { d *= 2; if (d > 9) { d -= 9; } }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function validDate(digits) {
    var y = +digits.slice(0, 4), m = +digits.slice(4, 6), d = +digits.slice(6, 8);
    if (d > 60) { d -= 60; }  // a coordination number: the day plus 60
    var date = new Date(Date.UTC(y, m - 1, d));
    return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
  }

  // "" (still typing), "format", "date", "check" or "ok".
  function check(value) {
    var m = /^\s*([0-9]{8})-?([0-9]{4})\s*$/.exec(value);
    if (!m) { return value.trim() === "" ? "" : "format"; }
    var digits = m[1] + m[2];
    if (!validDate(digits)) { return "date"; }
    return luhnOk(digits.slice(2)) ? "ok" : "check";
  }

  function watchNumber(input) {
    var out = document.getElementById("pnr-error");
    if (!out) { return; }
    function show(final) {
      var verdict = check(input.value);
      var digits = input.value.replace(/\D/g, "");
      if (!final && verdict === "format" && digits.length < 12 && /^[\d\s-]*$/.test(input.value)) {
        verdict = "";  // not wrong yet: not all typed
      }
      out.textContent = verdict ? input.getAttribute("data-msg-" + verdict) : "";
      out.className = "field-message" + (verdict === "ok" ? " ok" : verdict ? " error" : "");
      if (verdict && verdict !== "ok") { input.setAttribute("aria-invalid", "true"); }
      else { input.removeAttribute("aria-invalid"); }
      return verdict;
    }
    input.addEventListener("input", function () { show(false); });
    input.addEventListener("blur", function () { show(true); });
    var form = input.form;
    if (form) {
      form.addEventListener("submit", function (event) {
        var verdict = show(true);
        if (verdict !== "ok") {
          if (!verdict) { out.textContent = input.getAttribute("data-msg-format"); }
          input.setAttribute("aria-invalid", "true");
          event.preventDefault();
          input.focus();
        }
      });
    }
  }

  function follow(box) {
    var url = box.getAttribute("data-poll");
    var text = document.getElementById("state-text");
    function tick() {
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) {
          // Signed out, or the request is gone: the page itself says which.
          if (r.status === 401 || r.status === 404) { window.location.reload(); return undefined; }
          return r.ok ? r.json() : null;
        })
        .then(function (body) {
          if (body === undefined) { return; }
          if (!body) { window.setTimeout(tick, 5000); return; }
          if (text && text.textContent !== body.text) { text.textContent = body.text; }
          box.setAttribute("data-state", body.state);
          if (body.final) { window.location.reload(); } else { window.setTimeout(tick, 2000); }
        })
        .catch(function () { window.setTimeout(tick, 5000); });
    }
    window.setTimeout(tick, 2000);
  }

  function start() {
    var input = document.getElementById("pnr");
    if (input) { watchNumber(input); }
    var box = document.querySelector("[data-poll]");
    if (box) { follow(box); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
