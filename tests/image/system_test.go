// Package image boots the gateway system under qemu-system-aarch64: Debian's
// arm64 kernel, busybox-static:arm64 and the static musl agent, with the
// overlay, init scripts, users, permissions and genimage layout of the
// Buildroot tree in buildroot/ (used from there, not copied), and checks
// the whole chain against real services on the host.
package image

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/testenv"
)

var (
	repo     = testenv.RepoRoot()
	boardDir = filepath.Join(repo, "buildroot", "board", "streamforge")
)

// Guest-side addresses of qemu's user network.
const (
	guestIP   = "10.0.2.15"
	hostAlias = "10.0.2.100" // guestfwd: 10.0.2.100:PORT -> host 127.0.0.1:PORT
	execPort  = "7000"       // guestbridge's command endpoint
	guestMetr = "9090"       // the agent's metrics listener in the test config
	agentUID  = "900"        // buildroot/board/streamforge/common/users.table
	muslSpecs = "/usr/lib/aarch64-linux-musl/musl-gcc.specs"
)

// tools returns the host programs and Debian arm64 files the boot needs, or
// reports the missing one (a failure under STREAMFORGE_REQUIRE_SERVICES=1).
type tools struct {
	kernel, modules, busybox string
}

func findTools(t *testing.T) tools {
	t.Helper()
	for _, p := range []struct{ bin, pkg string }{
		{"qemu-system-aarch64", "qemu-system-arm"}, {"qemu-aarch64-static", "qemu-user-static"},
		{"genext2fs", "genext2fs"}, {"genimage", "genimage"}, {"mke2fs", "e2fsprogs"}, {"debugfs", "e2fsprogs"}, {"e2fsck", "e2fsprogs"},
		{"cpio", "cpio"}, {"socat", "socat"}, {"aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"},
	} {
		if _, err := exec.LookPath(p.bin); err != nil {
			testenv.Missing(t, "%s (Debian package %s; scripts/install-deps.sh)", p.bin, p.pkg)
		}
	}
	if _, err := os.Stat(muslSpecs); err != nil {
		testenv.Missing(t, "%s for `make agent-arm64-musl` (apt-get install musl-dev:arm64)", muslSpecs)
	}
	kernels, _ := filepath.Glob("/boot/vmlinuz-*-arm64")
	if len(kernels) == 0 {
		testenv.Missing(t, "/boot/vmlinuz-*-arm64 (dpkg --add-architecture arm64; apt-get install linux-image-arm64:arm64)")
	}
	sort.Strings(kernels)
	kernel := kernels[len(kernels)-1]
	modules := filepath.Join("/usr/lib/modules", strings.TrimPrefix(filepath.Base(kernel), "vmlinuz-"))
	if _, err := os.Stat(filepath.Join(modules, "modules.dep")); err != nil {
		testenv.Missing(t, "modules of %s: %v", kernel, err)
	}
	busybox := "/bin/busybox"
	if f, err := elf.Open(busybox); err != nil || f.Machine != elf.EM_AARCH64 {
		testenv.Missing(t, "arm64 %s (apt-get install busybox-static:arm64)", busybox)
	}
	return tools{kernel: kernel, modules: modules, busybox: busybox}
}

// run runs a host command and fails the test with its output on error.
func run(t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// buildBinaries builds the static musl agent with `make agent-arm64-musl`
// and the test's guest bridge.
func buildBinaries(t *testing.T, dir string) (agent, bridge string) {
	t.Helper()
	run(t, repo, nil, "make", "--no-print-directory", "agent-arm64-musl", "BIN="+dir)
	agent = filepath.Join(dir, "streamforge-agent-linux-arm64-musl")
	bridge = filepath.Join(dir, "guestbridge")
	run(t, repo, []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"}, "go", "build", "-trimpath",
		"-ldflags", "-s -w", "-o", bridge, "./tests/image/guestbridge")
	return agent, bridge
}

// siteFiles are what a site puts into the image besides the common
// overlay: the agent's config and control plane variables, and the
// step-ca root; mode and owner come from the device table.
type siteFiles struct {
	agentYAML, agentEnv string
	stepcaRoot          []byte
	forwardPorts        []string // host services the guest reaches on its 127.0.0.1
	tpmPort             string
}

// buildDisk assembles the root filesystem (busybox, the agent, the
// overlay, users and permissions of the Buildroot tree) and lays out the
// disk with the qemu board's genimage.cfg: root partition, data partition.
func buildDisk(t *testing.T, tl tools, dir, agentBin, bridgeBin string, site siteFiles) string {
	t.Helper()
	root := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "usr/libexec/streamforge-test", "etc/init.d", "proc", "sys", "dev", "tmp", "run", "root", "var"} {
		mkdir(t, filepath.Join(root, d))
	}
	copyFile(t, tl.busybox, filepath.Join(root, "bin/busybox"), 0o755)
	for _, applet := range strings.Fields(string(run(t, dir, nil, "qemu-aarch64-static", tl.busybox, "--list-full"))) {
		link := filepath.Join(root, applet)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		mkdir(t, filepath.Dir(link))
		if err := os.Symlink("/bin/busybox", link); err != nil {
			t.Fatal(err)
		}
	}
	copyTree(t, filepath.Join(boardDir, "common", "rootfs-overlay"), root)
	writeUsers(t, root)
	copyFile(t, agentBin, filepath.Join(root, "usr/bin/streamforge-agent"), 0o755)
	copyFile(t, bridgeBin, filepath.Join(root, "usr/libexec/streamforge-test/guestbridge"), 0o755)
	writeFile(t, filepath.Join(root, "etc/streamforge/agent.yaml"), site.agentYAML, 0o640)
	writeFile(t, filepath.Join(root, "etc/streamforge/agent.env"), site.agentEnv, 0o600)
	writeFile(t, filepath.Join(root, "etc/streamforge/stepca-root.pem"), string(site.stepcaRoot), 0o640)
	// Test VM only: the network (a real image gets it by DHCP) and the
	// guest bridge (vTPM, loopback forwards, command endpoint). rcS runs
	// it before S01streamforge-data, which opens /dev/tpmrm0 to the agent.
	writeFile(t, filepath.Join(root, "etc/init.d/S00streamforge-test"), fmt.Sprintf(`#!/bin/sh
[ "$1" = start ] || exit 0
ip link set lo up
ip link set eth0 up
ip addr add %s/24 dev eth0
/usr/libexec/streamforge-test/guestbridge -remote %s -forward %s -tpm %s -exec %s:%s >/dev/console 2>&1 &
i=0
while [ ! -c /dev/tpmrm0 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
`, guestIP, hostAlias, strings.Join(site.forwardPorts, ","), site.tpmPort, guestIP, execPort), 0o755)

	table := filepath.Join(dir, "device_table.txt")
	shared, err := os.ReadFile(filepath.Join(boardDir, "common", "device_table.txt"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, table, string(shared)+"/etc/streamforge/stepca-root.pem\tf\t640\t0\t"+agentUID+"\t-\t-\t-\t-\t-\n", 0o644)
	images := filepath.Join(dir, "images")
	mkdir(t, images)
	run(t, dir, nil, "genext2fs", "-U", "-N", "2048", "-b", "65536", "-d", root, "-D", table, filepath.Join(images, "rootfs.ext4"))
	mkdir(t, filepath.Join(dir, "genimage-root"))
	run(t, dir, nil, "genimage", "--rootpath", filepath.Join(dir, "genimage-root"), "--tmppath", filepath.Join(dir, "genimage-tmp"),
		"--inputpath", images, "--outputpath", images, "--config", filepath.Join(boardDir, "qemu-aarch64-virt", "genimage.cfg"))
	return filepath.Join(images, "disk.img")
}

// writeUsers writes passwd and group with the users of the Buildroot
// users table (makeusers format: name uid group gid password home shell
// groups comment), as Buildroot's makeusers would.
func writeUsers(t *testing.T, root string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(boardDir, "common", "users.table"))
	if err != nil {
		t.Fatal(err)
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\n"
	groups := map[string][]string{}
	gids := map[string]int{"root": 0}
	nextGID := 901
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 8 || strings.HasPrefix(f[0], "#") {
			continue
		}
		home, shell := f[5], f[6]
		if home == "-" {
			home = "/"
		}
		if shell == "-" {
			shell = "/bin/false"
		}
		gid, _ := strconv.Atoi(f[3])
		gids[f[2]] = gid
		passwd += fmt.Sprintf("%s:x:%s:%d:%s:%s:%s\n", f[0], f[1], gid, strings.Join(f[8:], " "), home, shell)
		if f[7] != "-" {
			for _, g := range strings.Split(f[7], ",") {
				if _, ok := gids[g]; !ok {
					gids[g] = nextGID
					nextGID++
				}
				groups[g] = append(groups[g], f[0])
			}
		}
	}
	var group strings.Builder
	names := make([]string, 0, len(gids))
	for g := range gids {
		names = append(names, g)
	}
	sort.Slice(names, func(i, j int) bool { return gids[names[i]] < gids[names[j]] })
	for _, g := range names {
		fmt.Fprintf(&group, "%s:x:%d:%s\n", g, gids[g], strings.Join(groups[g], ","))
	}
	writeFile(t, filepath.Join(root, "etc/passwd"), passwd, 0o644)
	writeFile(t, filepath.Join(root, "etc/group"), group.String(), 0o644)
	writeFile(t, filepath.Join(root, "etc/shadow"), "root:*:::::::\n", 0o600)
}

// Modules the Debian kernel needs for this VM; the image's own kernel has
// these drivers built in (and the TIS driver instead of the vTPM proxy).
var initrdModules = []string{"virtio_mmio", "virtio_blk", "virtio_net", "virtio-rng", "crc32c_generic", "ext4", "tpm_vtpm_proxy"}

// buildInitramfs makes the test VM's initramfs: it loads the modules,
// mounts the root partition read-only and hands over to BusyBox init on it.
func buildInitramfs(t *testing.T, tl tools, dir string) string {
	t.Helper()
	ird := filepath.Join(dir, "initramfs")
	mkdir(t, filepath.Join(ird, "bin"))
	mkdir(t, filepath.Join(ird, "lib/modules"))
	copyFile(t, tl.busybox, filepath.Join(ird, "bin/busybox"), 0o755)
	deps := map[string][]string{}
	byName := map[string]string{}
	dep, err := os.ReadFile(filepath.Join(tl.modules, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(dep)) {
		mod, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		deps[mod] = strings.Fields(rest)
		byName[strings.TrimSuffix(filepath.Base(mod), ".ko")] = mod
	}
	var order []string
	seen := map[string]bool{}
	var add func(mod string)
	add = func(mod string) {
		if seen[mod] {
			return
		}
		seen[mod] = true
		for _, d := range deps[mod] {
			add(d)
		}
		order = append(order, filepath.Base(mod))
		copyFile(t, filepath.Join(tl.modules, mod), filepath.Join(ird, "lib/modules", filepath.Base(mod)), 0o644)
	}
	for _, name := range initrdModules {
		mod, ok := byName[name]
		if !ok {
			t.Fatalf("module %s not in %s", name, tl.modules)
		}
		add(mod)
	}
	writeFile(t, filepath.Join(ird, "init"), `#!/bin/busybox sh
bb=/bin/busybox
$bb mkdir -p /proc /sys /dev /newroot
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
for m in `+strings.Join(order, " ")+`; do $bb insmod /lib/modules/$m; done
i=0
while [ ! -b /dev/vda1 ] && [ $i -lt 300 ]; do $bb sleep 0.1; i=$((i+1)); done
$bb mount -t ext4 -o ro /dev/vda1 /newroot || $bb poweroff -f
$bb umount /proc /sys
$bb mount --move /dev /newroot/dev
exec $bb switch_root /newroot /sbin/init
`, 0o755)
	out := filepath.Join(dir, "initramfs.cpio")
	cmd := exec.Command("sh", "-c", "find . | cpio -o -H newc -R 0:0 --quiet > "+out)
	cmd.Dir = ird
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio: %v\n%s", err, b)
	}
	return out
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, body string, mode os.FileMode) {
	t.Helper()
	mkdir(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(b), mode)
}

// copyTree copies the overlay with its files' modes (as Buildroot's
// rsync of BR2_ROOTFS_OVERLAY does).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(dst, info.Mode().Perm())
		}
		copyFile(t, p, dst, info.Mode().Perm())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// vm is one boot of the system under qemu-system-aarch64.
type vm struct {
	cmd     *exec.Cmd
	started time.Time
	execURL string
	metrics string
	done    chan struct{}
	mu      sync.Mutex
	console bytes.Buffer
	stdin   io.WriteCloser
}

type vmConfig struct {
	kernel, initrd, disk string
	forwardPorts         []string // guest 10.0.2.100:P -> host 127.0.0.1:P
	tpmPort              string
}

// boot starts qemu with user networking restricted to the forwards: the
// guest reaches the host's 127.0.0.1:P for each forwarded port and nothing
// else; the host reaches the guest's command endpoint and metrics on its
// own 127.0.0.1.
func boot(t *testing.T, c vmConfig) *vm {
	t.Helper()
	execAddr, metricsAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	netdev := "user,id=n0,restrict=on" +
		",hostfwd=tcp:" + execAddr + "-" + guestIP + ":" + execPort +
		",hostfwd=tcp:" + metricsAddr + "-" + guestIP + ":" + guestMetr
	for _, p := range append(append([]string{}, c.forwardPorts...), c.tpmPort) {
		netdev += ",guestfwd=tcp:" + hostAlias + ":" + p + "-cmd:socat - TCP:127.0.0.1:" + p
	}
	v := &vm{execURL: "http://" + execAddr, metrics: "http://" + metricsAddr + "/metrics", done: make(chan struct{})}
	v.cmd = exec.Command("qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-smp", "2", "-m", "512",
		"-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", c.kernel, "-initrd", c.initrd,
		"-append", "console=ttyAMA0 root=/dev/vda1 ro streamforge.data=/dev/vda2 panic=-1 quiet",
		"-drive", "file="+c.disk+",if=none,format=raw,id=disk0", "-device", "virtio-blk-device,drive=disk0",
		"-netdev", netdev, "-device", "virtio-net-device,netdev=n0",
		"-device", "virtio-rng-device")
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := v.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	v.cmd.Stderr = v.cmd.Stdout
	// Keep the console's input open: getty waits on it instead of respawning.
	if v.stdin, err = v.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	v.started = time.Now()
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		// STREAMFORGE_IMAGE_CONSOLE=file keeps every boot's console there.
		var keep io.Writer = io.Discard
		if p := os.Getenv("STREAMFORGE_IMAGE_CONSOLE"); p != "" {
			if f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
				defer f.Close()
				keep = f
			}
		}
		for sc.Scan() {
			fmt.Fprintf(keep, "%6.1fs %s\n", time.Since(v.started).Seconds(), sc.Text())
			v.mu.Lock()
			v.console.WriteString(sc.Text() + "\n")
			v.mu.Unlock()
		}
		_ = v.cmd.Wait()
		close(v.done)
	}()
	t.Cleanup(func() {
		v.powerCut()
		if t.Failed() {
			t.Logf("console:\n%s", v.tail(12000))
		}
	})
	return v
}

// powerCut stops the VM the hard way: no shutdown, no sync.
func (v *vm) powerCut() {
	_ = v.cmd.Process.Kill()
	<-v.done
	v.stdin.Close()
}

func (v *vm) tail(n int) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.console.String()
	return s[max(0, len(s)-n):]
}

func (v *vm) consoleText() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.console.String()
}

// waitFor polls cond until it holds or limit passes.
func (v *vm) waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		select {
		case <-v.done:
			t.Fatalf("VM stopped while waiting for %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("timed out after %s waiting for %s", limit, what)
}

// sh runs script as root in the guest and returns its output and exit code.
func (v *vm) sh(t *testing.T, script string) (string, int) {
	t.Helper()
	res, err := http.Post(v.execURL, "text/plain", strings.NewReader(script))
	if err != nil {
		t.Fatalf("guest command %q: %v", script, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	code, _ := strconv.Atoi(res.Header.Get("X-Exit-Code"))
	return string(out), code
}

// reachable reports whether the guest's command endpoint answers.
func (v *vm) reachable() bool {
	c := http.Client{Timeout: 2 * time.Second}
	res, err := c.Post(v.execURL, "text/plain", strings.NewReader("true"))
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// metric reads one series of the agent's /metrics (-1 when unreachable).
func (v *vm) metric(series string) float64 {
	c := http.Client{Timeout: 2 * time.Second}
	res, err := c.Get(v.metrics)
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return testenv.MetricValue(string(body), series)
}

// dataPartition reads the GPT of disk (as genimage wrote it) and returns
// the byte range of its second partition, the data partition.
func dataPartition(t *testing.T, f *os.File) (off, size int64) {
	t.Helper()
	hdr := make([]byte, 92)
	if _, err := f.ReadAt(hdr, 512); err != nil || string(hdr[:8]) != "EFI PART" {
		t.Fatalf("%s: no GPT header (%v)", f.Name(), err)
	}
	entries := int64(binary.LittleEndian.Uint64(hdr[72:80])) * 512
	esize := int64(binary.LittleEndian.Uint32(hdr[84:88]))
	entry := make([]byte, esize)
	if _, err := f.ReadAt(entry, entries+esize); err != nil {
		t.Fatal(err)
	}
	first, last := int64(binary.LittleEndian.Uint64(entry[32:40])), int64(binary.LittleEndian.Uint64(entry[40:48]))
	return first * 512, (last - first + 1) * 512
}

// extractBuffer copies the agent's buffer file out of the data partition
// of disk after a power cut: e2fsck on a copy of the partition replays the
// ext4 journal as the next boot would, then debugfs reads the file.
func extractBuffer(t *testing.T, disk string) string {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	off, size := dataPartition(t, f)
	part := filepath.Join(dir, "data.ext4")
	out, err := os.Create(part)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, io.NewSectionReader(f, off, size)); err != nil {
		t.Fatal(err)
	}
	out.Close()
	fsck := exec.Command("e2fsck", "-fy", part)
	msg, err := fsck.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) { // 1: errors corrected (journal replayed)
		t.Fatalf("e2fsck of the data partition: %v\n%s", err, msg)
	}
	t.Logf("e2fsck of the data partition after the power cut:\n%s", msg)
	buf := filepath.Join(dir, "buffer.db")
	run(t, "", nil, "debugfs", "-R", "dump /streamforge/buffer.db "+buf, part)
	if _, err := os.Stat(buf); err != nil {
		t.Fatalf("buffer.db not found on the data partition: %v", err)
	}
	return buf
}
