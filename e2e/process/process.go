// Package process runs the local programs of the e2e harness: the control plane's components
// (e2e/cluster), the product's binaries (e2e/system) and the real step processes
// (e2e/steprunner). Every process gets its own process group, dies with the test binary however
// that ends, and writes its output to a log file; and every port is a free loopback port, so
// parallel test packages never collide.
package process

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Spec says what to run.
type Spec struct {
	Name    string   // for messages
	Bin     string   // the executable
	Args    []string //
	Env     []string // added to the harness's own environment (see CleanEnv to replace it)
	LogPath string   // stdout and stderr go here, appended to, after a "# command" header line
	// CleanEnv runs the process with Env only, not the harness's environment (a step must not
	// see the test's KUBECONFIG, credentials or Go settings).
	CleanEnv bool
	Dir      string // working folder; empty: the harness's
	// NoHeader leaves out the "# command" header line (the log is the program's output only).
	NoHeader bool
}

// Process is one running program.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	err     error         // exit status, valid after done
}

// Start starts the program.
func Start(s Spec) (*Process, error) {
	f, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	cmd := exec.Command(s.Bin, s.Args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = s.Dir
	if s.CleanEnv {
		cmd.Env = append([]string{}, s.Env...)
	} else {
		cmd.Env = append(os.Environ(), s.Env...)
	}
	// Own process group (a signal reaches its children too); SIGKILL if the harness dies
	// without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if !s.NoHeader {
		fmt.Fprintf(f, "# %s %s\n", s.Bin, strings.Join(s.Args, " "))
		if len(s.Env) > 0 && !s.CleanEnv {
			fmt.Fprintf(f, "# env %s\n", strings.Join(s.Env, " "))
		}
	}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	p := &Process{Name: s.Name, LogPath: s.LogPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the exit status (nil for exit code 0); valid once Done is closed.
func (p *Process) Err() error { return p.err }

// ExitCode is the process's exit code once Done is closed: -1 if a signal ended it.
func (p *Process) ExitCode() int { return p.cmd.ProcessState.ExitCode() }

// Exited reports, without blocking, whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Pid is the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM to the process group, then SIGKILL after grace, and waits for the exit.
func (p *Process) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Kill ends the process group at once, as a crash would, and waits for the exit.
func (p *Process) Kill() {
	if !p.Exited() {
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	}
	<-p.done
}

// PeakRSS returns VmHWM (peak resident set size) in bytes from /proc/<pid>/status; the process
// must not have been reaped yet.
func (p *Process) PeakRSS() (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM")
}

// CPUTime returns the user+system CPU time the process has used, from /proc/<pid>/stat.
func (p *Process) CPUTime() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	if err != nil {
		return 0, err
	}
	// fields after the parenthesised command name; utime and stime are fields 14 and 15
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

// Tail returns the last n lines of the process log, for error messages.
func (p *Process) Tail(n int) string {
	data, _ := os.ReadFile(p.LogPath)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitFor polls check every 100 ms until it returns nil; it fails at once if the process exits
// (with the log's last lines), or when ctx or timeout ends. p may be nil: then only the check
// and the time count.
func (p *Process) WaitFor(ctx context.Context, what string, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited (%v) before %s; last log lines:\n%s", p.Name, p.err, what, p.Tail(30))
		}
		select {
		case <-ctx.Done():
			msg := ""
			if p != nil {
				msg = "; last log lines of " + p.Name + ":\n" + p.Tail(30)
			}
			return fmt.Errorf("waiting for %s: %w (last error: %v)%s", what, ctx.Err(), last, msg)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitUntil polls check every 100 ms until it returns nil or ctx/timeout ends.
func WaitUntil(ctx context.Context, what string, timeout time.Duration, check func(context.Context) error) error {
	return (*Process)(nil).WaitFor(ctx, what, timeout, check)
}

// FreePorts asks the kernel for n distinct free loopback TCP ports.
func FreePorts(n int) ([]int, error) {
	// hold all listeners until every port is chosen, so the n ports differ
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// FreePort asks the kernel for one free loopback TCP port.
func FreePort() (int, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}
