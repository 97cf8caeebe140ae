package benchutil

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Machine describes the machine and the software of a benchmark run.
type Machine struct {
	Date      string `json:"date"`
	Host      string `json:"host"`
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	MemTotal  string `json:"mem_total"`
	Kernel    string `json:"kernel"`
	Terraform string `json:"terraform"`
	Go        string `json:"go"`
	LoadAvg   string `json:"loadavg"`
}

// ReadMachine reads the machine, its load and the Terraform CLI's version.
func ReadMachine(ctx context.Context, terraform string) Machine {
	m := Machine{Date: time.Now().UTC().Format(time.RFC3339), CPUs: runtime.NumCPU(), Go: runtime.Version()}
	m.Host, _ = os.Hostname()
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	m.MemTotal = procField("/proc/meminfo", "MemTotal")
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	m.Terraform = "unknown"
	if out, err := exec.CommandContext(ctx, terraform, "version", "-json").Output(); err == nil {
		var v struct {
			Version  string `json:"terraform_version"`
			Platform string `json:"platform"`
		}
		if json.Unmarshal(out, &v) == nil {
			m.Terraform = v.Version + " " + v.Platform
		}
	}
	return m
}

// Print prints the machine above a benchmark's figures.
func (m Machine) Print(w io.Writer) {
	fmt.Fprintf(w, "apphost provider benchmark  %s\n", m.Date)
	fmt.Fprintf(w, "machine:   %s, %d CPUs (nproc), %s, %s RAM, Linux %s, load %s\n",
		m.Host, m.CPUs, m.CPUModel, m.MemTotal, m.Kernel, m.LoadAvg)
	fmt.Fprintf(w, "software:  Terraform %s, %s\n", m.Terraform, m.Go)
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "unknown"
}
