// The claim page: log in (cookie session), confirm the gateway and site,
// claim. Unsafe requests carry the session's CSRF token.
"use strict";
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let csrf = "";

function say(text, ok) {
  $("message").textContent = text;
  $("message").className = ok ? "ok" : "error";
}

async function call(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path, { method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body) });
  let data = {};
  try { data = await res.json(); } catch (e) { /* empty body */ }
  return { status: res.status, data };
}

async function showClaim() {
  const me = await call("GET", "/api/v1/auth/me");
  if (me.status !== 200) {
    $("login").hidden = false;
    $("claim").hidden = true;
    return;
  }
  csrf = me.data.csrf_token;
  $("who").textContent = me.data.email;
  $("login").hidden = true;
  $("claim").hidden = false;
  await showEK();
  if (!me.data.permissions.includes("gateways:claim")) {
    say("Your account may not claim gateways (it needs gateways:claim).", false);
  }
}

// ekText says whether the gateway's TPM is known genuine: only then does a
// claim approve it; otherwise an admin reviews it after the claim.
function ekText(g) {
  if (g.identity_kind === "tpm" && g.ek_verified) return "TPM, EK verified";
  if (g.identity_kind === "tpm") return "TPM, EK not verified" + (g.ek_reason ? ` (${g.ek_reason})` : "");
  return "software key, no TPM";
}

// showEK tells the technician whether the gateway's TPM endorsement key
// was verified against a manufacturer root before they vouch for it.
async function showEK() {
  const id = params.get("gateway");
  if (!id) return;
  const g = await call("GET", "/api/v1/gateways/" + encodeURIComponent(id));
  if (g.status !== 200) return;
  const d = g.data;
  if (d.identity_kind !== "tpm") $("ek").textContent = "Identity: software key (no TPM evidence).";
  else if (d.ek_verified) $("ek").textContent = "TPM endorsement key: verified against its manufacturer's root.";
  else $("ek").textContent = "TPM endorsement key: NOT verified (" + (d.ek_reason || "no reason given") + "). Check the device before claiming.";
}

$("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const r = await call("POST", "/api/v1/auth/login", { email: $("email").value, password: $("password").value });
  if (r.status !== 200) { say(r.data.error || "Login failed", false); return; }
  say("", true);
  await showClaim();
});

$("claim").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const r = await call("POST", "/api/v1/gateways/claim", {
    gateway_id: $("gateway_id").value.trim(), claim_code: $("claim_code").value.trim(), site: $("site").value.trim() });
  if (r.status !== 200 && r.status !== 202) { say(r.data.error || "Claim failed", false); return; }
  $("ek").textContent = ekText(r.data);
  if (r.data.status === "approved") {
    say(`Gateway ${r.data.id} is approved and bound to site ${r.data.site}.`, true);
  } else {
    say(`Gateway ${r.data.id} is claimed and bound to site ${r.data.site}; it waits for an admin's review (identity: ${ekText(r.data)}).`, true);
  }
  $("claim").querySelector("button").disabled = true;
});

$("gw").textContent = params.get("gateway") || "(none)";
$("code").textContent = params.get("code") || "(none)";
$("gateway_id").value = params.get("gateway") || "";
$("claim_code").value = params.get("code") || "";
showClaim();
