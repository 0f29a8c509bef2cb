//! Networking. Today: AF_UNIX socket pairs (socketpair(2)), stream and
//! datagram, the kind programs use to talk to their own children. Named
//! unix sockets and inet are not implemented (ENOSYS/EAFNOSUPPORT).

pub mod unix;
