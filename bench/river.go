package main

import "context"

type riverPeer struct{}

func prepareRiver(ctx context.Context, e *env) (func(), error) { return nil, errTODO }

var riverEnqueueSingle, riverEnqueueBatch, riverE2E, riverMemory, riverFairness, riverIdle, riverPickup measureFunc
