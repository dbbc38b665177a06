/* goalkeeper tracker: keeps the message GUID from the landing URL in a first-party
   cookie and reports goals with goalkeeper('fulfill', goalId, value, {orderId}). */
(function (w, d) {
  "use strict";
  var s = d.currentScript || d.querySelector('script[src*="tracker.js"][data-key]');
  if (!s || (w.goalkeeper && w.goalkeeper.loaded)) return;
  var o = s.dataset, key = o.key, param = o.param || "gk_guid";
  var days = +o.windowDays > 0 ? +o.windowDays : 30;
  var needConsent = o.requireConsent === "true";
  var endpoint = new URL("/api/v1/beacon", s.src).href;
  var secure = location.protocol === "https:" ? "; Secure" : "";
  var GUID = "gk_guid", CONSENT = "gk_consent";

  function get(name) {
    var m = d.cookie.match("(?:^|; )" + name + "=([^;]*)");
    return m ? decodeURIComponent(m[1]) : null;
  }
  function set(name, value, seconds) {
    d.cookie = name + "=" + encodeURIComponent(value) + "; Max-Age=" + seconds +
      "; Path=/; SameSite=Lax" + secure;
  }
  function allowed() { return !needConsent || get(CONSENT) === "1"; }
  function landing() {
    var g = new URLSearchParams(location.search).get(param);
    return g && /^[{(]?[0-9a-fA-F-]{32,36}[)}]?$/.test(g) ? g : null;
  }
  function keep() {
    var g = landing();
    if (g && allowed()) set(GUID, g, days * 86400); // the latest GUID wins
  }
  function send(payload) {
    var body = JSON.stringify(payload);
    var blob = new Blob([body], { type: "text/plain" });
    if (navigator.sendBeacon && navigator.sendBeacon(endpoint, blob)) return;
    if (w.fetch) w.fetch(endpoint, { method: "POST", body: body, keepalive: true,
      mode: "cors", credentials: "omit", headers: { "Content-Type": "text/plain" } });
  }
  var commands = {
    fulfill: function (goalId, value, opts) {
      var g = get(GUID);
      if (!allowed() || !g) return;
      var p = { key: key, guid: g, goal_id: +goalId };
      if (value != null && value !== "") p.value = Math.round(+value);
      if (opts && opts.orderId != null) p.order_id = String(opts.orderId);
      send(p);
    },
    consent: function (granted) {
      if (granted) { set(CONSENT, "1", 31536000); keep(); }
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
