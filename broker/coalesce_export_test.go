package broker

// WaitingDeliveries tells the external tests how many callers wait for the
// next coalesced batch (see coalesce_test.go).
func WaitingDeliveries(b *Broker) int {
	b.coalesce.mu.Lock()
	defer b.coalesce.mu.Unlock()
	return len(b.coalesce.waiting)
}

// MaxInflightBatches is how many coalesced batches may be on their way at
// once.
const MaxInflightBatches = maxInflightBatches

// PartitionOf tells the external tests which of k partitions a facet's
// messages go to.
func PartitionOf(facet string, k int) int { return partitionOf(facet, k) }

// MaxUnroutedWarned is how many topics the broker warns of reaching no
// queue before it stops.
const MaxUnroutedWarned = maxUnroutedWarned
