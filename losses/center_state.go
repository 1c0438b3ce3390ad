package losses

import (
	"encoding/binary"
	"fmt"
	"math"
)

// centerStateMagic tags CenterTrainer state so that foreign bytes are
// rejected rather than misread.
const centerStateMagic = "embfit-centers-v1"

// MarshalBinary encodes the trainer's non-weight state, the class centers
// (NumClasses×Dim float64, bit-exact), so a checkpointed run resumes with
// the same centers. The classifier weights are not included: they are
// Weights() and belong to the optimizer's checkpoint.
func (c *CenterTrainer) MarshalBinary() ([]byte, error) {
	buf := make([]byte, 0, len(centerStateMagic)+16+8*len(c.centers))
	buf = append(buf, centerStateMagic...)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(c.NumClasses))
	buf = binary.LittleEndian.AppendUint64(buf, uint64(c.Dim))
	for _, v := range c.centers {
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
	}
	return buf, nil
}

// UnmarshalBinary restores centers written by MarshalBinary. The shape
// must match the trainer's NumClasses and Dim.
func (c *CenterTrainer) UnmarshalBinary(data []byte) error {
	n := len(centerStateMagic)
	if len(data) < n+16 || string(data[:n]) != centerStateMagic {
		return fmt.Errorf("center: state is not center-loss state")
	}
	classes := binary.LittleEndian.Uint64(data[n:])
	dim := binary.LittleEndian.Uint64(data[n+8:])
	if classes != uint64(c.NumClasses) || dim != uint64(c.Dim) {
		return fmt.Errorf("center: state is for %d classes × %d dims, trainer has %d × %d", classes, dim, c.NumClasses, c.Dim)
	}
	body := data[n+16:]
	if len(body) != 8*len(c.centers) {
		return fmt.Errorf("center: state holds %d bytes of centers, want %d", len(body), 8*len(c.centers))
	}
	for i := range c.centers {
		c.centers[i] = math.Float64frombits(binary.LittleEndian.Uint64(body[8*i:]))
	}
	return nil
}
