package lab

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// sysProcAttr returns the process attributes of a node. Attached nodes
// get SIGKILL when this program dies (Pdeathsig), so a crashed or timed-out
// test leaves no quarryd behind; detached ones run in their own session
// and survive the command that started them.
func sysProcAttr(attached bool) *syscall.SysProcAttr {
	if attached {
		return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	}
	return &syscall.SysProcAttr{Setsid: true}
}

// processAlive reports whether pid is a live (not zombie) quarryd running
// with dataDir: a recycled pid belonging to another program is not ours.
func processAlive(pid int, dataDir string) bool { return processRunsWith(pid, "--datadir", dataDir) }

// processRunsWith reports whether pid is a live (not zombie) process whose
// command line has the argument flag followed by value.
func processRunsWith(pid int, flag, value string) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
	ours := false
	for i := 0; i+1 < len(args); i++ {
		if string(args[i]) == flag && string(args[i+1]) == value {
			ours = true
		}
	}
	if !ours {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// Field 3 (after "pid (comm)") is the state; Z is a zombie.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	return true
}

// pidAlive reports whether pid exists and is not a zombie, whatever its
// command line (a child just forked shows its parent's until it execs).
func pidAlive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
