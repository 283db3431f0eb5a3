package audit

import (
	"fmt"
	"sync"
	"testing"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
)

// TestConcurrentAppendsKeepOneChain: many goroutines appending through two
// separate connection pools (two cloud processes sharing the database),
// each append in a transaction that also writes other rows, leave one
// gap-free, valid chain.
func TestConcurrentAppendsKeepOneChain(t *testing.T) {
	const workers, each = 8, 25
	eachDB(t, func(t *testing.T, b backend, dsn string, db *gorm.DB) {
		other := b.open(t, dsn)
		if err := db.Exec(`CREATE TABLE things (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)`).Error; err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			pool := db
			if w%2 == 1 {
				pool = other
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					err := pool.Transaction(func(tx *gorm.DB) error {
						// A read before the append, as a handler that loads
						// what it changes would do.
						var n int64
						if err := tx.Raw(`SELECT COUNT(*) FROM things`).Scan(&n).Error; err != nil {
							return err
						}
						if err := tx.Exec(`INSERT INTO things (id, v) VALUES (?, ?)`, w*1000+i, n).Error; err != nil {
							return err
						}
						_, err := Append(tx, Event{EventType: "config.update", User: fmt.Sprintf("w%d", w), ResourceID: fmt.Sprint(i)})
						return err
					})
					if err != nil {
						errs <- fmt.Errorf("worker %d append %d: %w", w, i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		rep := verify(t, other)
		if !rep.OK || rep.Checked != workers*each || rep.Head.Seq != workers*each {
			t.Fatalf("want a valid chain of %d, got %+v", workers*each, rep)
		}
	})
}

// TestSQLiteDeferredTransactionsQueue: even with SQLite's default deferred
// transactions and several connections, appends do not fail with
// SQLITE_BUSY, because the first statement of Append is a write: a
// transaction never holds a read lock it must upgrade while others wait.
func TestSQLiteDeferredTransactionsQueue(t *testing.T) {
	const workers, each = 6, 30
	path := backends[0].new(t)
	db := openGorm(t, sqlite.Open("file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"))
	sqlDB, _ := db.DB()
	sqlDB.SetMaxOpenConns(workers)
	migrate(t, db)
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := db.Transaction(func(tx *gorm.DB) error {
					_, err := Append(tx, Event{EventType: "auth.refresh", User: fmt.Sprint(w)})
					return err
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if rep := verify(t, db); !rep.OK || rep.Checked != workers*each {
		t.Fatalf("want a valid chain of %d, got %+v", workers*each, rep)
	}
}
