package unattended

import (
	"fmt"
	"sort"
	"strings"

	"github.com/lifeboat-dev/lifeboat/pkg/image"
	"github.com/lifeboat-dev/lifeboat/pkg/layout"
)

// Prefix starts every Lifeboat parameter on the kernel command line.
const Prefix = "lifeboat."

// Jobs, in the order they make sense in.
const (
	JobCapture = "capture"
	JobVerify  = "verify"
	JobRestore = "restore"
)

// Actions after the jobs.
const (
	AfterShell    = "shell"
	AfterPowerOff = "poweroff"
	AfterReboot   = "reboot"
)

// known lists every lifeboat.* parameter, with the ones other parts of the
// rescue environment read (the boot media's identity, set by its boot menu;
// a note that it came from the network).
var known = map[string]bool{
	"job": true, "repo": true, "repodir": true, "image": true, "source": true,
	"target": true, "after": true, "media": true, "netboot": true, "layout": true, "identity": true,
}

// Params splits a kernel command line into its parameters, as the kernel
// does: words separated by spaces, a value in double quotes may hold
// spaces, a parameter without "=" has the value "". Later ones win.
func Params(cmdline string) map[string]string {
	out := map[string]string{}
	var word strings.Builder
	inQuote := false
	flush := func() {
		w := word.String()
		word.Reset()
		if w == "" {
			return
		}
		k, v, _ := strings.Cut(w, "=")
		out[k] = v
	}
	for _, r := range cmdline {
		switch {
		case r == '"':
			inQuote = !inQuote
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			flush()
		default:
			word.WriteRune(r)
		}
	}
	flush()
	return out
}

// DiskSpec names a disk: by serial, by WWN, or by device path.
type DiskSpec struct {
	Serial, WWN, Path string
}

func (d DiskSpec) String() string {
	switch {
	case d.Serial != "":
		return "serial:" + d.Serial
	case d.WWN != "":
		return "wwn:" + d.WWN
	}
	return d.Path
}

// IsZero reports whether no disk is named.
func (d DiskSpec) IsZero() bool { return d == DiskSpec{} }

func parseDisk(key, v string) (DiskSpec, error) {
	kind, val, ok := strings.Cut(v, ":")
	switch {
	case ok && strings.EqualFold(kind, "serial") && val != "":
		return DiskSpec{Serial: val}, nil
	case ok && strings.EqualFold(kind, "wwn") && val != "":
		return DiskSpec{WWN: val}, nil
	case strings.HasPrefix(v, "/dev/") && len(v) > len("/dev/"):
		return DiskSpec{Path: v}, nil
	}
	return DiskSpec{}, fmt.Errorf("%s%s=%q: name the disk as serial:SERIAL, wwn:WWN or /dev/NAME", Prefix, key, v)
}

// RepoSpec says where the repository is: a file system by label or UUID,
// or a device, with the repository's directory inside it; or a directory.
type RepoSpec struct {
	Label, UUID, Device string
	// Dir is the repository's directory inside the file system (Label,
	// UUID or Device set), or the repository's path (none set).
	Dir string
}

func (r RepoSpec) String() string {
	var s string
	switch {
	case r.Label != "":
		s = "LABEL=" + r.Label
	case r.UUID != "":
		s = "UUID=" + r.UUID
	case r.Device != "":
		s = r.Device
	default:
		return r.Dir
	}
	if r.Dir != "" {
		s += " (" + r.Dir + ")"
	}
	return s
}

// Plan is what the command line asks for.
type Plan struct {
	Jobs   []string
	Repo   RepoSpec
	Image  string
	Source DiskSpec // for capture
	Target DiskSpec // for restore
	// Layout is how the restore lays partitions out on the target ("":
	// the first of keep, grow, scale, fit that works).
	Layout layout.Kind
	// NewIdentity: lifeboat.identity=new, for one image deployed to many
	// machines.
	NewIdentity bool
	After       string
}

// Has reports whether the plan runs job.
func (p *Plan) Has(job string) bool {
	for _, j := range p.Jobs {
		if j == job {
			return true
		}
	}
	return false
}

// Parse reads the plan from the parameters of a kernel command line (see
// Params). It returns nil and no error when no lifeboat.job is given, and
// an error naming the parameter for anything missing, unknown or
// malformed: an unattended job never guesses.
func Parse(params map[string]string) (*Plan, error) {
	var unknown []string
	for k := range params {
		if name, ok := strings.CutPrefix(k, Prefix); ok && !known[name] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("unknown parameter %s on the kernel command line (known: lifeboat.job, .repo, .repodir, .image, .source, .target, .layout, .identity, .after)", strings.Join(unknown, ", "))
	}
	jobs, ok := params[Prefix+"job"]
	if !ok {
		return nil, nil
	}
	p := &Plan{After: AfterShell}
	seen := map[string]bool{}
	for _, j := range strings.Split(jobs, ",") {
		j = strings.ToLower(strings.TrimSpace(j))
		switch j {
		case JobCapture, JobVerify, JobRestore:
		default:
			return nil, fmt.Errorf("%sjob=%q: %q is not a job (capture, verify, restore)", Prefix, jobs, j)
		}
		if seen[j] {
			return nil, fmt.Errorf("%sjob=%q: %s is named twice", Prefix, jobs, j)
		}
		seen[j] = true
		p.Jobs = append(p.Jobs, j)
	}
	if v, ok := params[Prefix+"after"]; ok {
		switch strings.ToLower(v) {
		case AfterShell, AfterPowerOff, AfterReboot:
			p.After = strings.ToLower(v)
		default:
			return nil, fmt.Errorf("%safter=%q: want poweroff, reboot or shell", Prefix, v)
		}
	}
	p.Image = params[Prefix+"image"]
	if p.Image == "" {
		return nil, fmt.Errorf("%simage is missing: name the image to %s", Prefix, strings.Join(p.Jobs, ", "))
	}
	if err := image.ValidName(p.Image); err != nil {
		return nil, fmt.Errorf("%simage=%q: %w", Prefix, p.Image, err)
	}
	repo := params[Prefix+"repo"]
	dir := params[Prefix+"repodir"]
	switch {
	case repo == "":
		return nil, fmt.Errorf("%srepo is missing: give LABEL=name, UUID=uuid, a device or a directory", Prefix)
	case strings.HasPrefix(repo, "LABEL=") && len(repo) > len("LABEL="):
		p.Repo = RepoSpec{Label: repo[len("LABEL="):], Dir: dir}
	case strings.HasPrefix(repo, "UUID=") && len(repo) > len("UUID="):
		p.Repo = RepoSpec{UUID: repo[len("UUID="):], Dir: dir}
	case strings.HasPrefix(repo, "/dev/") && len(repo) > len("/dev/"):
		p.Repo = RepoSpec{Device: repo, Dir: dir}
	case strings.HasPrefix(repo, "/"):
		if dir != "" {
			return nil, fmt.Errorf("%srepodir goes with a file system (LABEL=, UUID= or a device), not with the directory %s", Prefix, repo)
		}
		p.Repo = RepoSpec{Dir: repo}
	default:
		return nil, fmt.Errorf("%srepo=%q: give LABEL=name, UUID=uuid, a device (/dev/sdb1) or an absolute directory", Prefix, repo)
	}
	if dir != "" && (!strings.HasPrefix(dir, "/") || strings.Contains("/"+dir+"/", "/../")) {
		return nil, fmt.Errorf("%srepodir=%q: want an absolute path inside the file system, without ..", Prefix, dir)
	}
	var err error
	if v, ok := params[Prefix+"source"]; ok {
		if p.Source, err = parseDisk("source", v); err != nil {
			return nil, err
		}
	}
	if v, ok := params[Prefix+"target"]; ok {
		if p.Target, err = parseDisk("target", v); err != nil {
			return nil, err
		}
	}
	if v, ok := params[Prefix+"layout"]; ok {
		if p.Layout, err = layout.ParseKind(strings.ToLower(v)); err != nil {
			return nil, fmt.Errorf("%slayout=%q: want keep, grow, scale or fit", Prefix, v)
		}
	}
	if v, ok := params[Prefix+"identity"]; ok {
		switch strings.ToLower(v) {
		case "new":
			p.NewIdentity = true
		case "keep":
		default:
			return nil, fmt.Errorf("%sidentity=%q: want new or keep", Prefix, v)
		}
	}
	if p.Has(JobCapture) && p.Source.IsZero() {
		return nil, fmt.Errorf("%ssource is missing: name the disk to capture (serial:SERIAL, wwn:WWN or /dev/NAME)", Prefix)
	}
	if p.Has(JobRestore) && p.Target.IsZero() {
		return nil, fmt.Errorf("%starget is missing: name the disk to restore onto (serial:SERIAL, wwn:WWN or /dev/NAME)", Prefix)
	}
	if !p.Source.IsZero() && p.Source == p.Target {
		return nil, fmt.Errorf("%ssource and %starget name the same disk, %s", Prefix, Prefix, p.Source)
	}
	return p, nil
}
