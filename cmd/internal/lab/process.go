package lab

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// ProcessOptions configure StartProcess.
type ProcessOptions struct {
	// Output receives the process's stdout and stderr (nil: discarded).
	// It must be safe for the copying goroutines of os/exec if it is not
	// an *os.File.
	Output io.Writer
	// Env is the environment (nil: this program's).
	Env []string
}

// Process is a child process attached to this program, started by
// StartProcess: a quarryd node of a test or benchmark lab, or any command
// a test runs (quarryctl, a second quarryd that must fail). On Linux it
// is killed when this program dies (Pdeathsig), so a crashed or timed-out
// test leaves nothing behind. Its methods are safe for concurrent use.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process was reaped
	err  error         // Wait's result, set before done is closed
}

// StartProcess starts bin with args. One goroutine waits for the process
// and ends when it does.
func StartProcess(bin string, args []string, opts ProcessOptions) (*Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = opts.Output, opts.Output
	cmd.Env = opts.Env
	cmd.SysProcAttr = sysProcAttr(true)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ErrStillRunning is returned by Wait when the process did not exit in time.
var ErrStillRunning = errors.New("process still running")

// Wait waits up to timeout for the process to exit by itself and
// returns its exit status (-1 if a signal ended it). The error is
// ErrStillRunning after the timeout, or an error of the wait itself.
func (p *Process) Wait(timeout time.Duration) (int, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		return 0, ErrStillRunning
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0, nil
	case errors.As(p.err, &ee):
		return ee.ExitCode(), nil
	}
	return 0, p.err
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Stop ends the process: SIGTERM, then SIGKILL after grace. It
// returns once the process is reaped.
func (p *Process) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.Kill()
	}
}

// Kill ends the process at once (SIGKILL, as a crash would) and
// returns once it is reaped.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// startDetached starts bin in its own session, so that it outlives this
// program (the CLI's nodes), and returns its pid.
func startDetached(bin string, args []string, output *os.File) (int, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = output, output
	cmd.SysProcAttr = sysProcAttr(false)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	return pid, nil
}
