package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// Connection test states: pending until the gateway's next config poll
// takes it, sent until the gateway posts the result, then done. A test
// left pending or sent too long is shown expired (cloud/conntest); the
// state stored stays as it was.
const (
	ConnTestPending = "pending"
	ConnTestSent    = "sent"
	ConnTestDone    = "done"
)

// ConnectionTest asks a gateway to connect to one source of a pipeline
// and read one poll group; Result is the gateway's answer (JSON).
type ConnectionTest struct {
	ID              uint64 `gorm:"primaryKey"`
	GatewayID       string
	Status          string
	PipelineID      string
	PipelineVersion int
	Adapter         string
	Device          string
	PollGroup       string
	RequestedBy     string
	CreatedAt       time.Time
	SentAt          *time.Time
	DoneAt          *time.Time
	Result          string
}

// ConnectionTests is the repository of connection tests.
type ConnectionTests struct{ s *Store }

// ConnectionTests returns the connection tests repository.
func (s *Store) ConnectionTests() *ConnectionTests { return &ConnectionTests{s} }

// Create stores t as pending, with the audit event ev builds from its id.
func (r *ConnectionTests) Create(ctx context.Context, t ConnectionTest, ev func(id uint64) auditrec.Event) (ConnectionTest, error) {
	t.Status = ConnTestPending
	err := r.s.Tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&t).Error; err != nil {
			return translate(err)
		}
		return appendEvent(tx, ev(t.ID))
	})
	return t, err
}

// Get returns test id.
func (r *ConnectionTests) Get(ctx context.Context, id uint64) (ConnectionTest, error) {
	var t ConnectionTest
	err := r.s.DB.WithContext(ctx).Where("id = ?", id).Take(&t).Error
	return t, translate(err)
}

// WaitingGateways returns the gateways that tests asked for at or after
// since wait for (at most limit).
func (r *ConnectionTests) WaitingGateways(ctx context.Context, limit int, since time.Time) ([]string, error) {
	var ids []string
	err := r.s.DB.WithContext(ctx).Model(&ConnectionTest{}).Where("status = ? AND created_at >= ?", ConnTestPending, since.UTC()).
		Distinct("gateway_id").Limit(limit).Pluck("gateway_id", &ids).Error
	return ids, err
}

// TakePending marks the pending tests of a gateway asked for at or after
// since (at most limit) sent and returns them.
func (r *ConnectionTests) TakePending(ctx context.Context, gatewayID string, limit int, now, since time.Time) ([]ConnectionTest, error) {
	var out []ConnectionTest
	err := r.s.Tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("gateway_id = ? AND status = ? AND created_at >= ?", gatewayID, ConnTestPending, since.UTC()).
			Order("id").Limit(limit).Find(&out).Error; err != nil {
			return err
		}
		for i := range out {
			// Conditional, so two polls racing hand each test out once.
			res := tx.Model(&ConnectionTest{}).Where("id = ? AND status = ?", out[i].ID, ConnTestPending).
				Updates(map[string]any{"status": ConnTestSent, "sent_at": now})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 1 {
				out[i].Status, out[i].SentAt = ConnTestSent, &now
			}
		}
		return nil
	})
	taken := out[:0]
	for _, t := range out {
		if t.Status == ConnTestSent {
			taken = append(taken, t)
		}
	}
	return taken, err
}

// Complete stores the result of test id of gateway gatewayID (ErrNotFound:
// no such test of that gateway; ErrConflict: it has its result already).
func (r *ConnectionTests) Complete(ctx context.Context, gatewayID string, id uint64, result string, now time.Time, ev auditrec.Event) error {
	return r.s.Tx(ctx, func(tx *gorm.DB) error {
		var t ConnectionTest
		if err := tx.Where("id = ? AND gateway_id = ?", id, gatewayID).Take(&t).Error; err != nil {
			return translate(err)
		}
		res := tx.Model(&ConnectionTest{}).Where("id = ? AND status <> ?", id, ConnTestDone).
			Updates(map[string]any{"status": ConnTestDone, "done_at": now, "result": result})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrConflict
		}
		return appendEvent(tx, ev)
	})
}
