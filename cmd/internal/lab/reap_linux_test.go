package lab

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestStopDetachedReapsChild: a detached process this program started
// and stopped leaves no zombie behind (an experiment starts and stops a
// lab's nodes and proxy daemon for every run).
func TestStopDetachedReapsChild(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep program")
	}
	out, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	pid, err := startDetached(sleep, []string{"60"}, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := stopDetached(pid, 5*time.Second, func() bool { return pidAlive(pid) }); err != nil {
		t.Fatal(err)
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return // gone: reaped
	}
	// The pid may have been given to another process since; a zombie
	// child of this program is what must not be there.
	i := bytes.LastIndexByte(stat, ')')
	f := bytes.Fields(stat[i+1:])
	if len(f) > 1 && string(f[0]) == "Z" && string(f[1]) == strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid %d is a zombie child of this program: %s", pid, stat)
	}
}
