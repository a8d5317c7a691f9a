// Passkeys (WebAuthn) for authgate's pages: the "Use a passkey" button of
// the second-step page and the "Add a passkey" button of the enrol and
// security pages. Each button names the JSON routes it talks to
// (data-begin, data-finish); the requests go to this site with the session
// cookie (fetch's default same-origin credentials), which the gateway's
// CSRF defence accepts from a same-origin page (Sec-Fetch-Site). Served by
// package pages under the CSP script-src 'self'; no inline script.
'use strict';
(function () {
  function decode(s) {
    s = String(s).replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function encode(buf) {
    const bytes = new Uint8Array(buf);
    let s = '';
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  async function post(url, body) {
    const init = { method: 'POST', credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    let doc = null;
    try { doc = await res.json(); } catch (e) { /* no body */ }
    if (!res.ok) throw new Error((doc && (doc.detail || doc.title)) || 'HTTP ' + res.status);
    return doc;
  }
  // The server's options (go-webauthn's JSON, binary fields base64url)
  // as the browser's API takes them.
  function creationOptions(o) {
    const pk = Object.assign({}, o.publicKey || o);
    pk.challenge = decode(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: decode(pk.user.id) });
    pk.excludeCredentials = (pk.excludeCredentials || []).map((c) => Object.assign({}, c, { id: decode(c.id) }));
    return { publicKey: pk };
  }
  function requestOptions(o) {
    const pk = Object.assign({}, o.publicKey || o);
    pk.challenge = decode(pk.challenge);
    pk.allowCredentials = (pk.allowCredentials || []).map((c) => Object.assign({}, c, { id: decode(c.id) }));
    return { publicKey: pk };
  }
  function credentialJSON(c) {
    const r = c.response;
    const out = { id: c.id, rawId: encode(c.rawId), type: c.type, response: { clientDataJSON: encode(r.clientDataJSON) },
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {} };
    if (c.authenticatorAttachment) out.authenticatorAttachment = c.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = encode(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    }
    if (r.authenticatorData) {
      out.response.authenticatorData = encode(r.authenticatorData);
      out.response.signature = encode(r.signature);
      if (r.userHandle) out.response.userHandle = encode(r.userHandle);
    }
    return out;
  }
  function say(msg) {
    const el = document.getElementById('passkey-status');
    if (el) { el.textContent = msg; el.hidden = !msg; }
  }
  function go(to) {
    if (to) window.location.assign(to); else window.location.reload();
  }
  function showCodes(codes, to) {
    const box = document.getElementById('passkey-codes');
    if (!box) return go(to);
    const list = box.querySelector('ul');
    for (const c of codes) {
      const li = document.createElement('li');
      const code = document.createElement('code');
      code.textContent = c;
      li.appendChild(code);
      list.appendChild(li);
    }
    const cont = document.getElementById('passkey-continue');
    if (cont && !to) cont.addEventListener('click', (ev) => { ev.preventDefault(); window.location.reload(); });
    box.hidden = false;
  }
  async function login(btn) {
    const opts = await post(btn.dataset.begin);
    const cred = await navigator.credentials.get(requestOptions(opts));
    if (!cred) throw new Error('no passkey was chosen');
    await post(btn.dataset.finish, credentialJSON(cred));
    go(btn.dataset.return);
  }
  async function add(btn) {
    const opts = await post(btn.dataset.begin);
    const cred = await navigator.credentials.create(creationOptions(opts));
    if (!cred) throw new Error('no passkey was made');
    const input = btn.dataset.name && document.getElementById(btn.dataset.name);
    const name = input ? input.value : '';
    const res = await post(btn.dataset.finish + '?name=' + encodeURIComponent(name), credentialJSON(cred));
    if (res && res.recovery_codes && res.recovery_codes.length) {
      say('Passkey added.');
      showCodes(res.recovery_codes, btn.dataset.return);
      return;
    }
    go(btn.dataset.return);
  }
  for (const btn of document.querySelectorAll('button[data-passkey]')) {
    if (!window.PublicKeyCredential) {
      btn.disabled = true;
      say('This browser does not support passkeys.');
      continue;
    }
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      say('Waiting for your passkey…');
      try {
        await (btn.dataset.passkey === 'login' ? login(btn) : add(btn));
      } catch (e) {
        say((e && e.name === 'NotAllowedError') ? 'The passkey was not used. Try again.' : 'That did not work: ' + (e && e.message));
        btn.disabled = false;
      }
    });
  }
})();
