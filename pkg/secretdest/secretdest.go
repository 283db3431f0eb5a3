// Package secretdest says where a config sends each `${secret:name}` it
// references: the Kafka password (and a username given as a reference)
// to the bootstrap brokers of kafka.brokers, an OPC UA identity password
// to its server's endpoint. The control plane binds a secret to its
// destinations and refuses a config that would send it elsewhere
// (cloud/secretbind); the agent refuses to use a delivered secret for any
// other destination (agent/secrets). Both sides read destinations with this
// package, so they agree on what "the same destination" is.
package secretdest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/streamforge/streamforge/pkg/secret"
	"github.com/streamforge/streamforge/pkg/secretprot"
)

// Use is one place a config sends a secret: the field that references it,
// the field that names where it goes, the destinations named there and
// the protection it is sent with.
type Use struct {
	Name         string   // the secret's name
	Field        string   // e.g. kafka.security.password
	DestField    string   // e.g. kafka.brokers
	Destinations []string // normalised (Normalize)
	// ProtField names the settings Protection reads (kafka.security).
	ProtField  string
	Protection secretprot.Protection
}

// Normalize is the one spelling of a destination: surrounding space
// removed, the host (and a URL's scheme) in lower case. Host names are
// compared as written: a broker named by address and by name are two
// destinations.
func Normalize(d string) string {
	d = strings.TrimSpace(d)
	if u, err := url.Parse(d); err == nil && u.Scheme != "" && u.Host != "" {
		u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
		return u.String()
	}
	if host, port, err := net.SplitHostPort(d); err == nil {
		return net.JoinHostPort(strings.ToLower(host), port)
	}
	return strings.ToLower(d)
}

// Valid reports whether d can be a destination: host:port or a URL with
// a host, at most 512 bytes, one line.
func Valid(d string) bool {
	d = strings.TrimSpace(d)
	if d == "" || len(d) > 512 || strings.ContainsAny(d, "\x00\r\n\t") {
		return false
	}
	if u, err := url.Parse(d); err == nil && u.Scheme != "" && u.Host != "" {
		return true
	}
	host, port, err := net.SplitHostPort(d)
	n, perr := strconv.Atoi(port)
	return err == nil && host != "" && perr == nil && n > 0 && n < 65536
}

// Brokers returns the normalised entries of a comma-separated broker list.
func Brokers(list string) []string {
	var out []string
	for _, b := range strings.Split(list, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, Normalize(b))
		}
	}
	return out
}

// Of is every destination uses send secret name to (Clean's form).
func Of(uses []Use, name string) []string {
	var out []string
	for _, u := range uses {
		if u.Name == name {
			out = append(out, u.Destinations...)
		}
	}
	return Clean(out)
}

// ProtectionOf is the weakest protection uses send secret name with
// (secretprot.Meet of each).
func ProtectionOf(uses []Use, name string) secretprot.Protection {
	var out secretprot.Protection
	for _, u := range uses {
		if u.Name == name {
			out = secretprot.Meet(out, u.Protection)
		}
	}
	return out
}

// Clean normalises, sorts and de-duplicates a list of destinations.
func Clean(ds []string) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		if n := Normalize(d); n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Uses lists where a JSON config document sends its `${secret:name}`
// references. A reference anywhere else is sent nowhere: the agent
// resolves these fields only. The document is read as the agent reads
// it (agent/config.Merge: a JSON object, keys as written, the last of
// duplicate keys winning); what is not a string there names nothing, and
// the agent refuses such a document.
func Uses(config []byte) ([]Use, error) {
	var d map[string]any
	if err := json.Unmarshal(config, &d); err != nil {
		return nil, fmt.Errorf("config document: %w", err)
	}
	var out []Use
	add := func(ref string, u Use) {
		if n, ok := secret.ParseRef(ref); ok {
			u.Name = n
			out = append(out, u)
		}
	}
	kafka := obj(d, "kafka")
	brokers := Brokers(str(kafka, "brokers"))
	sec := obj(kafka, "security")
	prot := secretprot.KafkaOf(str(sec, "protocol"), str(sec, "mechanism"))
	for _, f := range []string{"username", "password"} {
		add(str(sec, f), Use{Field: "kafka.security." + f, DestField: "kafka.brokers", Destinations: brokers,
			ProtField: "kafka.security", Protection: prot})
	}
	for i, a := range list(d, "adapters") {
		for j, srv := range list(a, "servers") {
			f := fmt.Sprintf("adapters[%d].servers[%d]", i, j)
			insecure, _ := field(srv, "insecure").(bool)
			add(str(obj(srv, "identity"), "password"), Use{Field: f + ".identity.password", DestField: f + ".endpoint",
				Destinations: []string{Normalize(str(srv, "endpoint"))}, ProtField: f,
				Protection: secretprot.OPCUAOf(str(srv, "security_policy"), str(srv, "security_mode"), insecure)})
		}
	}
	return out, nil
}

// field is key of v when v is an object (nil otherwise).
func field(v any, key string) any {
	m, _ := v.(map[string]any)
	return m[key]
}

func obj(v any, key string) map[string]any {
	m, _ := field(v, key).(map[string]any)
	return m
}

func list(v any, key string) []any {
	l, _ := field(v, key).([]any)
	return l
}

func str(v any, key string) string {
	s, _ := field(v, key).(string)
	return s
}
