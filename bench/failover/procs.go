package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one child process the driver started. Every proc is stopped by
// its own pid: by its owner during the run, and by [procs.stopAll] on the
// way out (an error, or Ctrl-C).
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been reaped
	err  error         // Wait's result, once done is closed
}

// procs is the registry of running children.
type procs struct {
	mu  sync.Mutex
	set map[*proc]bool
}

func newProcs() *procs { return &procs{set: map[*proc]bool{}} }

// start runs name with args, its stdout and stderr to logPath (appended),
// and reaps it in the background. If ready is not empty, start returns only
// once the child has printed a line equal to ready on its stdout (then
// further stdout goes to the log), or fails after limit.
func (ps *procs) start(name, logPath, ready string, limit time.Duration, bin string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = logf
	// The kernel kills the child if the driver dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out io.ReadCloser
	if ready != "" {
		if out, err = cmd.StdoutPipe(); err != nil {
			logf.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	} else {
		cmd.Stdout = logf
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: start: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	ps.mu.Lock()
	ps.set[p] = true
	ps.mu.Unlock()
	readyc := make(chan struct{})
	drained := make(chan struct{}) // the stdout reader has hit EOF
	if out == nil {
		close(drained)
	} else {
		go func() {
			defer close(drained)
			sc := bufio.NewScanner(out)
			seen := false
			for sc.Scan() {
				if !seen && strings.TrimSpace(sc.Text()) == ready {
					seen = true
					close(readyc)
					continue
				}
				fmt.Fprintln(logf, sc.Text())
			}
		}()
	}
	go func() {
		// Every read from the stdout pipe must be done before Wait,
		// which closes it; the reader hits EOF when the child exits.
		<-drained
		p.err = cmd.Wait()
		logf.Close()
		ps.mu.Lock()
		delete(ps.set, p)
		ps.mu.Unlock()
		close(p.done)
	}()
	if out == nil {
		return p, nil
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-readyc:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s: exited before it was ready: %v (log: %s)", name, p.err, logPath)
	case <-t.C:
		p.kill()
		return nil, fmt.Errorf("%s: not ready after %s (log: %s)", name, limit, logPath)
	}
}

// pid returns the child's process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// signal sends sig to the child.
func (p *proc) signal(sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s (pid %d): %s: %w", p.name, p.pid(), sig, err)
	}
	return nil
}

// kill ends the child at once (SIGKILL) and waits until it is reaped.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop asks the child to end (SIGCONT in case it is stopped, then
// SIGTERM), and kills it if it has not ended after grace.
func (p *proc) stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.kill()
	}
}

// stopAll stops every child still running, each by its pid.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	all := make([]*proc, 0, len(ps.set))
	for p := range ps.set {
		all = append(all, p)
	}
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stop(5 * time.Second)
		}()
	}
	wg.Wait()
}

// errTimeout marks a measurement that did not see the change in time.
var errTimeout = errors.New("no change seen before the limit")
