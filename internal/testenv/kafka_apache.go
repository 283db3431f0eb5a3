package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// KafkaVersion is the Apache Kafka release the tests run (tests/kafka/pom.xml).
const KafkaVersion = "4.4.0"

// StartKafka starts Apache Kafka in KRaft mode (one combined broker and
// controller, PLAINTEXT on a free loopback port) from the jars that
// `make kafka-jars` caches, fetching them with mvn when they are missing. The
// data directory persists across Stop/Start (KafkaOpts.Persist is implied).
// With KafkaOpts' SCRAM user or TLS certificate, Addr is a second listener
// that requires them (SASL_SSL, SASL_PLAINTEXT or SSL), as production runs.
func StartKafka(t testing.TB, opts KafkaOpts) *Broker {
	t.Helper()
	return startKafkaCluster(t, 1, opts).Nodes[0]
}

// KafkaCluster is Apache Kafka nodes in KRaft mode, each a combined broker
// and controller (node.id i+1 is Nodes[i]), that can be killed and started
// one by one. With three nodes, topics are created with replication factor
// 3 and min.insync.replicas 2, as production runs them; a lone node has 1
// and 1.
type KafkaCluster struct {
	Nodes []*Broker
}

// Addrs is the bootstrap list of every node.
func (c *KafkaCluster) Addrs() string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return strings.Join(addrs, ",")
}

// StartKafkaCluster starts n nodes and returns once every one listens.
func StartKafkaCluster(t testing.TB, n int) *KafkaCluster {
	t.Helper()
	return startKafkaCluster(t, n, KafkaOpts{})
}

func startKafkaCluster(t testing.TB, n int, opts KafkaOpts) *KafkaCluster {
	t.Helper()
	java, err := exec.LookPath("java")
	if err != nil {
		Missing(t, "java (default-jre-headless) for Apache Kafka")
	}
	libs := kafkaLibs(t)
	rf, isr := min(n, 3), max(1, min(n, 3)-1)
	bports, cports := make([]int, n), make([]int, n)
	voters := make([]string, n)
	for i := range n {
		bports[i], cports[i] = freePort(t), freePort(t)
		voters[i] = fmt.Sprintf("%d@127.0.0.1:%d", i+1, cports[i])
	}
	// A small heap and the C1 compiler only: three brokers share two cores
	// with the agent.
	jvm := []string{"-Xms256m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", filepath.Join(libs, "*")}
	c := &KafkaCluster{}
	waits := make([]func(), n)
	for i := range n {
		dir := t.TempDir()
		props := filepath.Join(dir, "server.properties")
		writeFile(t, props, fmt.Sprintf(`process.roles=broker,controller
node.id=%[1]d
controller.quorum.voters=%[2]s
listeners=PLAINTEXT://127.0.0.1:%[3]d,CONTROLLER://127.0.0.1:%[4]d
advertised.listeners=PLAINTEXT://127.0.0.1:%[3]d
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=%[5]s
num.partitions=3
default.replication.factor=%[6]d
min.insync.replicas=%[7]d
unclean.leader.election.enable=false
offsets.topic.replication.factor=%[6]d
transaction.state.log.replication.factor=%[6]d
transaction.state.log.min.isr=%[7]d
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
`, i+1, strings.Join(voters, ","), bports[i], cports[i], filepath.Join(dir, "data"), rf, isr))
		clientAddr := fmt.Sprintf("127.0.0.1:%d", bports[i])
		if opts.secure() { // clients use the protected listener; the nodes keep PLAINTEXT among themselves
			client := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			appendFile(t, props, opts.secureProps(t, clientAddr, fmt.Sprintf("127.0.0.1:%d", cports[i]), client))
			clientAddr = client
		}
		format := exec.Command(java, append(append(jvm, "kafka.tools.StorageTool", "format", "-t", "MkU3OEVBNTcwNTJENDM2Qg", "-c", props), opts.scramArgs()...)...)
		if out, err := format.CombinedOutput(); err != nil {
			t.Fatalf("format Kafka storage of node %d: %v\n%s", i+1, err, out)
		}
		b := &Broker{t: t, Addr: clientAddr}
		b.launch = func(int) *exec.Cmd {
			return exec.Command(java, append(jvm, "kafka.Kafka", props)...)
		}
		done, addr := b.spawn(bports[i], nil)
		waits[i] = func() { b.await(done, addr) }
		t.Cleanup(b.Stop)
		c.Nodes = append(c.Nodes, b)
	}
	for _, w := range waits {
		w()
	}
	return c
}

var kafkaJarsMu sync.Mutex

// kafkaLibs returns the directory of the broker's jars, fetching them once.
func kafkaLibs(t testing.TB) string {
	t.Helper()
	kafkaJarsMu.Lock()
	defer kafkaJarsMu.Unlock()
	home := os.Getenv("STREAMFORGE_KAFKA_HOME")
	if home == "" {
		cache := os.Getenv("STREAMFORGE_CACHE")
		if cache == "" {
			h, _ := os.UserHomeDir()
			cache = filepath.Join(h, ".cache", "streamforge")
		}
		home = filepath.Join(cache, "kafka-"+KafkaVersion)
	}
	libs := filepath.Join(home, "libs")
	if _, err := os.Stat(filepath.Join(libs, "kafka_2.13-"+KafkaVersion+".jar")); err == nil {
		return libs
	}
	if _, err := exec.LookPath("mvn"); err != nil {
		Missing(t, "Apache Kafka jars in %s and mvn (maven) to fetch them (make kafka-jars)", libs)
	}
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("find module root: %v", err)
	}
	script := filepath.Join(filepath.Dir(strings.TrimSpace(string(root))), "scripts", "kafka.sh")
	cmd := exec.Command(script, "jars")
	cmd.Env = append(os.Environ(), "KAFKA_VERSION="+KafkaVersion, "STREAMFORGE_CACHE="+filepath.Dir(home))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fetch Kafka jars: %v\n%s", err, out)
	}
	return libs
}

// freePort is FreeAddr's port, for the broker's server.properties.
func freePort(t testing.TB) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(FreeAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
