/* goalkeeper tracker: keeps the message GUID from the landing URL in a first-party
   cookie and reports goals with goalkeeper('fulfill', goalId, value, {orderId}). */
(function (w, d) {
  "use strict";
  var s = d.currentScript || d.querySelector('script[src*="tracker.js"][data-key]');
  if (!s || (w.goalkeeper && w.goalkeeper.loaded)) return;
  var o = s.dataset, key = o.key, param = o.param || "gk_guid";
  var days = +o.windowDays > 0 ? +o.windowDays : 30;
  // Present in any spelling but "false", the option keeps consent mode on: fail closed.
  var needConsent = o.requireConsent != null && o.requireConsent !== "false";
  var endpoint = new URL("/api/v1/beacon", s.src).href;
  var secure = location.protocol === "https:" ? "; Secure" : "";
  var GUID = "gk_guid", CONSENT = "gk_consent", H = "[0-9a-fA-F]";
  var D = H + "{8}-" + H + "{4}-" + H + "{4}-" + H + "{4}-" + H + "{12}";
  var GUID_FORM = new RegExp("^(?:" + H + "{32}|" + D + "|\\{" + D + "\\}|\\(" + D + "\\))$");

  function get(name) {
    var m = d.cookie.match("(?:^|; )" + name + "=([^;]*)");
    return m ? decodeURIComponent(m[1]) : null;
  }
  function set(name, value, seconds) {
    d.cookie = name + "=" + encodeURIComponent(value) + "; Max-Age=" + seconds +
      "; Path=/; SameSite=Lax" + secure;
  }
  function warn(text) { if (w.console) w.console.warn("goalkeeper: " + text); }
  function allowed() { return !needConsent || get(CONSENT) === "1"; }
  function landing() {
    var g = new URLSearchParams(location.search).get(param);
    return g && GUID_FORM.test(g) ? g : null; // only a GUID the server takes replaces one
  }
  function keep() {
    var g = landing();
    if (g && allowed()) set(GUID, g, days * 86400); // the latest GUID wins
  }
  function send(payload) {
    var body = JSON.stringify(payload);
    var blob = new Blob([body], { type: "text/plain" });
    if (navigator.sendBeacon && navigator.sendBeacon(endpoint, blob)) return;
    // no-cors: the answer is never read, so a refusal leaves no error on the page
    if (w.fetch) w.fetch(endpoint, { method: "POST", body: body, keepalive: true,
      mode: "no-cors", credentials: "omit", headers: { "Content-Type": "text/plain" } })
      .catch(function () {});
  }
  var commands = {
    fulfill: function (goalId, value, opts) {
      var g = get(GUID);
      if (!allowed() || !g) return;
      var p = { key: key, guid: g, goal_id: +goalId }, id = opts && opts.orderId;
      if (value != null && value !== "") {
        if (!isFinite(+value)) return warn("value " + value + " is not a number");
        p.value = Math.round(+value);
      }
      if (id != null && id !== "") {
        id = String(id);
        if (id.length > 200) warn("orderId over 200 characters, sent without it");
        else p.order_id = id;
      }
      send(p);
    },
    consent: function (granted) {
      if (granted === true || granted === "true") { set(CONSENT, "1", 31536000); keep(); }
      else { set(CONSENT, "", 0); set(GUID, "", 0); }
    }
  };
  function goalkeeper(name) {
    var c = commands[name];
    if (c) c.apply(null, [].slice.call(arguments, 1));
  }
  var queued = (w.goalkeeper && w.goalkeeper.q) || [];
  goalkeeper.loaded = true;
  w.goalkeeper = goalkeeper;
  keep();
  for (var i = 0; i < queued.length; i++) goalkeeper.apply(null, queued[i]);
})(window, document);
