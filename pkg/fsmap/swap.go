package fsmap

// readSwap maps a Linux swap area: its header page only (the signature at
// the end of the page gives the page size). A swap area holding a
// hibernation image is unclean: the whole machine is suspended in it.
func readSwap(d *dev) (*Map, error) {
	for _, page := range []int64{4096, 8192, 16384, 32768, 65536} {
		if page > d.size {
			break
		}
		sig, err := d.read(page-10, 10, "swap signature")
		if err != nil {
			return nil, err
		}
		switch string(sig) {
		case "SWAPSPACE2", "SWAP-SPACE":
			b := &builder{size: d.size}
			b.add(0, page)
			return b.done("swap header", page), nil
		case "S1SUSPEND\x00", "S2SUSPEND\x00", "ULSUSPEND\x00", "LINHIB0001":
			b := &builder{size: d.size}
			b.add(0, d.size)
			m := b.done("swap header", page)
			m.Unclean = "a hibernated Linux system is saved in it"
			return m, nil
		}
	}
	return nil, corrupt("no swap signature")
}
