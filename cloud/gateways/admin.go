package gateways

import (
	"context"
	"slices"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

// Action is an admin decision on a gateway.
type Action string

// The admin actions and the statuses they move from and to.
const (
	Approve Action = "approve"
	Reject  Action = "reject"
	Disable Action = "disable"
	Enable  Action = "enable"
)

var transitions = map[Action]struct {
	from []string
	to   string
}{
	Approve: {[]string{store.GatewayPending, store.GatewayRejected}, store.GatewayApproved},
	Reject:  {[]string{store.GatewayPending}, store.GatewayRejected},
	Disable: {[]string{store.GatewayPending, store.GatewayApproved}, store.GatewayDisabled},
	Enable:  {[]string{store.GatewayDisabled}, store.GatewayApproved},
}

// Act applies an admin action to a gateway within access. Disabling
// revokes every token of the gateway at once.
func (s *Fleet) Act(ctx context.Context, m Meta, access []string, id string, a Action) (View, error) {
	tr, ok := transitions[a]
	if !ok {
		return View{}, ErrBadTransition
	}
	var out *store.Gateway
	err := s.repo.InTx(ctx, func(tx FleetTx) error {
		g, err := load(tx, id, true)
		if err != nil {
			return err
		}
		if !rbac.CanAccessGateway(access, g.ID, g.Site) {
			return ErrNotFound
		}
		if !slices.Contains(tr.from, g.Status) {
			return ErrBadTransition
		}
		now := s.set.Now()
		old := g.Status
		g.Status = tr.to
		if a == Approve {
			// An approved gateway's claim code has no more use.
			g.ApprovedBy, g.ApprovedAt, g.ClaimCodeHash = m.Actor, &now, ""
		}
		if err := tx.SaveGateway(g); err != nil {
			return err
		}
		if a == Disable {
			if err := tx.RevokeGatewayTokens(g.ID, now); err != nil {
				return err
			}
		}
		ev := m.Event("gateway."+string(a), "gateway", g.ID, string(a), audit.ResultSuccess)
		ev.Changes = map[string]audit.Change{"status": {Old: old, New: g.Status}}
		if a == Approve {
			ev.ApprovedBy = &m.Actor
		}
		out = g
		return tx.Audit(ev)
	})
	if err != nil {
		return View{}, err
	}
	return view(out, 0), nil
}

// Delete removes a gateway with its tokens, config and health history.
func (s *Fleet) Delete(ctx context.Context, m Meta, access []string, id string) error {
	return s.repo.InTx(ctx, func(tx FleetTx) error {
		g, err := load(tx, id, true)
		if err != nil {
			return err
		}
		if !rbac.CanAccessGateway(access, g.ID, g.Site) {
			return ErrNotFound
		}
		if err := tx.DeleteGateway(g); err != nil {
			return err
		}
		ev := m.Event("gateway.delete", "gateway", id, "delete", audit.ResultSuccess)
		ev.Changes = map[string]audit.Change{"status": {Old: g.Status, New: nil}}
		return tx.Audit(ev)
	})
}
