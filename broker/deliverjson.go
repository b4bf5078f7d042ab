package broker

import (
	"context"
	"encoding/json"
	"fmt"
)

// DeliverJSON delivers v, JSON-encoded, with the given topic and facet, and
// returns the message's ID: the producer's side of worker.JSON[T], whose
// handler decodes the same body into a T. The body is exactly
// json.Marshal(v); unlike Deliver's map, it gains no topic or facet field.
// A value json.Marshal refuses is an error wrapping ErrInvalidMessage, and
// nothing is delivered. opts are Deliver's; a WithReceipt among them is
// filled in too.
func DeliverJSON[T any](ctx context.Context, b *Broker, topic, facet string, v T, opts ...DeliverOption) (string, error) {
	if b == nil {
		return "", fmt.Errorf("%w: nil Broker", ErrInvalidArgument)
	}
	body, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	d := Delivery{Topic: topic, Facet: facet, Body: body}
	applyOptions(&d, opts)
	if d.Receipt == nil && d.optErr == nil {
		d.Receipt = new(Receipt)
	}
	if err := b.DeliverBatch(ctx, []Delivery{d}); err != nil {
		return "", err
	}
	return d.Receipt.ID, nil
}
