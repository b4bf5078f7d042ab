package broker

import "context"

// PauseQueue stops queue from leasing messages: Pull returns nothing while
// deliveries still queue up. Leases already taken run their course.
func (b *Broker) PauseQueue(ctx context.Context, queue string) error {
	return b.setPaused(ctx, "pause queue", queue, "", true)
}

// ResumeQueue lets a paused queue lease messages again and wakes its
// workers.
func (b *Broker) ResumeQueue(ctx context.Context, queue string) error {
	return b.setPaused(ctx, "resume queue", queue, "", false)
}

// PauseFacet stops facet from getting turns in queue's rotation, as
// priority 0 does, but keeps its priority for ResumeFacet; Stats and Facet
// report it as paused. Pausing takes the facet's turns out of the ring at
// once, which costs O(facets in the ring).
func (b *Broker) PauseFacet(ctx context.Context, queue, facet string) error {
	if err := validName(ErrInvalidFacet, "facet", facet); err != nil {
		return err
	}
	return b.setPaused(ctx, "pause facet", queue, facet, true)
}

// ResumeFacet gives a paused facet its turns back, at its priority.
func (b *Broker) ResumeFacet(ctx context.Context, queue, facet string) error {
	if err := validName(ErrInvalidFacet, "facet", facet); err != nil {
		return err
	}
	return b.setPaused(ctx, "resume facet", queue, facet, false)
}

func (b *Broker) setPaused(ctx context.Context, op, queue, facet string, pause bool) error {
	if err := checkQueue(ctx, queue); err != nil {
		return err
	}
	flag := "0"
	if pause {
		flag = "1"
	}
	return b.queueSetting(ctx, op, queue, scriptPause, facet, flag)
}
