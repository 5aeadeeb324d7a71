package efivars

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf16"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dev/lifeboat/pkg/kmod"
	"github.com/lifeboat-dev/lifeboat/pkg/ptable"
)

// GlobalGUID is the vendor GUID of the boot variables.
const GlobalGUID = "8be4df61-93ca-11d2-aa0d-00e098032b8c"

// DefaultDir is where efivarfs is mounted.
const DefaultDir = "/sys/firmware/efi/efivars"

// Attributes of a load option.
const (
	LoadOptionActive = 0x1
)

// fsImmutable is the inode flag FS_IMMUTABLE_FL (linux/fs.h).
const fsImmutable = 0x10

// Attributes of a variable: the boot variables are non-volatile and seen
// by boot services and the running system.
const bootVarAttrs = 0x7

// LoadOption is an EFI_LOAD_OPTION: a boot entry.
type LoadOption struct {
	Attributes  uint32
	Description string
	FilePath    []byte // the device path list
	Optional    []byte
}

// ParseLoadOption reads a load option.
func ParseLoadOption(b []byte) (LoadOption, error) {
	var o LoadOption
	if len(b) < 6 {
		return o, errors.New("load option shorter than its header")
	}
	le := binary.LittleEndian
	o.Attributes = le.Uint32(b[0:4])
	pathLen := int(le.Uint16(b[4:6]))
	rest := b[6:]
	var desc []uint16
	for {
		if len(rest) < 2 {
			return o, errors.New("load option description is not terminated")
		}
		c := le.Uint16(rest)
		rest = rest[2:]
		if c == 0 {
			break
		}
		desc = append(desc, c)
	}
	o.Description = string(utf16.Decode(desc))
	if pathLen > len(rest) {
		return o, fmt.Errorf("load option device path of %d bytes, %d left", pathLen, len(rest))
	}
	o.FilePath = append([]byte(nil), rest[:pathLen]...)
	o.Optional = append([]byte(nil), rest[pathLen:]...)
	return o, nil
}

// Marshal encodes the load option.
func (o LoadOption) Marshal() []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	binary.Write(&b, le, o.Attributes)
	binary.Write(&b, le, uint16(len(o.FilePath)))
	for _, c := range utf16.Encode([]rune(o.Description)) {
		binary.Write(&b, le, c)
	}
	binary.Write(&b, le, uint16(0))
	b.Write(o.FilePath)
	b.Write(o.Optional)
	return b.Bytes()
}

// HardDrive is a device path's hard-drive media node: the partition a
// loader is on.
type HardDrive struct {
	Partition   uint32
	Start, Size uint64 // in the disk's logical sectors
	// GUID is the GPT partition's GUID (canonical form); for an MBR disk,
	// Signature is the disk signature (hex, as ptable writes DiskID).
	GUID      string
	Signature string
}

// Path is what a boot entry's device path says: the partition (nil when
// the path names none, as for a network or firmware entry) and the file.
type Path struct {
	Disk *HardDrive
	File string // \EFI\debian\shimx64.efi
}

// ParsePath reads the first device path of a list.
func ParsePath(b []byte) (Path, error) {
	var p Path
	le := binary.LittleEndian
	for len(b) >= 4 {
		typ, sub, n := b[0], b[1], int(le.Uint16(b[2:4]))
		if n < 4 || n > len(b) {
			return p, fmt.Errorf("device path node of %d bytes, %d left", n, len(b))
		}
		node := b[4:n]
		switch {
		case typ == 0x7f: // end of this path
			return p, nil
		case typ == 4 && sub == 1: // hard drive
			if len(node) < 38 {
				return p, fmt.Errorf("hard-drive node of %d bytes", n)
			}
			hd := &HardDrive{Partition: le.Uint32(node[0:4]), Start: le.Uint64(node[4:12]), Size: le.Uint64(node[12:20])}
			sig := node[20:36]
			switch node[37] { // signature type
			case 2:
				hd.GUID = ptable.GUIDString(sig)
			case 1:
				hd.Signature = fmt.Sprintf("%08x", le.Uint32(sig[0:4]))
			}
			p.Disk = hd
		case typ == 4 && sub == 4: // file path
			if len(node)%2 != 0 {
				return p, errors.New("file path node of an odd length")
			}
			u := make([]uint16, 0, len(node)/2)
			for i := 0; i+1 < len(node); i += 2 {
				c := le.Uint16(node[i:])
				if c == 0 {
					break
				}
				u = append(u, c)
			}
			p.File += string(utf16.Decode(u))
		}
		b = b[n:]
	}
	return p, errors.New("device path without its end node")
}

// ShortPath is the device path of a loader on a partition, as firmware
// and efibootmgr write it: hard drive, file, end.
func ShortPath(hd HardDrive, file string) ([]byte, error) {
	var b bytes.Buffer
	le := binary.LittleEndian
	node := make([]byte, 42)
	node[0], node[1] = 4, 1
	le.PutUint16(node[2:4], 42)
	le.PutUint32(node[4:8], hd.Partition)
	le.PutUint64(node[8:16], hd.Start)
	le.PutUint64(node[16:24], hd.Size)
	switch {
	case hd.GUID != "":
		g, err := ptable.GUIDBytes(hd.GUID)
		if err != nil {
			return nil, err
		}
		copy(node[24:40], g[:])
		node[40], node[41] = 2, 2 // GPT, GUID signature
	case hd.Signature != "":
		var sig uint32
		if _, err := fmt.Sscanf(strings.TrimPrefix(hd.Signature, "0x"), "%x", &sig); err != nil {
			return nil, fmt.Errorf("MBR signature %q: %w", hd.Signature, err)
		}
		le.PutUint32(node[24:28], sig)
		node[40], node[41] = 1, 1 // MBR, 32-bit signature
	default:
		return nil, errors.New("a hard-drive node needs a partition GUID or a disk signature")
	}
	b.Write(node)
	var name []byte
	for _, c := range utf16.Encode([]rune(file + "\x00")) {
		name = le.AppendUint16(name, c)
	}
	fp := make([]byte, 4, 4+len(name))
	fp[0], fp[1] = 4, 4
	le.PutUint16(fp[2:4], uint16(4+len(name)))
	b.Write(append(fp, name...))
	b.Write([]byte{0x7f, 0xff, 4, 0})
	return b.Bytes(), nil
}

// Entry is a Boot#### variable.
type Entry struct {
	Number uint16
	Option LoadOption
}

// Name is the variable's name, Boot0003.
func (e Entry) Name() string { return fmt.Sprintf("Boot%04X", e.Number) }

// Store is the firmware's variables, through efivarfs.
type Store struct{ Dir string }

// Open finds efivarfs, and mounts it on DefaultDir when mount is set,
// the system booted through UEFI and it is not mounted yet. It fails on a
// system that did not boot through UEFI.
func Open(mount bool) (*Store, error) {
	if _, err := os.Stat("/sys/firmware/efi"); err != nil {
		return nil, errors.New("this system did not start through UEFI firmware (no /sys/firmware/efi): its boot entries cannot be read or written")
	}
	s := &Store{Dir: DefaultDir}
	if ents, err := os.ReadDir(DefaultDir); err == nil && len(ents) > 0 {
		return s, nil
	}
	if !mount {
		return nil, fmt.Errorf("efivarfs is not mounted on %s", DefaultDir)
	}
	mnt := func() error {
		return unix.Mount("efivarfs", DefaultDir, "efivarfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	}
	err := mnt()
	if errors.Is(err, unix.ENODEV) {
		// efivarfs is a module not loaded yet.
		if dir, derr := kmod.DefaultDir(); derr == nil {
			if ix, ierr := kmod.Open(dir); ierr == nil && ix.Load("efivarfs", "") == nil {
				err = mnt()
			}
		}
	}
	if err != nil && !errors.Is(err, unix.EBUSY) {
		return nil, fmt.Errorf("mount efivarfs on %s: %w", DefaultDir, err)
	}
	return s, nil
}

func (s *Store) path(name string) string {
	return filepath.Join(s.Dir, name+"-"+GlobalGUID)
}

// Get reads a global variable's data.
func (s *Store) Get(name string) ([]byte, error) {
	b, err := os.ReadFile(s.path(name))
	if err != nil {
		return nil, err
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("UEFI variable %s: %d bytes", name, len(b))
	}
	return b[4:], nil
}

// Set writes a global boot variable (non-volatile), in one write.
func (s *Store) Set(name string, data []byte) error {
	p := s.path(name)
	if err := setImmutable(p, false); err != nil {
		return fmt.Errorf("UEFI variable %s: %w", name, err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("UEFI variable %s: %w", name, err)
	}
	buf := binary.LittleEndian.AppendUint32(nil, bootVarAttrs)
	_, werr := f.Write(append(buf, data...))
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("write UEFI variable %s: %w", name, werr)
	}
	if cerr != nil {
		return fmt.Errorf("write UEFI variable %s: %w", name, cerr)
	}
	return nil
}

// setImmutable sets or clears a file's immutable flag; a file that does
// not exist, or a file system without the flag, is left alone.
func setImmutable(p string, on bool) error {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return nil
	}
	want := flags &^ fsImmutable
	if on {
		want |= fsImmutable
	}
	if want == flags {
		return nil
	}
	v := int(want)
	return unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, v)
}

// Boot lists the Boot#### entries and BootOrder.
func (s *Store) Boot() ([]Entry, []uint16, error) {
	ents, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, nil, err
	}
	var out []Entry
	for _, e := range ents {
		var n uint16
		name := e.Name()
		if len(name) != len("Boot0000-")+len(GlobalGUID) || !strings.HasPrefix(name, "Boot") || !strings.EqualFold(name[9:], GlobalGUID) {
			continue
		}
		if _, err := fmt.Sscanf(name[4:8], "%04X", &n); err != nil {
			continue
		}
		b, err := s.Get(name[:8])
		if err != nil {
			continue
		}
		o, err := ParseLoadOption(b)
		if err != nil {
			continue
		}
		out = append(out, Entry{Number: n, Option: o})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Number < out[b].Number })
	var order []uint16
	b, err := s.Get("BootOrder")
	switch {
	case err == nil:
		for i := 0; i+1 < len(b); i += 2 {
			order = append(order, binary.LittleEndian.Uint16(b[i:]))
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, nil, fmt.Errorf("read BootOrder: %w", err)
	}
	return out, order, nil
}

// taken lists the Boot#### numbers in use, readable or not.
func (s *Store) taken() (map[uint16]bool, error) {
	ents, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, err
	}
	used := map[uint16]bool{}
	for _, e := range ents {
		var n uint16
		name := e.Name()
		if strings.HasPrefix(name, "Boot") && len(name) > 9 && name[8] == '-' {
			if _, err := fmt.Sscanf(name[4:8], "%04X", &n); err == nil {
				used[n] = true
			}
		}
	}
	return used, nil
}

// SetBootOrder writes BootOrder.
func (s *Store) SetBootOrder(order []uint16) error {
	var b []byte
	for _, n := range order {
		b = binary.LittleEndian.AppendUint16(b, n)
	}
	return s.Set("BootOrder", b)
}

// Add writes a new Boot#### entry with the first free number and puts it
// first in BootOrder; it returns the number.
func (s *Store) Add(o LoadOption) (uint16, error) {
	_, order, err := s.Boot()
	if err != nil {
		return 0, err
	}
	used, err := s.taken()
	if err != nil {
		return 0, err
	}
	n := uint16(0)
	for used[n] {
		if n == 0xFFFF {
			return 0, errors.New("every Boot#### number is taken")
		}
		n++
	}
	if err := s.Set(fmt.Sprintf("Boot%04X", n), o.Marshal()); err != nil {
		return 0, err
	}
	return n, s.First(n, order)
}

// First puts entry n first in BootOrder (order is BootOrder as read).
func (s *Store) First(n uint16, order []uint16) error {
	out := []uint16{n}
	for _, x := range order {
		if x != n {
			out = append(out, x)
		}
	}
	return s.SetBootOrder(out)
}
