// Command modprobe loads a kernel module by name or alias, with the modules
// it depends on, from the index in /lib/modules/RELEASE. The rescue
// environment's kernel runs it for its own module requests (fs-vfat,
// crypto-crc32c, ...), as `modprobe -q -- NAME`.
//
//	modprobe [-q] [--] NAME [PARAM=VALUE...]
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/lifeboat-dev/lifeboat/pkg/kmod"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "modprobe:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	quiet := false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		a := args[0]
		args = args[1:]
		if a == "--" {
			break
		}
		if a == "-q" || a == "--quiet" {
			quiet = true
			continue
		}
		return fmt.Errorf("unknown option %s (usage: modprobe [-q] [--] NAME [PARAM=VALUE...])", a)
	}
	if len(args) == 0 {
		return fmt.Errorf("usage: modprobe [-q] [--] NAME [PARAM=VALUE...]")
	}
	dir, err := kmod.DefaultDir()
	if err != nil {
		return err
	}
	ix, err := kmod.Open(dir)
	if err != nil {
		return err
	}
	mods := ix.Resolve(args[0])
	if len(mods) == 0 {
		if quiet {
			os.Exit(1)
		}
		return fmt.Errorf("no module or alias %s in %s", args[0], dir)
	}
	params := strings.Join(args[1:], " ")
	var errs []string
	for _, m := range mods {
		if err := ix.Load(m, params); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) == len(mods) {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
