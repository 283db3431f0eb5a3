package api_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/auth"
)

// rssMiB is this process's resident memory.
func rssMiB(b *testing.B) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// BenchmarkLoginFlood: 200 parallel logins for unknown emails (each from
// its own address, so only the argon2id cap stands in their way) against
// one server in this process, while a client polls /healthz. Reports the
// peak resident memory the flood added (goal: about 100 MiB at most; it was
// 2 GiB before the cap), the /healthz p99 during the flood (goal: under
// 50 ms), and how many logins were answered 503 (cap full past the wait).
func BenchmarkLoginFlood(b *testing.B) {
	if v := os.Getenv("FLOOD_HASH_MIB"); v != "" {
		mib, _ := strconv.Atoi(v)
		auth.SetHashMemoryBudget(mib, auth.DefaultHashWait)
		defer auth.SetHashMemoryBudget(auth.DefaultHashMemoryMiB, auth.DefaultHashWait)
	}
	e := newEnv(b, "", "", withTrustedProxy("127.0.0.1/32"))
	const n = 200
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n + 8, MaxConnsPerHost: n + 8}}
	var peak, base float64
	var health, idle []time.Duration
	for i := 0; i < 200; i++ { // the same probe without a flood, for scale
		start := time.Now()
		if res, err := client.Get(e.base + "/healthz"); err == nil {
			res.Body.Close()
			idle = append(idle, time.Since(start))
		}
		time.Sleep(2 * time.Millisecond)
	}
	statuses := map[int]int{}
	for i := 0; i < b.N; i++ {
		runtime.GC()
		base = rssMiB(b)
		var (
			wg, pollWG sync.WaitGroup
			mu         sync.Mutex
			done       atomic.Bool
			peakBits   atomic.Uint64
		)
		pollWG.Add(2)
		go func() { // memory sampler
			defer pollWG.Done()
			for !done.Load() {
				if r := rssMiB(b); r > float64(peakBits.Load())/1024 {
					peakBits.Store(uint64(r * 1024))
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
		go func() { // liveness prober
			defer pollWG.Done()
			for !done.Load() {
				start := time.Now()
				res, err := client.Get(e.base + "/healthz")
				if err == nil {
					res.Body.Close()
					mu.Lock()
					health = append(health, time.Since(start))
					mu.Unlock()
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		for j := 0; j < n; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"email":"nobody%d-%d@example.com","password":"some guess %d"}`, i, j, j)
				req, _ := http.NewRequest("POST", e.base+"/api/v1/auth/login", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.18.%d.%d", j/250, j%250+1))
				res, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				res.Body.Close()
				mu.Lock()
				statuses[res.StatusCode]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		done.Store(true)
		pollWG.Wait()
		peak = max(peak, float64(peakBits.Load())/1024-base)
	}
	b.StopTimer()
	slices.Sort(health)
	if len(health) > 0 {
		b.ReportMetric(float64(health[len(health)*99/100].Microseconds())/1000, "healthz-p99-ms")
	}
	slices.Sort(idle)
	b.ReportMetric(float64(idle[len(idle)*99/100].Microseconds())/1000, "healthz-idle-p99-ms")
	b.ReportMetric(peak, "MiB-added")
	b.ReportMetric(float64(statuses[503])/float64(b.N), "busy-503/op")
	b.ReportMetric(float64(statuses[401])/float64(b.N), "checked-401/op")
	for code := range statuses {
		if code != 401 && code != 503 {
			b.Errorf("unexpected status %d (%d times)", code, statuses[code])
		}
	}
}
