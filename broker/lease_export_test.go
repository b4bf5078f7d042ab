package broker

// LeaseMember is the lease m holds: its member of the queue's leased zset.
func LeaseMember(m *Message) string { return m.lease }
