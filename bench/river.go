package main

import (
	"context"
	"errors"
)

type riverPeer struct{}

func prepareRiver(ctx context.Context, e *env) (func(), error) { return nil, errors.New("todo") }

var riverEnqueueSingle, riverEnqueueBatch, riverE2E, riverMemory, riverFairness, riverPickup measureFunc
