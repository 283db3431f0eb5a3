// Package secretprot says how well a connection protects a secret sent
// over it, and whether one protection is weaker than another. A secret is
// bound to the protection it was first sent with (or that an Admin set)
// as well as to its destinations: the same brokers reached over
// sasl_plaintext, or with PLAIN instead of SCRAM, get the Kafka password
// in clear; an OPC UA endpoint reached with security None gets the user
// token in clear (gopcua encrypts it with the token policy's algorithm,
// None there) or encrypted for a server certificate nobody checked.
// The control plane (cloud/secretbind) and the agent (agent/secrets) both
// compare with this package, so they agree on what "weaker" is.
//
// A protection has a rank per property; it is weaker than a bound one
// when any of its ranks is lower. A rank the package does not know (a
// misspelled mechanism) is the lowest: it never passes for a bound one.
package secretprot

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Kafka is how a Kafka password (or username) is sent: the security
// protocol (TLS or not) and the SASL mechanism.
type Kafka struct {
	Protocol  string `json:"protocol"`  // sasl_plaintext or sasl_ssl (lower case)
	Mechanism string `json:"mechanism"` // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
}

// OPCUA is how an OPC UA identity password is sent: the secure channel's
// policy and mode, and whether the server's certificate is checked
// (insecure: false) before the token is encrypted for it.
type OPCUA struct {
	Policy   string `json:"security_policy"` // None or Basic256Sha256
	Mode     string `json:"security_mode"`   // None, Sign or SignAndEncrypt
	Insecure bool   `json:"insecure"`
}

// Protection is what a secret is bound to (or what a config sends it
// with), per kind of use; a kind that is nil is not bound.
type Protection struct {
	Kafka *Kafka `json:"kafka,omitempty"`
	OPCUA *OPCUA `json:"opcua,omitempty"`
}

// Orders from weakest to strongest; a value not listed ranks -1.
var (
	kafkaProtocols  = []string{"sasl_plaintext", "sasl_ssl"}
	kafkaMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
	opcuaPolicies   = []string{"None", "Basic256Sha256"}
	opcuaModes      = []string{"None", "Sign", "SignAndEncrypt"}
)

// KafkaOf is the protection of a kafka.security block as written: the
// agent's defaults (protocol plaintext, mechanism SCRAM-SHA-512: pkg/pipeline)
// stand in for what is left out.
func KafkaOf(protocol, mechanism string) Protection {
	p := strings.ToLower(strings.TrimSpace(protocol))
	if p == "" {
		p = "plaintext"
	}
	m := strings.ToUpper(strings.TrimSpace(mechanism))
	if m == "" {
		m = kafkaMechanisms[2]
	}
	return Protection{Kafka: &Kafka{Protocol: p, Mechanism: m}}
}

// OPCUAOf is the protection of an OPC UA server as written, with the
// adapter's defaults (policy None; mode None with policy None, else
// SignAndEncrypt: adapters/opcua).
func OPCUAOf(policy, mode string, insecure bool) Protection {
	if policy == "" {
		policy = "None"
	}
	if mode == "" {
		mode = map[bool]string{true: "None", false: "SignAndEncrypt"}[policy == "None"]
	}
	return Protection{OPCUA: &OPCUA{Policy: policy, Mode: mode, Insecure: insecure}}
}

// IsZero reports whether nothing is bound.
func (p Protection) IsZero() bool { return p.Kafka == nil && p.OPCUA == nil }

func (k Kafka) String() string { return k.Protocol + " " + k.Mechanism }

func (o OPCUA) String() string {
	return fmt.Sprintf("%s/%s, server %s", o.Policy, o.Mode, map[bool]string{true: "unchecked", false: "checked"}[o.Insecure])
}

// String is p as people read it, e.g. "sasl_ssl SCRAM-SHA-512" or
// "Basic256Sha256/SignAndEncrypt, server checked".
func (p Protection) String() string {
	var parts []string
	if p.Kafka != nil {
		parts = append(parts, p.Kafka.String())
	}
	if p.OPCUA != nil {
		parts = append(parts, p.OPCUA.String())
	}
	if len(parts) == 0 {
		return "none bound"
	}
	return strings.Join(parts, "; ")
}

func rank(order []string, v string) int { return slices.Index(order, v) }

func verified(insecure bool) int { return map[bool]int{true: 0, false: 1}[insecure] }

// Weaker reports, when p sends a secret with less protection than bound
// in any property of a kind both have, the bound and the asked protection
// of that kind as people read them. A kind that is bound but not asked
// for is no weakening (the secret is not sent that way); a kind asked for
// but not bound is for the caller to bind first (trust on first use).
func (p Protection) Weaker(bound Protection) (was, asked string, weaker bool) {
	if b, a := bound.Kafka, p.Kafka; b != nil && a != nil {
		if rank(kafkaProtocols, a.Protocol) < rank(kafkaProtocols, b.Protocol) ||
			rank(kafkaMechanisms, a.Mechanism) < rank(kafkaMechanisms, b.Mechanism) {
			return b.String(), a.String(), true
		}
	}
	if b, a := bound.OPCUA, p.OPCUA; b != nil && a != nil {
		if rank(opcuaPolicies, a.Policy) < rank(opcuaPolicies, b.Policy) ||
			rank(opcuaModes, a.Mode) < rank(opcuaModes, b.Mode) || verified(a.Insecure) < verified(b.Insecure) {
			return b.String(), a.String(), true
		}
	}
	return "", "", false
}

// Fill is p with each kind it does not bind taken from q.
func (p Protection) Fill(q Protection) Protection {
	if p.Kafka == nil {
		p.Kafka = q.Kafka
	}
	if p.OPCUA == nil {
		p.OPCUA = q.OPCUA
	}
	return p
}

// Meet is the weakest protection of p and q in each property (what one
// binding must allow for both); a kind only one has is taken from it.
func Meet(p, q Protection) Protection {
	out := p
	switch {
	case q.Kafka == nil:
	case out.Kafka == nil:
		out.Kafka = q.Kafka
	default:
		out.Kafka = &Kafka{Protocol: lower(kafkaProtocols, p.Kafka.Protocol, q.Kafka.Protocol),
			Mechanism: lower(kafkaMechanisms, p.Kafka.Mechanism, q.Kafka.Mechanism)}
	}
	switch {
	case q.OPCUA == nil:
	case out.OPCUA == nil:
		out.OPCUA = q.OPCUA
	default:
		out.OPCUA = &OPCUA{Policy: lower(opcuaPolicies, p.OPCUA.Policy, q.OPCUA.Policy),
			Mode: lower(opcuaModes, p.OPCUA.Mode, q.OPCUA.Mode), Insecure: p.OPCUA.Insecure || q.OPCUA.Insecure}
	}
	return out
}

func lower(order []string, a, b string) string {
	if rank(order, b) < rank(order, a) {
		return b
	}
	return a
}

// Valid returns, for a protection an Admin sets, the first property
// that is not one of the known values (its field path and a message), or
// "" when every property is known.
func (p Protection) Valid() (field, msg string) {
	type prop struct {
		field, value string
		order        []string
	}
	var props []prop
	if k := p.Kafka; k != nil {
		props = append(props, prop{"kafka.protocol", k.Protocol, kafkaProtocols}, prop{"kafka.mechanism", k.Mechanism, kafkaMechanisms})
	}
	if o := p.OPCUA; o != nil {
		props = append(props, prop{"opcua.security_policy", o.Policy, opcuaPolicies}, prop{"opcua.security_mode", o.Mode, opcuaModes})
	}
	for _, pr := range props {
		if !slices.Contains(pr.order, pr.value) {
			return pr.field, fmt.Sprintf("%q (want %s)", pr.value, strings.Join(pr.order, ", "))
		}
	}
	return "", ""
}

// Encode is the stored form ("" when nothing is bound).
func (p Protection) Encode() string {
	if p.IsZero() {
		return ""
	}
	b, _ := json.Marshal(p) // plain strings and bools: cannot fail
	return string(b)
}

// Decode reads the stored form.
func Decode(s string) (Protection, error) {
	var p Protection
	if s == "" {
		return p, nil
	}
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return p, fmt.Errorf("stored protection: %w", err)
	}
	return p, nil
}
