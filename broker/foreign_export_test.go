package broker

import "time"

// PinIDs makes the next message ID of b the first one of millisecond at (if
// b has made none at or after it), so that two brokers of fresh namespaces,
// both producer number 1, make the same IDs: as they do when they deliver
// in the same millisecond.
func PinIDs(b *Broker, at time.Time) {
	b.ids.last.Store(uint64(at.UnixMilli()) << idSeqBits)
}
