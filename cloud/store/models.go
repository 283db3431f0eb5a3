package store

import "time"

// User is a person who logs in to the control plane.
type User struct {
	ID            uint64 `gorm:"primaryKey"`
	Email         string
	PasswordHash  string
	Roles         []string `gorm:"serializer:json"`
	GatewayAccess []string `gorm:"serializer:json"`
	Disabled      bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Session is one issued user token, named by its jti. Revoking the row
// revokes the token in every cloud process at once.
type Session struct {
	JTI       string `gorm:"primaryKey"`
	UserID    uint64
	IssuedAt  time.Time
	ExpiresAt time.Time
	RevokedAt *time.Time
	// RotatedAt is set when a refresh replaced the session: its token
	// used again later was copied (users.Service.Authenticate).
	RotatedAt *time.Time
}

// LoginThrottle counts recent login failures for one key (an account or a
// client IP) so that every cloud process sees the same counts.
type LoginThrottle struct {
	Key          string `gorm:"primaryKey"`
	Failures     int
	WindowStart  time.Time
	BlockedUntil time.Time
}
