package imagemount

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/testutil"
	"github.com/lifeboat-dev/lifeboat/pkg/disk"
	"github.com/lifeboat-dev/lifeboat/pkg/engine"
	"github.com/lifeboat-dev/lifeboat/pkg/repo"
)

// capture captures the disk image file src into a new repository and
// opens the image.
func capture(t *testing.T, src string, allSectors bool) *repo.Image {
	t.Helper()
	r, err := repo.Create(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := disk.Open(src, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	plan, err := engine.PlanCapture(d, allSectors)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Capture(context.Background(), d, r, engine.CaptureOptions{Name: "img", Tool: "imagemount test", Plan: plan}); err != nil {
		t.Fatal(err)
	}
	codec, err := repo.NewCodec(repo.LevelDefault, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(codec.Close)
	im, err := r.OpenImage("img", codec)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func TestSmoke(t *testing.T) {
	testutil.Root(t)
	src := testutil.LabelledDisk(t, "src.img")
	dev := strings.TrimSpace(testutil.Run(t, "losetup", "-f", "--show", "-o", fmt.Sprint(1<<20), "--sizelimit", fmt.Sprint(30<<20), src))
	mnt := t.TempDir()
	testutil.Run(t, "mount", dev, mnt)
	os.WriteFile(filepath.Join(mnt, "hello.txt"), []byte("hello"), 0o644)
	testutil.Run(t, "umount", mnt)
	exec.Command("losetup", "-d", dev).Run()
	im := capture(t, src, false)
	dir := filepath.Join(t.TempDir(), "m")
	m, err := Mount(context.Background(), im, dir, Options{StateDir: t.TempDir(), OnError: func(err error) { t.Log(err) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Parts {
		t.Logf("%+v", p)
	}
	out, _ := exec.Command("ls", "-laR", dir).CombinedOutput()
	t.Logf("%s", out)
	if err := m.Unmount(false); err != nil {
		t.Fatal(err)
	}
	if l, _ := mountsUnder(dir); len(l) != 0 {
		t.Errorf("left mounted: %v", l)
	}
	if l := loopsOver(filepath.Join(dir, DiskFile)); len(l) != 0 {
		t.Errorf("loops left: %v", l)
	}
}
