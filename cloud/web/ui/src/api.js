// The API client: every action of the dashboard is a documented API call
// with the session cookie, and the CSRF token on unsafe methods.

export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const session = { csrf: "", me: null, expiresAt: 0, onExpired: () => {} };

export async function call(method, path, body, retried) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  let res;
  try {
    res = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new APIError(0, "The control plane cannot be reached (" + e.message + ").");
  }
  let data = null;
  if (res.status !== 204) {
    try { data = await res.json(); } catch (e) { data = null; }
  }
  if (res.status === 403 && method !== "GET" && !retried && data && /CSRF/.test(data.error || "") && await adoptCookieSession()) {
    return call(method, path, body, true);
  }
  if (!res.ok) {
    const msg = (data && data.error) || `The server answered ${res.status} ${res.statusText}.`;
    if (res.status === 401 && session.me && !path.startsWith("/api/v1/auth/login")) session.onExpired(msg);
    throw new APIError(res.status, msg);
  }
  return data;
}

// adoptCookieSession takes the CSRF token of the session the cookie holds
// now: another tab of this browser refreshed the session (or changed the
// password), so the cookie carries a new session whose CSRF token this
// tab has not seen. False when there is no session to adopt.
async function adoptCookieSession() {
  try {
    const res = await fetch("/api/v1/auth/me", { credentials: "same-origin" });
    if (!res.ok) return false;
    const me = await res.json();
    if (!me.csrf_token || me.csrf_token === session.csrf) return false;
    session.csrf = me.csrf_token;
    session.expiresAt = Date.parse(me.expires_at);
    return true;
  } catch (e) {
    return false;
  }
}

export const get = (path) => call("GET", path);
export const can = (perm) => !!session.me && session.me.permissions.includes(perm);

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") u.set(k, v);
  const s = u.toString();
  return s ? "?" + s : "";
}
