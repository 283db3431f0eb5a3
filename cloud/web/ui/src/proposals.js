// Proposals: the Copilot's suggested pipeline changes wait here for an
// Engineer or Admin, who approves (the change becomes the pipeline's next
// version, with approved_by in its audit record) or rejects with a reason.
import { get, call, can, qs } from "./api.js";
import { h, clear, field, val, fmtTime, badge, errorBox, confirmDialog } from "./dom.js";

const states = [["pending", "Waiting"], ["approved", "Approved"], ["rejected", "Rejected"], ["", "All"]];
const cls = { pending: "warn", approved: "ok", rejected: "bad" };

export async function proposals(main) {
  const list = h("div#proposal-list");
  const filter = h("form.card.row#proposal-filter", field("Show", { id: "pr-status", options: states, value: "pending" }));
  filter.addEventListener("change", () => refresh(list, val(filter, "pr-status")));
  main.append(h("h1", "Proposals"),
    h("p.muted", "Changes the Copilot suggests. Nothing changes until an Engineer or Admin approves."), filter, list);
  await refresh(list, "pending");
}

async function refresh(list, status) {
  const ps = (await get("/api/v1/proposals" + qs({ status }))).proposals || [];
  if (ps.length === 0) {
    clear(list, h("p.muted", status === "pending" ? "No proposal waits." : "No proposal."));
    return;
  }
  const cards = [];
  for (const p of ps) cards.push(await card(p, () => refresh(list, status)));
  clear(list, cards);
}

async function card(summary, done) {
  const p = await get("/api/v1/proposals/" + summary.id);
  const err = errorBox();
  const show = (v) => (v === null || v === undefined ? "—" : h("code", JSON.stringify(v)));
  const changes = (p.changes || []).length === 0 ? h("p.muted", "The base version is gone; no diff.") : h("div.table-wrap", h("table.proposal-diff",
    h("thead", h("tr", h("th", "Field"), h("th", "v" + p.base_version), h("th", "Proposed"))),
    h("tbody", p.changes.map((c) => h("tr", h("td", h("code", c.path)), h("td", show(c.old)), h("td", show(c.new)))))));
  const decided = p.status === "pending" ? null : h("p", badge(p.status, cls[p.status]), ` by ${p.decided_by} ${fmtTime(p.decided_at)}`,
    p.reason ? h("span", ": " + p.reason) : null, p.applied_version ? h("span", ` (v${p.applied_version})`) : null);
  const section = h("section.card.proposal", { "aria-labelledby": "pr-h-" + p.id, "data-proposal": p.id },
    h("h2#pr-h-" + p.id, `#${p.id}: `, h("a", { href: "#/pipelines/" + encodeURIComponent(p.pipeline_id) }, p.pipeline_id), ` from v${p.base_version}`),
    h("p", h("strong", "Why: "), p.rationale), h("p.muted", `Proposed by ${p.proposed_by}, ${fmtTime(p.created_at)}`), changes, decided, err);
  if (p.status === "pending" && can("pipelines:update")) section.append(actions(p, err, done));
  return section;
}

function actions(p, err, done) {
  const reason = field("Reason (to reject)", { id: "pr-reason-" + p.id, maxlength: 4000 });
  const act = (verb, body) => async () => {
    err.textContent = "";
    if (verb === "reject" && !body().reason) {
      err.textContent = "Say why you reject it.";
      return;
    }
    if (verb === "approve" && !(await confirmDialog(`Apply proposal #${p.id} as the next version of ${p.pipeline_id}?`, "Approve", false))) return;
    try {
      await call("POST", `/api/v1/proposals/${p.id}/${verb}`, body());
      await done();
    } catch (ex) {
      err.textContent = `Not ${verb === "approve" ? "approved" : "rejected"}: ${ex.message}`;
    }
  };
  return h("div.actions", reason,
    h("button", { type: "button", "data-action": "approve", onclick: act("approve", () => undefined) }, "Approve"),
    h("button.danger", { type: "button", "data-action": "reject", onclick: act("reject", () => ({ reason: reason.querySelector("input").value.trim() })) }, "Reject"));
}
