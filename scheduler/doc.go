// Package scheduler delivers messages on a schedule: every duration, or by a
// cron expression in a time zone, through the broker's DeliverBatch, so that
// they reach every queue whose pattern matches their topic.
//
// Schedules are registered in code, in every process that runs a
// Scheduler; any number of processes may run the same schedules. Each run
// of a schedule is delivered exactly once across them:
//
//   - every process computes the same run times from the schedule (runs of
//     Every are aligned to the Unix epoch, cron runs to the wall clock of
//     the schedule's time zone);
//   - Redis keeps, per schedule, the last run delivered (a high-water mark)
//     and a short lock; a process claims a run with one script that checks
//     the mark and takes the lock atomically, delivers, then raises the mark
//     and drops the lock;
//   - each delivery carries the idempotency key "schedule:<name>:<run>",
//     a second guard should a lock expire while its holder is still
//     delivering.
//
// A run missed while no scheduler was running (or whose delivery failed) is
// found on the next check, because the mark is behind it; Schedule.CatchUp
// decides what is delivered then: the latest missed run (the default),
// nothing, or every missed run up to a cap.
//
// Keys, under the broker's namespace, one hash tag per schedule so that each
// script touches one Redis Cluster slot:
//
//	<ns>:{~schedule:<name>}:last   string: the mark (Unix ms): no run at or before it is delivered; set to
//	                               the time the schedule was added, then raised by each run delivered or skipped
//	<ns>:{~schedule:<name>}:ran    string: the last run delivered or skipped (Unix ms), 0 before the first;
//	                               what List reports as LastRun (absent for schedules recorded before it existed)
//	<ns>:{~schedule:<name>}:lock   string: "<run>|<owner>" while a process delivers a run, with an expiry
//	<ns>:{~schedules}:all          hash: name -> the schedule's description (JSON), for List
package scheduler
