package opcua

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/streamforge/streamforge/adapters"
)

// Duration is a time.Duration written as "250ms" in YAML.
type Duration = adapters.Duration

// Backoff spaces reconnect attempts; defaults 1s..30s.
type Backoff = adapters.Backoff

// maxAutoQueue caps the default queue size of a monitored item.
const maxAutoQueue = 1000

// Config is one OPC UA adapter instance; agent.yaml embeds it.
type Config struct {
	Name    string   `yaml:"name"`
	Servers []Server `yaml:"servers"`
}

// Server is one OPC UA server (a "device" in readings and states).
type Server struct {
	Name     string `yaml:"name"`
	Endpoint string `yaml:"endpoint"` // opc.tcp://host:port/path
	// Policy is None or Basic256Sha256; Mode is None, Sign or SignAndEncrypt.
	Policy string `yaml:"security_policy"`
	Mode   string `yaml:"security_mode"`
	// Certificate and Key are the client's application instance certificate
	// (PEM or DER files); with a secure policy and none given, a self-signed
	// one is made at start.
	Certificate string   `yaml:"certificate,omitempty"`
	Key         string   `yaml:"key,omitempty"`
	Identity    Identity `yaml:"identity"`
	// Trust lists PEM/DER certificate files or directories of them. A server
	// whose certificate is not in the list (or signed by one in it) is refused.
	Trust []string `yaml:"trust,omitempty"`
	// Insecure accepts any server certificate and is required for policy None,
	// where the server cannot be authenticated at all.
	Insecure bool     `yaml:"insecure,omitempty"`
	Timeout  Duration `yaml:"timeout"` // per request; default 5s
	// Keepalive is how often the session is checked with a read; default 5s.
	Keepalive     Duration       `yaml:"keepalive"`
	Backoff       Backoff        `yaml:"backoff"` // reconnect spacing; default 1s..30s
	Subscriptions []Subscription `yaml:"subscriptions,omitempty"`
	PollGroups    []PollGroup    `yaml:"poll_groups,omitempty"`
	Nodes         []Node         `yaml:"nodes"`
}

// Identity is how the session authenticates the user.
type Identity struct {
	Type     string `yaml:"type"` // anonymous (default), username or certificate
	Username string `yaml:"username,omitempty"`
	// Password is already resolved from its ${secret:name} reference by the agent.
	Password    string `yaml:"password,omitempty"`
	Certificate string `yaml:"certificate,omitempty"` // user certificate file
	Key         string `yaml:"key,omitempty"`
}

// Subscription is a server-side subscription with monitored items.
type Subscription struct {
	Name               string   `yaml:"name"`
	PublishingInterval Duration `yaml:"publishing_interval"` // default 1s
	SamplingInterval   Duration `yaml:"sampling_interval"`   // 0: server's fastest
	// QueueSize is each item's server-side queue; by default it holds two
	// publishing intervals of samples plus one (21 when sampling is not set).
	QueueSize uint32 `yaml:"queue_size"`
}

// PollGroup reads its nodes with the Read service at an interval.
type PollGroup struct {
	Name     string   `yaml:"name"`
	Interval Duration `yaml:"interval"`
}

// Node is one variable read as a tag.
type Node struct {
	Name   string `yaml:"name"`
	NodeID string `yaml:"node_id"` // ns=2;s=Temperature
	// Exactly one of Subscription or PollGroup names where it is read.
	Subscription string `yaml:"subscription,omitempty"`
	PollGroup    string `yaml:"poll_group,omitempty"`
	// Deadband filters subscribed data changes on the server.
	Deadband *Deadband `yaml:"deadband,omitempty"`
}

// Deadband is a data change filter: absolute, or percent of the EU range.
type Deadband struct {
	Type  string  `yaml:"type"` // absolute or percent
	Value float64 `yaml:"value"`
}

func (s *Server) setDefaults() {
	if s.Policy == "" {
		s.Policy = "None"
	}
	if s.Mode == "" {
		s.Mode = map[bool]string{true: "None", false: "SignAndEncrypt"}[s.Policy == "None"]
	}
	if s.Identity.Type == "" {
		s.Identity.Type = "anonymous"
	}
	if s.Timeout == 0 {
		s.Timeout = Duration(5 * time.Second)
	}
	if s.Keepalive == 0 {
		s.Keepalive = Duration(5 * time.Second)
	}
	if s.Backoff.Initial == 0 {
		s.Backoff.Initial = Duration(time.Second)
	}
	if s.Backoff.Max == 0 {
		s.Backoff.Max = Duration(30 * time.Second)
	}
	for i := range s.Subscriptions {
		if s.Subscriptions[i].PublishingInterval == 0 {
			s.Subscriptions[i].PublishingInterval = Duration(time.Second)
		}
		if sc := &s.Subscriptions[i]; sc.QueueSize == 0 {
			// Room for the samples of two publishing intervals and one more,
			// so a server that samples as asked drops nothing even when a
			// publish comes late.
			pub := time.Duration(sc.PublishingInterval)
			sampling := cmp.Or(time.Duration(sc.SamplingInterval), pub/10)
			sc.QueueSize = uint32(min(2*((pub+sampling-1)/sampling)+1, maxAutoQueue))
		}
	}
}

func (c *Config) validate() error {
	if c.Name == "" {
		return errors.New("name: required")
	}
	if len(c.Servers) == 0 {
		return errors.New("servers: at least one required")
	}
	seen := map[string]bool{}
	for i := range c.Servers {
		s := &c.Servers[i]
		p := fmt.Sprintf("servers[%d]", i)
		if s.Name == "" || seen[s.Name] {
			return fmt.Errorf("%s.name: required and unique, got %q", p, s.Name)
		}
		seen[s.Name] = true
		if err := s.validate(p); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) validate(p string) error {
	id := s.Identity
	switch {
	case s.Endpoint == "":
		return fmt.Errorf("%s.endpoint: required", p)
	case s.Policy != "None" && s.Policy != "Basic256Sha256":
		return fmt.Errorf("%s.security_policy: want None or Basic256Sha256, got %q", p, s.Policy)
	case s.Policy == "None" && s.Mode != "None", s.Policy != "None" && s.Mode != "Sign" && s.Mode != "SignAndEncrypt":
		return fmt.Errorf("%s.security_mode: %q does not go with policy %s", p, s.Mode, s.Policy)
	case s.Policy == "None" && !s.Insecure:
		return fmt.Errorf("%s.insecure: policy None cannot authenticate the server; set insecure: true to accept that", p)
	case !s.Insecure && len(s.Trust) == 0:
		return fmt.Errorf("%s.trust: required unless insecure", p)
	case (s.Certificate == "") != (s.Key == ""):
		return fmt.Errorf("%s.certificate: certificate and key go together", p)
	case id.Type == "username" && id.Username == "":
		return fmt.Errorf("%s.identity.username: required for username identity", p)
	case id.Type == "certificate" && (id.Certificate == "" || id.Key == ""):
		return fmt.Errorf("%s.identity.certificate: certificate and key required for certificate identity", p)
	case id.Type != "anonymous" && id.Type != "username" && id.Type != "certificate":
		return fmt.Errorf("%s.identity.type: want anonymous, username or certificate, got %q", p, id.Type)
	case len(s.Nodes) == 0:
		return fmt.Errorf("%s.nodes: at least one required", p)
	}
	groups := map[string]string{}
	for j, g := range s.Subscriptions {
		if g.Name == "" || groups[g.Name] != "" {
			return fmt.Errorf("%s.subscriptions[%d].name: required and unique across groups, got %q", p, j, g.Name)
		}
		groups[g.Name] = "subscription"
	}
	for j, g := range s.PollGroups {
		if g.Name == "" || groups[g.Name] != "" {
			return fmt.Errorf("%s.poll_groups[%d].name: required and unique across groups, got %q", p, j, g.Name)
		}
		if g.Interval <= 0 {
			return fmt.Errorf("%s.poll_groups[%d].interval: must be positive", p, j)
		}
		groups[g.Name] = "poll"
	}
	names := map[string]bool{}
	for j, n := range s.Nodes {
		np := fmt.Sprintf("%s.nodes[%d]", p, j)
		if n.Name == "" || names[n.Name] {
			return fmt.Errorf("%s.name: required and unique, got %q", np, n.Name)
		}
		names[n.Name] = true
		if _, err := parseNodeID(n.NodeID); err != nil {
			return fmt.Errorf("%s.node_id: %w", np, err)
		}
		switch {
		case (n.Subscription == "") == (n.PollGroup == ""):
			return fmt.Errorf("%s: exactly one of subscription or poll_group required", np)
		case n.Subscription != "" && groups[n.Subscription] != "subscription":
			return fmt.Errorf("%s.subscription: unknown subscription %q", np, n.Subscription)
		case n.PollGroup != "" && groups[n.PollGroup] != "poll":
			return fmt.Errorf("%s.poll_group: unknown poll group %q", np, n.PollGroup)
		case n.Deadband != nil && n.Deadband.Type != "absolute" && n.Deadband.Type != "percent":
			return fmt.Errorf("%s.deadband.type: want absolute or percent, got %q", np, n.Deadband.Type)
		case n.Deadband != nil && n.Deadband.Value < 0:
			return fmt.Errorf("%s.deadband.value: must not be negative", np)
		}
	}
	return nil
}

// String hides the password, so printing a config never leaks it.
func (i Identity) String() string {
	pw := ""
	if i.Password != "" {
		pw = "[redacted]"
	}
	return fmt.Sprintf("{type:%s username:%s password:%s certificate:%s}", i.Type, i.Username, pw, i.Certificate)
}
