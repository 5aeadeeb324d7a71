package unattended

import (
	"strings"
	"testing"
)

func TestParams(t *testing.T) {
	got := Params(`BOOT_IMAGE=/vmlinuz  quiet console=ttyS0,115200 lifeboat.image="my image" lifeboat.after=poweroff lifeboat.after=reboot` + "\n")
	want := map[string]string{"BOOT_IMAGE": "/vmlinuz", "quiet": "", "console": "ttyS0,115200", "lifeboat.image": "my image", "lifeboat.after": "reboot"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		cmdline string
		want    *Plan
		err     string
	}{
		{cmdline: "quiet console=ttyS0", want: nil},
		{cmdline: "lifeboat.media=ABC", want: nil},
		{
			cmdline: "lifeboat.job=capture,verify,restore lifeboat.repo=LABEL=LBREPO lifeboat.image=demo lifeboat.source=serial:SRC-1 lifeboat.target=wwn:0x5000c500a1b2c3d4 lifeboat.after=poweroff",
			want: &Plan{Jobs: []string{"capture", "verify", "restore"}, Repo: RepoSpec{Label: "LBREPO"}, Image: "demo",
				Source: DiskSpec{Serial: "SRC-1"}, Target: DiskSpec{WWN: "0x5000c500a1b2c3d4"}, After: "poweroff"},
		},
		{
			cmdline: "lifeboat.job=restore lifeboat.repo=UUID=1234-ABCD lifeboat.repodir=/images/site lifeboat.image=golden lifeboat.target=/dev/nvme0n1 lifeboat.layout=Scale lifeboat.identity=new",
			want: &Plan{Jobs: []string{"restore"}, Repo: RepoSpec{UUID: "1234-ABCD", Dir: "/images/site"}, Image: "golden",
				Target: DiskSpec{Path: "/dev/nvme0n1"}, Layout: "scale", NewIdentity: true, After: "shell"},
		},
		{
			cmdline: "lifeboat.job=VERIFY lifeboat.repo=/dev/sdb1 lifeboat.image=golden",
			want:    &Plan{Jobs: []string{"verify"}, Repo: RepoSpec{Device: "/dev/sdb1"}, Image: "golden", After: "shell"},
		},
		{
			cmdline: "lifeboat.job=verify lifeboat.repo=/run/repo lifeboat.image=golden",
			want:    &Plan{Jobs: []string{"verify"}, Repo: RepoSpec{Dir: "/run/repo"}, Image: "golden", After: "shell"},
		},
		{cmdline: "lifeboat.job=restore lifeboat.repo=LABEL=R lifeboat.image=x lifeboat.traget=serial:A", err: "unknown parameter lifeboat.traget"},
		{cmdline: "lifeboat.job=format lifeboat.repo=LABEL=R lifeboat.image=x", err: `"format" is not a job`},
		{cmdline: "lifeboat.job=restore,restore lifeboat.repo=LABEL=R lifeboat.image=x lifeboat.target=serial:A", err: "named twice"},
		{cmdline: "lifeboat.job=restore lifeboat.repo=LABEL=R lifeboat.image=x", err: "lifeboat.target is missing"},
		{cmdline: "lifeboat.job=capture lifeboat.repo=LABEL=R lifeboat.image=x", err: "lifeboat.source is missing"},
		{cmdline: "lifeboat.job=capture lifeboat.repo=LABEL=R lifeboat.source=serial:A", err: "lifeboat.image is missing"},
		{cmdline: "lifeboat.job=capture lifeboat.image=x lifeboat.source=serial:A", err: "lifeboat.repo is missing"},
		{cmdline: "lifeboat.job=capture lifeboat.repo=LABEL=R lifeboat.image=../x lifeboat.source=serial:A", err: "lifeboat.image="},
		{cmdline: "lifeboat.job=restore lifeboat.repo=LABEL=R lifeboat.image=x lifeboat.target=sda", err: "serial:SERIAL, wwn:WWN or /dev/NAME"},
		{cmdline: "lifeboat.job=restore lifeboat.repo=LABEL=R lifeboat.image=x lifeboat.target=serial:", err: "serial:SERIAL"},
		{cmdline: "lifeboat.job=restore lifeboat.repo=sdb1 lifeboat.image=x lifeboat.target=serial:A", err: "an absolute directory"},
		{cmdline: "lifeboat.job=restore lifeboat.repo=LABEL=R lifeboat.repodir=../up lifeboat.image=x lifeboat.target=serial:A", err: "lifeboat.repodir"},
		{cmdline: "lifeboat.job=restore lifeboat.repo=/r lifeboat.repodir=/x lifeboat.image=x lifeboat.target=serial:A", err: "lifeboat.repodir goes with"},
		{cmdline: "lifeboat.job=restore lifeboat.repo=LABEL=R lifeboat.image=x lifeboat.target=serial:A lifeboat.after=halt", err: "lifeboat.after"},
		{cmdline: "lifeboat.job=restore lifeboat.repo=LABEL=R lifeboat.image=x lifeboat.target=serial:A lifeboat.layout=bigger", err: "lifeboat.layout=\"bigger\": want keep, grow, scale or fit"},
		{cmdline: "lifeboat.job=capture,restore lifeboat.repo=LABEL=R lifeboat.image=x lifeboat.source=serial:A lifeboat.target=serial:A", err: "the same disk"},
	} {
		p, err := Parse(Params(tc.cmdline))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one with %q", tc.cmdline, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.cmdline, err)
			continue
		}
		if (p == nil) != (tc.want == nil) || p != nil && !samePlan(p, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.cmdline, p, tc.want)
		}
	}
}

func samePlan(a, b *Plan) bool {
	return strings.Join(a.Jobs, ",") == strings.Join(b.Jobs, ",") && a.Repo == b.Repo && a.Image == b.Image &&
		a.Source == b.Source && a.Target == b.Target && a.After == b.After
}

func TestNormalWWN(t *testing.T) {
	if normalWWN("naa.5000C500A1B2C3D4") != normalWWN("0x5000c500a1b2c3d4") {
		t.Error("naa. and 0x forms of one WWN differ")
	}
}

// FuzzParse feeds arbitrary command lines: Parse must not panic, and a
// plan it accepts must be complete.
func FuzzParse(f *testing.F) {
	f.Add(`lifeboat.job=capture,restore lifeboat.repo=LABEL=R lifeboat.image=x lifeboat.source=serial:A lifeboat.target=/dev/sdb`)
	f.Add(`quiet lifeboat.image="a b" lifeboat.job=verify lifeboat.repo=/r`)
	f.Add(`"lifeboat.job=restore`)
	f.Fuzz(func(t *testing.T, cmdline string) {
		p, err := Parse(Params(cmdline))
		if err != nil || p == nil {
			return
		}
		if len(p.Jobs) == 0 || p.Image == "" || p.Repo == (RepoSpec{}) {
			t.Fatalf("incomplete plan accepted: %+v", p)
		}
		if p.Has(JobRestore) && p.Target.IsZero() || p.Has(JobCapture) && p.Source.IsZero() {
			t.Fatalf("plan without its disk accepted: %+v", p)
		}
	})
}
