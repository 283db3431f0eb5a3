package alarms

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/cloud/store"
)

// Webhook headers. The signature is HMAC-SHA256 over the timestamp, a dot
// and the body, keyed with the shared secret, as "sha256=<hex>"; the
// receiver recomputes it and refuses timestamps too far from its clock, so
// a captured request cannot be replayed later.
const (
	SignatureHeader = "X-StreamForge-Signature"
	TimestampHeader = "X-StreamForge-Timestamp"
)

// Notification is the webhook's JSON body.
type Notification struct {
	Event string      `json:"event"` // alarm.raised or alarm.cleared
	Alarm store.Alarm `json:"alarm"`
}

// Sign returns the signature header value of body sent at ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Webhook posts notifications, one at a time in order, retrying each with
// exponential backoff. A queue that is full (the receiver down for long)
// drops the newest notification, counted and logged: the alarms themselves
// are in the database either way.
type Webhook struct {
	url      string
	secret   []byte
	client   *http.Client
	log      *slog.Logger
	attempts int
	backoff  time.Duration // before the 2nd attempt; doubled each time
	failures prometheus.Counter

	queue chan Notification
	stop  chan struct{}
	wg    sync.WaitGroup
}

// NewWebhook validates the URL. The secret signs every request; it is
// never logged.
func NewWebhook(rawURL string, secret []byte, log *slog.Logger) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("STREAMFORGE_ALERT_WEBHOOK_URL: want an http(s) URL")
	}
	if len(secret) < 16 {
		return nil, fmt.Errorf("STREAMFORGE_ALERT_WEBHOOK_SECRET: at least 16 bytes are required with a webhook URL")
	}
	return &Webhook{url: rawURL, secret: secret, client: &http.Client{Timeout: 10 * time.Second}, log: log,
		attempts: 6, backoff: 500 * time.Millisecond, queue: make(chan Notification, 256), stop: make(chan struct{}),
		// replaced by the evaluator's registered counter; counts alone
		// where no evaluator runs (RaiseAuditFailure from the CLI)
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "streamforge_alarm_webhook_failures_total"})}, nil
}

// SetRetry changes the number of attempts and the first backoff (tests).
func (w *Webhook) SetRetry(attempts int, backoff time.Duration) {
	w.attempts, w.backoff = attempts, backoff
}

func (w *Webhook) start() {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			select {
			case n := <-w.queue:
				w.deliver(n)
			case <-w.stop:
				return
			}
		}
	}()
}

func (w *Webhook) close() {
	close(w.stop)
	w.wg.Wait()
}

func (w *Webhook) send(n Notification) {
	select {
	case w.queue <- n:
	default:
		w.failures.Inc()
		w.log.Error("alarm webhook queue full; notification dropped", "alarm", n.Alarm.ID, "kind", n.Alarm.Kind)
	}
}

// deliver posts n until a 2xx, a 4xx other than 408/429 (the receiver
// refuses it: retrying cannot help), the last attempt, or Close.
func (w *Webhook) deliver(n Notification) {
	body, err := json.Marshal(n)
	if err != nil {
		w.log.Error("alarm webhook: encode", "err", err)
		return
	}
	wait := w.backoff
	for attempt := 1; ; attempt++ {
		status, err := w.post(body)
		if err == nil && status/100 == 2 {
			return
		}
		final := attempt >= w.attempts || (err == nil && status/100 == 4 && status != 408 && status != 429)
		w.log.Warn("alarm webhook delivery failed", "alarm", n.Alarm.ID, "attempt", attempt, "status", status, "err", err, "final", final)
		if final {
			w.failures.Inc()
			return
		}
		select {
		case <-time.After(wait):
			wait *= 2
		case <-w.stop:
			w.failures.Inc()
			return
		}
	}
}

func (w *Webhook) post(body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), w.client.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TimestampHeader, ts)
	req.Header.Set(SignatureHeader, Sign(w.secret, ts, body))
	res, err := w.client.Do(req)
	if err != nil {
		// The URL may carry credentials: never its text in the log.
		if ue, ok := err.(*url.Error); ok {
			return 0, ue.Err
		}
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}
