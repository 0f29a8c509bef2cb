//! Networking. AF_UNIX sockets, paired (socketpair) and named in the
//! guest's own namespaces (bind, listen, connect, accept), with passing
//! of files and credentials. Inet sockets are not provided: the guest
//! must not reach the host's network, so socket(AF_INET) fails with
//! EAFNOSUPPORT as on a kernel built without it.

pub mod unix;
