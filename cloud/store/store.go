// Package store owns the control plane's database: opening SQLite (the
// embedded default) or PostgreSQL, the versioned migrations, the models,
// and the per-domain repositories (users with their sessions and login
// throttles, gateways, pipelines, alarms, gateway logs, and the audit
// trail with its outbox and checkpoints) whose lookups answer ErrNotFound
// and inserts ErrConflict. GORM belongs here alone (internal/layout
// refuses it elsewhere); domain packages depend on small interfaces that
// the repositories meet, and the API on the services built over them.
package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)

// Store is the control plane's database handle.
type Store struct {
	DB      *gorm.DB
	Dialect string // "sqlite" or "postgres"
}

// Open connects to PostgreSQL when databaseURL starts with postgres:// or
// postgresql://, and otherwise opens (creating it) the SQLite file
// streamforge.db under dataDir. It runs all pending migrations.
func Open(ctx context.Context, databaseURL, dataDir string) (*Store, error) {
	var (
		dialector gorm.Dialector
		dialect   string
	)
	switch {
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		dialector, dialect = postgres.Open(databaseURL), "postgres"
	case databaseURL == "":
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		path := filepath.Join(dataDir, "streamforge.db")
		dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		dialector, dialect = sqlite.Open(dsn), "sqlite"
	default:
		return nil, fmt.Errorf("STREAMFORGE_DATABASE_URL: unsupported scheme (want postgres://)")
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:         logger.Default.LogMode(logger.Silent),
		NowFunc:        func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		TranslateError: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	if dialect == "sqlite" {
		// WAL lets readers run beside the one writer. Every transaction
		// begins IMMEDIATE (takes the write lock up front), so writers queue
		// on busy_timeout instead of deadlocking on a lock upgrade.
		sqlDB.SetMaxOpenConns(4)
	} else {
		sqlDB.SetMaxOpenConns(40)
		sqlDB.SetMaxIdleConns(40)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	s := &Store{DB: db, Dialect: dialect}
	if err := s.Ping(ctx); err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.DB.DB()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("database ping: %w", err)
	}
	return nil
}

// Close releases the database connections.
func (s *Store) Close() error {
	sqlDB, err := s.DB.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Tx runs fn in one transaction.
func (s *Store) Tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.DB.WithContext(ctx).Transaction(fn)
}

// translate maps GORM's errors onto the store's sentinels, so that no
// caller needs to know GORM's.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return ErrConflict
	}
	return err
}
