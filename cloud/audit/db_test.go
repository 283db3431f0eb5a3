package audit

import (
	"path/filepath"
	"testing"

	"github.com/glebarez/sqlite"
	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/streamforge/streamforge/internal/testenv"
)

// backend opens a fresh, migrated database; open gives another pool on
// the same database, as a second cloud process would have.
type backend struct {
	name string
	new  func(t testing.TB) (dsn string)
	open func(t testing.TB, dsn string) *gorm.DB
}

var backends = []backend{
	{
		name: "sqlite",
		new:  func(t testing.TB) string { return filepath.Join(t.TempDir(), "audit.db") },
		open: func(t testing.TB, path string) *gorm.DB {
			// The same settings as the control plane's store.
			dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
			db := openGorm(t, sqlite.Open(dsn))
			sqlDB, _ := db.DB()
			sqlDB.SetMaxOpenConns(1)
			return db
		},
	},
	{
		name: "postgres",
		new:  func(t testing.TB) string { return testenv.PostgresURL(t) },
		open: func(t testing.TB, url string) *gorm.DB {
			db := openGorm(t, postgres.Open(url))
			sqlDB, _ := db.DB()
			sqlDB.SetMaxOpenConns(8)
			return db
		},
	},
}

func openGorm(t testing.TB, d gorm.Dialector) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(d, &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	if err != nil {
		t.Fatalf("open %s: %v", d.Name(), err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	return db
}

func migrate(t testing.TB, db *gorm.DB) {
	t.Helper()
	m := gormigrate.New(db, &gormigrate.Options{TableName: "schema_migrations", UseTransaction: true}, Migrations())
	if err := m.Migrate(); err != nil {
		t.Fatalf("migrate: %v", err)
	}
}

// eachDB runs fn against a fresh migrated SQLite file and PostgreSQL
// database.
func eachDB(t *testing.T, fn func(t *testing.T, b backend, dsn string, db *gorm.DB)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.new(t)
			db := b.open(t, dsn)
			migrate(t, db)
			fn(t, b, dsn, db)
		})
	}
}
