package exec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procStat is what /proc/PID/stat says of a process that we need.
type procStat struct {
	pid, pgrp  int
	state      byte
	startTicks uint64 // field 22: start time in clock ticks since boot
}

// live reports whether the process runs: a zombie (exited, not yet reaped:
// an orphan under a PID 1 that does not reap stays one) does not.
func (s procStat) live() bool { return s.state != 'Z' && s.state != 'X' && s.state != 'x' }

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(pid, b)
}

// parseStat parses a stat line. The command name (field 2) is in parentheses
// and may itself hold spaces and parentheses: the fields start after the last
// ')'.
func parseStat(pid int, b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field N is f[N-3].
	if len(f) < 22-3+1 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	pgrp, err1 := strconv.Atoi(f[5-3])
	ticks, err2 := strconv.ParseUint(f[22-3], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return procStat{pid: pid, pgrp: pgrp, state: f[0][0], startTicks: ticks}, nil
}

// sameProcess reports whether pid is still the live process that started at
// ticks (a PID that was reused is another process).
func sameProcess(pid int, ticks uint64) bool {
	st, err := readStat(pid)
	return err == nil && st.live() && st.startTicks == ticks
}

// processes returns the stat of every process, skipping those that went
// while we read.
func processes() ([]procStat, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := make([]procStat, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		if st, err := readStat(pid); err == nil {
			out = append(out, st)
		}
	}
	return out, nil
}

// groupMembers returns the live processes of process group pgid.
func groupMembers(pgid int) ([]int, error) {
	all, err := processes()
	if err != nil {
		return nil, err
	}
	var out []int
	for _, st := range all {
		if st.pgrp == pgid && st.live() {
			out = append(out, st.pid)
		}
	}
	return out, nil
}

// leadersByEnv returns the live process group leaders whose environment
// holds key=VALUE, by VALUE: the processes an App Host started, found even
// without their pid record.
func leadersByEnv(key string) (map[string][]procStat, error) {
	all, err := processes()
	if err != nil {
		return nil, err
	}
	out := map[string][]procStat{}
	prefix := []byte(key + "=")
	self := os.Getpid()
	for _, st := range all {
		if st.pid != st.pgrp || !st.live() || st.pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + strconv.Itoa(st.pid) + "/environ")
		if err != nil {
			continue // gone, or not ours to read
		}
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, prefix); ok {
				out[string(v)] = append(out[string(v)], st)
				break
			}
		}
	}
	return out, nil
}

// signalGroup sends sig to every process of group pgid; a group that is
// already gone is no error.
func signalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		return fmt.Errorf("refusing to signal process group %d", pgid)
	}
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %d to process group %d: %w", sig, pgid, err)
	}
	return nil
}
