package initramfs_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeQEMU is a stand-in for qemu-system-x86_64, put first on PATH. It
// appends each command line it is given to $FAKE_LOG. A run with
// "-accel kvm" (the KVM probe of build/accel.sh) behaves as $FAKE_KVM says:
//
//	works              a KVM that runs guests: the real QEMU runs the same
//	                   guest, with TCG in KVM's place
//	emulation-failure  what QEMU prints when KVM cannot run the guest's
//	                   code; QEMU then stays, the guest paused, so this hangs
//	no-module          QEMU's complaint when KVM cannot be opened, and exit 1
//
// Any other run (the boot of make run itself) only records its arguments.
const fakeQEMU = `#!/bin/bash
printf '%s\n' "$*" >> "$FAKE_LOG"
probe=no prev= args=()
for a in "$@"; do
	if [ "$prev" = -accel ] && [ "$a" = kvm ]; then probe=yes a=tcg; fi
	args+=("$a") prev=$a
done
[ $probe = yes ] || exit 0
case $FAKE_KVM in
works) exec "$REAL_QEMU" "${args[@]}" ;;
emulation-failure)
	printf 'KVM internal error. Suberror: 1\nextra data[0]: 0x0000000000000001\nemulation failure\nEAX=00000000 EBX=00000000 ECX=00000000 EDX=00000663\n' >&2
	exec sleep 3600 ;;
no-module)
	printf 'Could not access KVM kernel module: No such file or directory\nqemu-system-x86_64: -accel kvm: failed to initialize kvm: No such file or directory\n' >&2
	exit 1 ;;
*) echo "fake qemu: FAKE_KVM=$FAKE_KVM" >&2; exit 3 ;;
esac
`

// buildScript is the path of a script in build/.
func buildScript(t *testing.T, name string) string {
	t.Helper()
	top, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(top, "build", name)
}

// TestRunChoosesAccelerator runs make run's script (build/run.sh, booting
// a disk alone with RUN_TARGET) with a stand-in QEMU whose KVM works,
// fails with "emulation failure" or cannot be opened, and checks which
// accelerator the boot was given, that a fallback to emulation or a forced
// KVM says why in one line on stderr, that RUN_ACCEL=tcg does not probe
// and that a RUN_ACCEL of neither kvm nor tcg is refused before QEMU runs.
func TestRunChoosesAccelerator(t *testing.T) {
	dir := bootDir(t)
	needVM(t)
	realQEMU, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "qemu-system-x86_64"), []byte(fakeQEMU), 0o755); err != nil {
		t.Fatal(err)
	}
	target := blankDisk(t, "target.img", 1<<20)
	for _, tc := range []struct {
		name, kvm, accel string
		// wait is RUN_ACCEL_WAIT: a working KVM here is the real QEMU
		// emulating, slow; a hanging one need not be waited for long.
		wait string
		// want is the accelerator the boot gets ("" when run.sh must
		// stop before booting), note a text the one line on stderr
		// must hold ("" for no stderr at all).
		want, note string
		probe      bool
	}{
		{name: "works", kvm: "works", wait: "600", want: "kvm", probe: true},
		{name: "emulation failure", kvm: "emulation-failure", wait: "3", want: "tcg", probe: true,
			note: `run: KVM does not work here (QEMU stopped with "emulation failure"); using emulation (TCG)`},
		{name: "no module", kvm: "no-module", wait: "3", want: "tcg", probe: true,
			note: "run: KVM does not work here (-accel kvm: failed to initialize kvm: No such file or directory); using emulation (TCG)"},
		{name: "forced", kvm: "emulation-failure", accel: "kvm", wait: "3", want: "kvm", probe: true,
			note: `run: RUN_ACCEL=kvm: using KVM, although it does not work here (QEMU stopped with "emulation failure")`},
		{name: "emulation chosen", kvm: "works", accel: "tcg", wait: "600", want: "tcg"},
		{name: "bad choice", kvm: "works", accel: "kvn", wait: "600",
			note: "run: RUN_ACCEL=kvn: want kvm or tcg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "qemu.log")
			cmd := exec.Command(buildScript(t, "run.sh"), dir, filepath.Join(t.TempDir(), "media"))
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "REAL_QEMU="+realQEMU,
				"FAKE_KVM="+tc.kvm, "FAKE_LOG="+log, "RUN_ACCEL="+tc.accel, "RUN_ACCEL_WAIT="+tc.wait,
				"RUN_DIR="+t.TempDir(), "RUN_TARGET="+target)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			b, _ := os.ReadFile(log)
			var probes, boots []string
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				switch {
				case strings.Contains(l, "-accel kvm"):
					probes = append(probes, l)
				case l != "":
					boots = append(boots, l)
				}
			}
			t.Logf("stdout:\n%sstderr:\n%sQEMU runs:\n%s", stdout.String(), stderr.String(), b)

			if tc.want == "" {
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 2 {
					t.Errorf("run.sh: %v, want exit status 2", err)
				}
				if len(b) != 0 {
					t.Errorf("QEMU ran")
				}
			} else {
				if err != nil {
					t.Fatalf("run.sh: %v", err)
				}
				if len(boots) != 1 || !strings.Contains(boots[0], "-machine accel="+tc.want+" ") {
					t.Errorf("QEMU booted with %q, want -machine accel=%s", boots, tc.want)
				}
				if !strings.Contains(stdout.String(), "in QEMU ("+tc.want+")") {
					t.Errorf("run.sh does not say it boots with %s", tc.want)
				}
			}
			if got := len(probes) > 0; got != tc.probe {
				t.Errorf("KVM probed: %v, want %v", got, tc.probe)
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			switch {
			case tc.note == "" && stderr.Len() != 0:
				t.Errorf("stderr is not empty")
			case tc.note != "" && (len(lines) != 1 || !strings.Contains(lines[0], tc.note)):
				t.Errorf("stderr is not one line holding %q", tc.note)
			}
		})
	}
}

// TestAccelProbeOnThisHost runs the real KVM probe (build/accel.sh, with
// the rescue environment's kernel) and then boots the rescue environment
// under KVM, as make run would: the probe must have chosen KVM exactly when
// the text UI comes up under KVM (on a host whose /dev/kvm opens but cannot
// run the kernel, it must choose emulation, saying so in one line).
func TestAccelProbeOnThisHost(t *testing.T) {
	dir := bootDir(t)
	needVM(t)
	cmd := exec.Command(buildScript(t, "accel.sh"), filepath.Join(dir, "vmlinuz"))
	cmd.Env = append(os.Environ(), "RUN_ACCEL=", "RUN_ACCEL_WAIT=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("accel.sh: %v\n%s", err, stderr.String())
	}
	choice := strings.TrimSpace(string(out))
	t.Logf("accel.sh chose %s\n%s", choice, stderr.String())

	// The UI under KVM takes seconds where KVM works (about 20 s even under
	// emulation, on a busy machine up to 30 s), so 45 s is more than
	// enough; the wait ends early when QEMU exits (no KVM at all).
	const limit = 45 * time.Second
	v := startVM(t, "-accel", "kvm", "-m", "1024", "-smp", "2",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initramfs.cpio.lz4"),
		"-append", "console=ttyS0,115200 quiet")
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	up := false
	for !up && ctx.Err() == nil {
		if _, err := os.Stat(v.exited); err == nil {
			break
		}
		s := v.screen()
		up = strings.Contains(s, "c capture") && strings.Contains(s, "p power off")
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("the rescue environment under KVM came up: %v; serial console:\n%s", up, v.history())
	switch {
	case up && choice != "kvm":
		t.Errorf("accel.sh chose %q, but the rescue environment runs under KVM", choice)
	case !up && choice != "tcg":
		t.Errorf("accel.sh chose %q, but the rescue environment did not come up under KVM within %s", choice, limit)
	case !up && strings.Count(stderr.String(), "\n") != 1:
		t.Errorf("accel.sh fell back to emulation without a one-line note: %q", stderr.String())
	}
}
