package api_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/internal/testenv"
)

// BenchmarkLogin measures full logins over HTTP; the argon2id hash
// (19 MiB, t=2) dominates.
func BenchmarkLogin(b *testing.B) {
	e := newEnv(b, "", "")
	body := `{"email":"` + adminEmail + `","password":"` + adminPassword + `"}`
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", e.base+"/api/v1/auth/login", stringsReader(body))
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil || res.StatusCode != 200 {
				b.Fatalf("login: %v %v", err, res)
			}
			res.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func BenchmarkPasswordHash(b *testing.B) {
	for i := 0; i < b.N; i++ {
		_, _ = auth.HashPassword(context.Background(), "correct horse battery staple")
	}
}

// BenchmarkAuthenticatedGET: GET /api/v1/auth/me with a Bearer token
// (signature check plus one session lookup) from 32 concurrent clients;
// reports requests/s and the p99 latency.
func BenchmarkAuthenticatedGET(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			url := ""
			if db == "postgres" {
				url = testenv.PostgresURL(b)
			}
			e := newEnv(b, url, "")
			tok := e.login(adminEmail, adminPassword)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			const workers = 32
			lat := make([][]time.Duration, workers)
			var wg sync.WaitGroup
			next := make(chan struct{}, 1024)
			b.ResetTimer()
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for range next {
						req, _ := http.NewRequest("GET", e.base+"/api/v1/auth/me", nil)
						req.Header.Set("Authorization", "Bearer "+tok)
						start := time.Now()
						res, err := client.Do(req)
						if err != nil || res.StatusCode != 200 {
							b.Errorf("GET: %v %v", err, res)
							return
						}
						res.Body.Close()
						lat[w] = append(lat[w], time.Since(start))
					}
				}(w)
			}
			for i := 0; i < b.N; i++ {
				next <- struct{}{}
			}
			close(next)
			wg.Wait()
			b.StopTimer()
			all := slices.Concat(lat...)
			slices.Sort(all)
			if len(all) > 0 {
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
