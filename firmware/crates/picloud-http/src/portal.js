// PiCloud portal: WebAuthn ceremonies against /portal/api/*. No external assets.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const data = JSON.parse(($("data") || {}).textContent || "{}");
  const status = (text, ok) => {
    const s = $("status");
    s.textContent = text;
    s.className = ok ? "ok" : "err";
  };
  const b64u = (s) => {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  };
  const enc = (buf) =>
    btoa(String.fromCharCode(...new Uint8Array(buf)))
      .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  async function api(path, body, token) {
    const headers = { "Content-Type": "application/json" };
    if (token) headers["Authorization"] = "Bearer " + token;
    const r = await fetch(path, { method: "POST", headers, body: JSON.stringify(body || {}) });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(j.message || j.error_description || ("HTTP " + r.status));
    return j;
  }
  async function create(options) {
    const pk = options.publicKey;
    pk.challenge = b64u(pk.challenge);
    pk.user.id = b64u(pk.user.id);
    (pk.excludeCredentials || []).forEach((c) => (c.id = b64u(c.id)));
    const c = await navigator.credentials.create({ publicKey: pk });
    return {
      id: c.id, rawId: enc(c.rawId), type: c.type,
      extensions: c.getClientExtensionResults(),
      response: {
        attestationObject: enc(c.response.attestationObject),
        clientDataJSON: enc(c.response.clientDataJSON),
        transports: c.response.getTransports ? c.response.getTransports() : [],
      },
    };
  }
  async function get(options) {
    const pk = options.publicKey;
    pk.challenge = b64u(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => (c.id = b64u(c.id)));
    const c = await navigator.credentials.get({ publicKey: pk });
    return {
      id: c.id, rawId: enc(c.rawId), type: c.type,
      extensions: c.getClientExtensionResults(),
      response: {
        authenticatorData: enc(c.response.authenticatorData),
        clientDataJSON: enc(c.response.clientDataJSON),
        signature: enc(c.response.signature),
        userHandle: c.response.userHandle ? enc(c.response.userHandle) : null,
      },
    };
  }
  const session = {
    get: () => sessionStorage.getItem("picloud.session"),
    set: (t, who) => { sessionStorage.setItem("picloud.session", t); sessionStorage.setItem("picloud.who", who); },
    who: () => sessionStorage.getItem("picloud.who"),
  };
  async function enrol(start, startBody, token) {
    const s = await api(start, startBody, token);
    const credential = await create(s.options);
    return api("/portal/api/enrol/finish", { ceremony: s.ceremony, credential });
  }
  async function login(name, authorize) {
    const s = await api("/portal/api/login/start", { name, authorize });
    const credential = await get(s.options);
    const done = await api("/portal/api/login/finish", { ceremony: s.ceremony, credential });
    if (done.session) session.set(done.session, done.identity);
    return done;
  }
  const guard = (fn) => async (ev) => {
    ev.preventDefault();
    try { await fn(); } catch (e) { status(String(e.message || e), false); }
  };
  const page = document.body.dataset.page;
  if (page === "setup") {
    $("setup").addEventListener("submit", guard(async () => {
      status("Waiting for your authenticator …", true);
      const r = await enrol("/portal/api/setup/start", {
        code: $("code").value, name: $("name").value,
        displayName: $("display").value || null,
      });
      session.set(r.session, r.identity);
      $("setup").classList.add("hidden");
      $("second").classList.remove("hidden");
      status("Passkey enrolled: you are the administrator " + r.identity + ".", true);
    }));
    $("add").addEventListener("click", guard(async () => {
      status("Waiting for your second authenticator …", true);
      await enrol("/portal/api/passkey/start", { label: "second passkey" }, session.get());
      $("second").classList.add("hidden");
      status("Second passkey enrolled. Setup is complete.", true);
    }));
  } else if (page === "login") {
    $("login").addEventListener("submit", guard(async () => {
      status("Waiting for your passkey …", true);
      const r = await login($("name").value, data.authorize || null);
      if (r.redirect) { status("Signed in; returning to the application …", true); location.assign(r.redirect); }
      else status("Signed in as " + r.identity + ".", true);
    }));
  } else if (page === "device") {
    if (data.userCode) $("user_code").value = data.userCode;
    if (session.get()) $("who").classList.add("hidden");
    $("device").addEventListener("submit", guard(async () => {
      if (!session.get()) {
        status("Waiting for your passkey …", true);
        await login($("name").value, null);
      }
      await api("/portal/api/device/approve", { userCode: $("user_code").value }, session.get());
      $("device").classList.add("hidden");
      status("Approved: the command line is logged in as " + session.who() + ". You can close this page.", true);
    }));
  } else if (page === "reenrol") {
    $("reenrol").addEventListener("submit", guard(async () => {
      status("Waiting for your authenticator …", true);
      const r = await enrol("/portal/api/reenrol/start", { code: $("code").value });
      session.set(r.session, r.identity);
      $("reenrol").classList.add("hidden");
      status("New passkey enrolled for " + r.identity + "; the old ones are revoked.", true);
    }));
  }
})();
