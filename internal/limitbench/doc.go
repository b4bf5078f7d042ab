// Package limitbench measures how exactly the limit layers of issue 16 hold
// under several worker processes: a queue-wide rate limit, every facet's
// rate limit and a global cap on the messages leased at once, together on
// one queue, for a minute (make bench-limits), with one worker process
// SIGKILLed and restarted along the way.
//
// Run starts a private redis-server, registers the queue, sets the limits,
// delivers a backlog that the run never drains over many facets and one
// flood facet, and starts the worker processes: the program itself run
// again (Config.WorkerCommand) with the environment variable WorkerEnv set,
// which makes it call WorkerMain instead. Each handler records, in Redis and
// in one script call, when its message was pulled on Redis's clock
// (Message.LeaseDeadline less the lease), its facet and attempt, and how
// many handlers were running at that moment over every process. The checks
// read those records afterwards: no window of the rate limit's period holds
// more pulls than the limit allows (the queue's and each facet's), no more
// handlers ran at once than the cap (counting the killed process's leases
// until they end), the small facets were pulled equally often, and every
// pull is on record.
//
// The process killed is first made to hold all its handlers (each blocks
// once its work is done), so that it dies holding as many leases as it has
// handlers and no pull it received is left unrecorded: the records are
// complete, and the checks on them exact.
package limitbench
