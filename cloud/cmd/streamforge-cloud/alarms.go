package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/cloud/alarms"
	"github.com/streamforge/streamforge/cloud/config"
	"github.com/streamforge/streamforge/cloud/store"
)

// startAlarms starts the alarm evaluator (and its webhook, when one is
// configured), its metrics in reg; serve closes it before the store.
func startAlarms(st *store.Store, cfg config.Alarms, log *slog.Logger, reg prometheus.Registerer) (*alarms.Evaluator, error) {
	var hook *alarms.Webhook
	if cfg.WebhookURL != "" {
		var err error
		if hook, err = alarms.NewWebhook(cfg.WebhookURL, cfg.WebhookSecret, log); err != nil {
			return nil, err
		}
	}
	ev, err := alarms.NewEvaluator(st, alarms.Config{
		Interval: cfg.Interval, HeartbeatInterval: cfg.HeartbeatInterval, OfflineIntervals: cfg.OfflineIntervals,
		RaiseAfter: cfg.RaiseAfter, ClearAfter: cfg.ClearAfter, Window: cfg.Window,
		LoginFailures: cfg.LoginFailures, Denials: cfg.Denials, Enrollments: cfg.Enrollments,
	}, log, reg, hook)
	if err != nil {
		return nil, err
	}
	ev.Start()
	return ev, nil
}
