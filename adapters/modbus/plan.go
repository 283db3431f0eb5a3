package modbus

import (
	"cmp"
	"slices"
)

// block is one read request: a register range and the tags it serves.
type block struct {
	register string
	start    uint16
	count    int
	tags     []*Tag
}

// plan merges the tags of one poll group into as few requests as the limits
// allow: per register type, sorted by address, a tag joins the current block
// when the gap to it is at most maxGap and the block stays within the limit
// (maxRegs registers, or 2000 bits for coils and discrete inputs).
func plan(tags []*Tag, maxRegs, maxGap int) []block {
	sorted := slices.Clone(tags)
	slices.SortStableFunc(sorted, func(a, b *Tag) int {
		return cmp.Or(cmp.Compare(a.Register, b.Register), cmp.Compare(a.Address, b.Address))
	})
	var blocks []block
	for _, t := range sorted {
		limit := maxRegs
		if t.Register == Coil || t.Register == DiscreteInput {
			limit = maxBits
		}
		end := int(t.Address) + t.count()
		if n := len(blocks); n > 0 {
			b := &blocks[n-1]
			bEnd := int(b.start) + b.count
			if b.register == t.Register && int(t.Address) <= bEnd+maxGap && max(end, bEnd)-int(b.start) <= limit {
				b.count = max(end, bEnd) - int(b.start)
				b.tags = append(b.tags, t)
				continue
			}
		}
		blocks = append(blocks, block{register: t.Register, start: t.Address, count: t.count(), tags: []*Tag{t}})
	}
	return blocks
}

// slice returns the part of a block's response that belongs to t.
func (b *block) slice(resp []byte, t *Tag) []byte {
	off := 2 * int(t.Address-b.start)
	return resp[off : off+2*t.count()]
}
