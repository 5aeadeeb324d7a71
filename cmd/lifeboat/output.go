package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/layout"
	"github.com/lifeboat-dev/lifeboat/pkg/ops"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

// report prints err as the command line shows it: one line (two for a
// wrong use of a command: the error, then the command's usage line).
func report(w io.Writer, err error) {
	fmt.Fprintln(w, "lifeboat:", err)
	var ue *usageErr
	if errors.As(err, &ue) && ue.usage != "" {
		fmt.Fprintln(w, "usage:", ue.usage)
	}
}

// withUsage gives a usage error of command cmd the command's usage line.
func withUsage(err error, cmd string) {
	var ue *usageErr
	h, ok := commandHelp[cmd]
	if !errors.As(err, &ue) || ue.usage != "" || !ok {
		return
	}
	line, _, _ := strings.Cut(h, "\n")
	ue.usage = fmt.Sprintf("%s (lifeboat help %s lists the options)", line, cmd)
}

// errHelpShown is parse's answer to -h or --help: the command's help goes
// to stdout and the command ends there, successfully.
var errHelpShown = errors.New("help requested")

// flagError says what the flag package found wrong, with options spelt
// as the help spells them (--name).
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return errHelpShown
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return usageError("unknown option --" + strings.TrimPrefix(name, "-"))
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return usageError("option --" + strings.TrimPrefix(name, "-") + " needs a value")
	}
	if m := strings.Replace(msg, " flag -", " --", 1); m != msg {
		return usageError(m)
	}
	return usageError(strings.Replace(msg, " for -", " for --", 1))
}

// helpFor answers `lifeboat help TOPIC`: a command's help, or a usage error
// naming the commands there are.
func helpFor(w io.Writer, topic string) error {
	if h, ok := commandHelp[topic]; ok {
		fmt.Fprintln(w, h)
		return nil
	}
	names := make([]string, 0, len(commandHelp))
	for n := range commandHelp {
		names = append(names, n)
	}
	sort.Strings(names)
	return usageError(fmt.Sprintf("help %s: no such command; the commands are %s and help", topic, strings.Join(names, ", ")))
}

// writeJSON writes v as indented JSON, the one form every --json takes;
// keys are snake_case, as in the image format.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// captureJSON is capture's result with --json.
type captureJSON struct {
	Image    string        `json:"image"`
	ID       string        `json:"id"`
	Repo     string        `json:"repo"`
	Source   string        `json:"source"`
	Disk     image.Disk    `json:"disk"`
	Table    *ptable.Table `json:"table"`
	Stats    image.Stats   `json:"stats"`
	Warnings []string      `json:"warnings"`
}

func newCaptureJSON(m *image.Manifest, repoDir, source string) captureJSON {
	return captureJSON{Image: m.Name, ID: m.ID.String(), Repo: repoDir, Source: source, Disk: m.Disk,
		Table: m.Table, Stats: m.Stats, Warnings: append([]string{}, m.Warnings...)}
}

// restoreJSON is restore's result with --json, its keys those of clone's;
// with --plan, the plan (and what the target gets that is not in the
// image, changes) without a result.
type restoreJSON struct {
	Image       string      `json:"image"`
	ID          string      `json:"id"`
	Target      string      `json:"target"`
	Layout      layout.Kind `json:"layout"`
	PlannedOnly bool        `json:"planned_only,omitempty"`
	Plan        planJSON    `json:"plan"`

	BytesWritten int64                `json:"bytes_written"`
	Chunks       int64                `json:"chunks"`
	HoleBytes    int64                `json:"hole_bytes"`
	HolesLeft    bool                 `json:"holes_left,omitempty"` // --skip-holes: the target's bytes kept there
	Seconds      float64              `json:"seconds"`
	Verified     *engine.VerifyReport `json:"verified,omitempty"`
	Changes      []string             `json:"changes"`
	Boot         *engine.BootReport   `json:"boot,omitempty"`
	Warnings     []string             `json:"warnings"`
	// Result is "ok" or "failed" (with Error) for a restore that ran.
	Result string `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

// planJSON is a restore's plan as --json shows it: what writePlan prints.
type planJSON struct {
	SourceSize       int64          `json:"source_size"`
	SourceSectorSize int            `json:"source_sector_size"`
	TargetSize       int64          `json:"target_size"`
	TargetSectorSize int            `json:"target_sector_size"`
	Partitions       []planPartJSON `json:"partitions"`
	NewIDs           []newIDJSON    `json:"new_ids,omitempty"`
	ScratchBytes     int64          `json:"scratch_bytes,omitempty"`
	ScratchDir       string         `json:"scratch_dir,omitempty"`
	Skipped          []string       `json:"skipped"` // why the layouts before this one were not taken
}

type planPartJSON struct {
	Number      int    `json:"number"`
	Start       int64  `json:"start"`
	Size        int64  `json:"size"`
	SourceStart int64  `json:"source_start"`
	SourceSize  int64  `json:"source_size"`
	FS          string `json:"fs,omitempty"`
	FSLabel     string `json:"fs_label,omitempty"`
	Extended    bool   `json:"extended,omitempty"`
	Note        string `json:"note"`
}

type newIDJSON struct {
	Partition int    `json:"partition"` // 0: the disk
	What      string `json:"what"`
	Old       string `json:"old"`
	New       string `json:"new"`
	Tool      string `json:"tool,omitempty"`
}

func newRestoreJSON(job *ops.RestoreJob) restoreJSON {
	p, m := job.Plan, job.Image.M
	out := restoreJSON{Image: m.Name, ID: m.ID.String(), Target: job.Target.Path, Layout: p.Kind,
		Changes: append([]string{}, p.Changes...), Warnings: []string{}, Plan: planJSON{
			SourceSize: p.Source.Size, SourceSectorSize: p.Source.SectorSize,
			TargetSize: p.Target.Size, TargetSectorSize: p.Target.SectorSize,
			Partitions: []planPartJSON{}, ScratchBytes: p.Scratch(), Skipped: append([]string{}, p.Skipped...),
		}}
	if out.Plan.ScratchBytes > 0 {
		out.Plan.ScratchDir = job.Scratch()
	}
	for _, pt := range p.Parts {
		out.Plan.Partitions = append(out.Plan.Partitions, planPartJSON{Number: pt.Number, Start: pt.Start, Size: pt.Size,
			SourceStart: pt.Src.Start, SourceSize: pt.Src.Size, FS: pt.Src.FileSystem, FSLabel: pt.Src.FSLabel,
			Extended: pt.Extended, Note: pt.Note})
	}
	for _, id := range p.IDs {
		out.Plan.NewIDs = append(out.Plan.NewIDs, newIDJSON{Partition: id.Partition, What: id.What, Old: id.Old, New: id.New, Tool: id.Tool})
	}
	return out
}

// restoreResultJSON is what a restore did, with its plan.
func restoreResultJSON(job *ops.RestoreJob, res ops.RestoreResult) restoreJSON {
	out := newRestoreJSON(job)
	out.BytesWritten, out.Chunks, out.HoleBytes, out.Seconds = res.BytesWritten, res.Chunks, res.HoleBytes, res.Seconds
	out.HolesLeft = job.HolesLeft()
	out.Verified, out.Boot = res.Verified, res.Boot
	out.Changes = append([]string{}, res.Changes...) // the plan's, then what the steps after the data did
	out.Warnings = append(out.Warnings, res.Warnings...)
	out.Result = "ok"
	return out
}

// version prints Lifeboat's version.
func (e *env) version(args []string) error {
	fs := newFlags("version")
	asJSON := fs.Bool("json", false, "JSON output")
	pos, err := parse(fs, args, e.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("version takes no arguments")
	}
	if *asJSON {
		return writeJSON(e.stdout, struct {
			Version string `json:"version"`
		}{version})
	}
	fmt.Fprintln(e.stdout, "lifeboat", version)
	return nil
}
