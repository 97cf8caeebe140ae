package exec

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// recordFile, in an app's directory, records its running process so that
// the next App Host process in the same directory can find it.
const recordFile = "pid"

// record is the content of recordFile. The process's start time (in clock
// ticks since boot, /proc/PID/stat field 22) tells it from another process
// that got its PID later.
type record struct {
	PID           int       `json:"pid"`
	PGID          int       `json:"pgid"`
	StartTicks    uint64    `json:"start_ticks"`
	StartedAt     time.Time `json:"started_at"`
	Generation    int64     `json:"generation"`
	StopTimeoutMS int64     `json:"stop_timeout_ms"`
}

func (r record) stopTimeout() time.Duration { return time.Duration(r.StopTimeoutMS) * time.Millisecond }

func writeRecord(appDir string, r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(appDir, recordFile), append(b, '\n'), 0o600)
}

// readRecord reads an app's record; ok is false when there is none.
func readRecord(appDir string) (r record, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(appDir, recordFile))
	if errors.Is(err, os.ErrNotExist) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, err
	}
	if err := json.Unmarshal(b, &r); err != nil || r.PID <= 1 || r.PGID <= 1 {
		return record{}, false, fmt.Errorf("%s is not a valid process record", filepath.Join(appDir, recordFile))
	}
	return r, true, nil
}

func removeRecord(appDir string) error {
	err := os.Remove(filepath.Join(appDir, recordFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
